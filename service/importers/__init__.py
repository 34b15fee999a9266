"""Read time-tracking exports (Toggl, Clockify, Harvest, plain CSV) into entries to upsert."""

from __future__ import annotations

import re
import uuid
from collections import Counter
from collections.abc import Iterator
from functools import partial
from zoneinfo import ZoneInfo

from service import metrics
from service import upserts
from service.errors import APIError
from service.importers import clockify_csv
from service.importers import generic_csv
from service.importers import harvest_csv
from service.importers import toggl_csv
from service.importers.base import CsvFormat
from service.importers.base import Header
from service.importers.base import ImportResult
from service.importers.base import Layout
from service.importers.base import RowError
from service.importers.base import RowInvalid
from service.importers.base import Span
from service.importers.base import decode
from service.importers.base import entry_key
from service.importers.base import records
from service.models import MAX_DESCRIPTION
from service.models import MAX_EXTERNAL_ID
from service.models import MAX_PROJECT
from service.models import MAX_SECONDS
from service.models import SOURCE_PATTERN

FORMATS: dict[str, CsvFormat] = {
    module.FORMAT.name: module.FORMAT
    for module in (toggl_csv, clockify_csv, harvest_csv, generic_csv)
}
SOURCE = re.compile(SOURCE_PATTERN)


def detect(names: set[str]) -> CsvFormat:
    """Name the format whose header NAMES match; 422 naming the known formats otherwise."""
    for candidate in FORMATS.values():
        if candidate.required <= names:
            return candidate
    raise APIError(
        422,
        f"The header row matches no known format; send `format` as one of {', '.join(FORMATS)}.",
    )


def choose_format(format_name: str | None, names: set[str]) -> CsvFormat:
    """Return the requested format if the header fits it, else the detected one."""
    if format_name is None:
        return detect(names)
    chosen = FORMATS[format_name]
    missing = sorted(chosen.required - names)
    if missing:
        raise APIError(
            422, f"The header row lacks the {format_name} columns: {', '.join(missing)}."
        )
    return chosen


def parse_file(
    data: bytes, *, format_name: str | None, zone: ZoneInfo, max_rows: int
) -> ImportResult:
    """Read DATA whole; every bad row is collected, running and empty ones are counted."""
    result, batches = read_file(data, format_name=format_name, zone=zone, max_rows=max_rows)
    for batch in batches:
        result.entries += batch
    return result


def read_file(
    data: bytes,
    *,
    format_name: str | None,
    zone: ZoneInfo,
    max_rows: int,
    batch_rows: int = upserts.BATCH_ROWS,
) -> tuple[ImportResult, Iterator[list[dict[str, object]]]]:
    """Read DATA's header now; return the result and the entries in batches of BATCH_ROWS.

    The result's rows, errors and skipped counts grow as the batches are read (its
    `entries` stay empty); a file too long or without rows raises 422 when read that far.
    """
    names, rows = records(decode(data))
    header = Header(names)
    chosen = choose_format(format_name, set(header.normalised))
    layout = Layout(header, chosen.columns)
    result = ImportResult(chosen.name, chosen.source)

    def batches() -> Iterator[list[dict[str, object]]]:
        seen: Counter[str] = Counter()
        batch: list[dict[str, object]] = []
        for line, values in rows:
            result.rows += 1
            if result.rows > max_rows:
                raise APIError(422, f"The file has more than {max_rows} rows; split it.")
            if len(values) != len(names):
                reason = f"has {len(values)} fields where the header has {len(names)}"
                result.errors.append(RowError(line, None, reason))
                continue
            try:
                span = chosen.parse_row(layout.read(values), layout.names, zone)
                entry = to_entry(chosen.source, span, seen)
            except RowInvalid as exc:
                result.errors.append(RowError(line, exc.column, exc.reason))
                continue
            if isinstance(entry, str):
                result.skipped[entry] += 1
                continue
            batch.append(entry)
            if len(batch) == batch_rows:
                yield batch
                batch = []
        if not result.rows:
            raise APIError(422, "The file has a header row but no entries.")
        if batch:
            yield batch

    return result, batches()


