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
from service.importers.base import Named
from service.importers.base import RowError
from service.importers.base import RowInvalid
from service.importers.base import Span
from service.importers.base import decode
from service.importers.base import entry_key
from service.importers.base import records
from service.importers.owners import Owners
from service.models import MAX_DESCRIPTION
from service.models import MAX_EXTERNAL_ID
from service.models import MAX_PROJECT
from service.models import MAX_SECONDS
from service.models import SOURCE_PATTERN
from service.models import User
from service.permissions import Principal

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
    data: bytes, *, format_name: str | None, zone: ZoneInfo, max_rows: int, own_email: str = ""
) -> ImportResult:
    """Read DATA whole; every bad row is collected, running and empty ones are counted."""
    result, batches = read_file(
        data, format_name=format_name, zone=zone, max_rows=max_rows, own_email=own_email
    )
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
    own_email: str = "",
) -> tuple[ImportResult, Iterator[list[dict[str, object]]]]:
    """Read DATA's header now; return the result and the entries in batches of BATCH_ROWS.

    The result's rows, errors, skipped counts and people grow as the batches are read (its
    `entries` stay empty); a file too long or without rows raises 422 when read that far.
    An entry whose row names an email other than OWN_EMAIL (the acting user's, lower
    case) carries it as `email`, lower-cased.
    """
    names, rows = records(decode(data))
    header = Header(names)
    chosen = choose_format(format_name, set(header.normalised))
    layout = Layout(header, chosen.columns)
    result = ImportResult(chosen.name, chosen.source, email_column=layout.names.get("email"))

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
                person = person_of(span, own_email)
                entry = to_entry(chosen.source, span, seen, person)
            except RowInvalid as exc:
                result.errors.append(RowError(line, exc.column, exc.reason))
                continue
            if isinstance(entry, str):
                result.skipped[entry] += 1
                continue
            if person:
                result.people.setdefault(person, Named(line)).rows += 1
                entry["email"] = person
            batch.append(entry)
            if len(batch) == batch_rows:
                yield batch
                batch = []
        if not result.rows:
            raise APIError(422, "The file has a header row but no entries.")
        if batch:
            yield batch

    return result, batches()


def person_of(span: Span | None, own_email: str) -> str:
    """Return the email SPAN's row names, lower case; '' for none or OWN_EMAIL."""
    if span is None or not span.email:
        return ""
    email = span.email.lower()
    return "" if email == own_email else email


def to_entry(
    source: str, span: Span | None, seen: Counter[str], person: str = ""
) -> dict[str, object] | str:
    """Turn a SPAN into an entry dict, or return why it is skipped (running, zero).

    Keys repeat per PERSON (an email, '' for the acting user): the same row of two people
    is two entries.
    """
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
    seen_key = f"{person}\x1f{source}\x1f{key}"
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
        "billable": span.billable,
        "tags": list(span.tags),
        "client": span.client,
        "task": span.task,
    }


def check_lengths(span: Span) -> None:
    """Refuse values longer than the columns that store them."""
    if span.project and len(span.project) > MAX_PROJECT:
        raise RowInvalid("project", f"is longer than {MAX_PROJECT} characters")
    for name in ("client", "task"):
        if len(getattr(span, name) or "") > MAX_PROJECT:
            raise RowInvalid(name, f"is longer than {MAX_PROJECT} characters")
    if span.description and len(span.description) > MAX_DESCRIPTION:
        raise RowInvalid("description", f"is longer than {MAX_DESCRIPTION} characters")
    if span.external_id and len(span.external_id) > MAX_EXTERNAL_ID:
        raise RowInvalid("external_id", f"is longer than {MAX_EXTERNAL_ID} characters")


def import_file(
    user_id: uuid.UUID,
    data: bytes,
    *,
    principal: Principal,
    format_name: str | None,
    zone: ZoneInfo,
    max_rows: int,
    dry_run: bool = False,
    skip_unknown_users: bool = False,
) -> dict[str, object]:
    """Parse DATA and upsert its entries, each for the person its row names, all or nothing.

    Rows without an email are USER_ID's (the acting user's). Rows naming people PRINCIPAL
    may not import for make the file a 422 listing them, or with SKIP_UNKNOWN_USERS are
    skipped and counted. The batches are written as they are read, in one transaction
    that a bad row anywhere in the file rolls back; PRINCIPAL is the writer.
    """
    own_email = User.select(User.email).where(User.id == user_id).scalar() or ""
    upload = Upload(data, format_name, zone, max_rows, own_email, principal, skip_unknown_users)
    writer = uuid.UUID(principal.subject)
    try:
        counts = upserts.upsert_batches(user_id, upload.batches, writer=writer, dry_run=dry_run)
    except APIError as exc:
        metrics.record_import("rejected" if exc.status < 500 else "failed")
        raise
    except Exception:
        metrics.record_import("failed")
        raise
    metrics.record_import("dry_run" if dry_run else "succeeded")
    return upload.outcome(zone, dry_run, counts)


class Upload:
    """One uploaded file, read afresh for every attempt at writing it."""

    def __init__(
        self,
        data: bytes,
        format_name: str | None,
        zone: ZoneInfo,
        max_rows: int,
        own_email: str,
        principal: Principal,
        skip_unknown_users: bool,
    ):
        self._read = partial(
            read_file,
            data,
            format_name=format_name,
            zone=zone,
            max_rows=max_rows,
            own_email=own_email,
        )
        self._principal = principal
        self._skip = skip_unknown_users
        self.result: ImportResult | None = None
        self.owners: Owners | None = None

    def batches(self) -> Iterator[list[dict[str, object]]]:
        """Return the valid entries' batches, each row given its owner; 422 at the end
        (after every row was read) when any row is invalid or names someone refused."""
        self.result, batches = self._read()
        self.owners = Owners(self._principal)
        return self._all_valid(batches)

    def _all_valid(
        self, batches: Iterator[list[dict[str, object]]]
    ) -> Iterator[list[dict[str, object]]]:
        result, owners = self.result, self.owners
        for batch in batches:
            if result.people:
                batch = owners.assign(batch)
            if not result.errors and (self._skip or not owners.refused):
                yield batch
        refused = [] if self._skip else owners.problems(result.people, result.email_column)
        if result.errors or refused:
            raise APIError(
                422,
                refusal(len(result.errors), len(refused)),
                errors=[error.as_dict() for error in result.errors] + refused,
            )

    def outcome(self, zone: ZoneInfo, dry_run: bool, counts: upserts.UpsertCounts) -> dict:
        """Return what the upload did (or, with DRY_RUN, would do)."""
        result, owners = self.result, self.owners
        skipped_users = owners.skipped(result.people)
        skipped = Counter(result.skipped)
        for person in skipped_users:
            skipped[person["reason"]] += person["rows"]
        return {
            "format": result.format,
            "source": result.source,
            "timezone": zone.key,
            "dry_run": dry_run,
            "rows": result.rows,
            **counts.as_dict(),
            "skipped": sum(skipped.values()),
            "skipped_by_reason": dict(skipped),
            "skipped_users": skipped_users,
        }


def refusal(bad_rows: int, refused_people: int) -> str:
    """Say why a file was refused: its invalid rows, the people it may not name, or both."""
    reasons = []
    if bad_rows:
        reasons.append(f"{bad_rows} rows of the file are invalid")
    if refused_people:
        reasons.append(
            f"{refused_people} people it names are not users you may import for "
            "(send unknown_users=skip to import the rest)"
        )
    return f"{' and '.join(reasons)}; nothing was imported."