def to_entry(source: str, span: Span | None, seen: Counter[str]) -> dict[str, object] | str:
    """Turn a SPAN into an entry dict, or return why it is skipped (running, zero)."""
    if span is None or span.seconds is None:
        return "running"
    seconds = round(span.seconds)
    if seconds <= 0:
        return "zero_duration"
    if seconds > MAX_SECONDS:
        raise RowInvalid(span.duration_column, "lasts more than 24 hours")
    check_lengths(span)
    source = span.source or source
    if not SOURCE.fullmatch(source):
        raise RowInvalid("source", "is not a lowercase slug of at most 32 characters")
    key = span.external_id or entry_key(source, span, seconds)
    seen_key = f"{source}\x1f{key}"
    seen[seen_key] += 1
    repeats = seen[seen_key]
    if repeats > 1:
        if span.external_id:
            raise RowInvalid("external_id", "repeats the source and external_id of an earlier row")
        key = f"{key}-{repeats}"
    return {
        "source": source,
        "external_id": key,
        "date": span.start,
        "duration": seconds / 3600,
        "project": span.project or None,
        "description": span.description or None,
    }


def check_lengths(span: Span) -> None:
    """Refuse values longer than the columns that store them."""
    if span.project and len(span.project) > MAX_PROJECT:
        raise RowInvalid("project", f"is longer than {MAX_PROJECT} characters")
    if span.description and len(span.description) > MAX_DESCRIPTION:
        raise RowInvalid("description", f"is longer than {MAX_DESCRIPTION} characters")
    if span.external_id and len(span.external_id) > MAX_EXTERNAL_ID:
        raise RowInvalid("external_id", f"is longer than {MAX_EXTERNAL_ID} characters")


def import_file(
    user_id: uuid.UUID,
    data: bytes,
    *,
    format_name: str | None,
    zone: ZoneInfo,
    max_rows: int,
    dry_run: bool = False,
) -> dict[str, object]:
    """Parse DATA and upsert its entries for the user, all or nothing; return what happened.

    The batches are written as they are read, in one transaction that a bad row anywhere
    in the file rolls back.
    """
    upload = Upload(data, format_name, zone, max_rows)
    try:
        counts = upserts.upsert_batches(user_id, upload.batches, dry_run=dry_run)
    except APIError as exc:
        metrics.record_import("rejected" if exc.status < 500 else "failed")
        raise
    except Exception:
        metrics.record_import("failed")
        raise
    metrics.record_import("dry_run" if dry_run else "succeeded")
    result = upload.result
    return {
        "format": result.format,
        "source": result.source,
        "timezone": zone.key,
        "dry_run": dry_run,
        "rows": result.rows,
        **counts.as_dict(),
        "skipped": sum(result.skipped.values()),
        "skipped_by_reason": dict(result.skipped),
    }


class Upload:
    """One uploaded file, read afresh for every attempt at writing it."""

    def __init__(self, data: bytes, format_name: str | None, zone: ZoneInfo, max_rows: int):
        self._read = partial(read_file, data, format_name=format_name, zone=zone, max_rows=max_rows)
        self.result: ImportResult | None = None

    def batches(self) -> Iterator[list[dict[str, object]]]:
        """Return the valid entries' batches; 422 at the end (after every row was read)
        when any row is invalid."""
        self.result, batches = self._read()
        return _all_valid(self.result, batches)


def _all_valid(
    result: ImportResult, batches: Iterator[list[dict[str, object]]]
) -> Iterator[list[dict[str, object]]]:
    for batch in batches:
        if not result.errors:
            yield batch
    if result.errors:
        raise APIError(
            422,
            f"{len(result.errors)} rows of the file are invalid; nothing was imported.",
            errors=[error.as_dict() for error in result.errors],
        )
