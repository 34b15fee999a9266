"""Entries as downloadable files: CSV in the generic upload layout, or a JSON array.

The CSV columns are the generic upload format's, plus `source` and `external_id`, so an
exported file re-imports as generic_csv onto the same entries instead of duplicating them;
`user_email` names each entry's person, so an organisation-wide export re-imports onto
the right people. `billable` is `true` or `false`, `tags` the entry's tags joined with
TAG_SEPARATOR (a tag holds no comma), as Toggl's and Clockify's exports write them.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from collections.abc import Iterator
from datetime import UTC
from datetime import datetime
from datetime import timedelta

from service.models import TimeEntry
from service.schemas.responses import Entry

CSV_COLUMNS = (
    "description",
    "billable",
    "client",
    "project",
    "tags",
    "start",
    "end",
    "task",
    "user_name",
    "user_email",
    "source",
    "external_id",
)
# A spreadsheet runs a cell that starts with one of these as a formula (OWASP: CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
ROWS_PER_CHUNK = 500
TAG_SEPARATOR = ", "


def neutralise(value: str | None) -> str:
    """Return VALUE as a cell a spreadsheet shows as text, never runs as a formula."""
    if not value:
        return ""
    return f"'{value}" if value.startswith(FORMULA_STARTS) else value


def iso(value: datetime) -> str:
    """Format an aware timestamp as ISO-8601 UTC with a Z, as the JSON answers write it."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def csv_row(entry: TimeEntry) -> list[str]:
    """Return ENTRY (its `user` read with it: email and display name) as one row of CSV_COLUMNS."""
    end = entry.date + timedelta(hours=entry.duration)
    cells = {
        "description": neutralise(entry.description),
        "project": neutralise(entry.project),
        "billable": "true" if entry.billable else "false",
        "client": neutralise(entry.client),
        "task": neutralise(entry.task),
        "tags": neutralise(TAG_SEPARATOR.join(entry.tags)),
        "start": iso(entry.date),
        "end": iso(end),
        "source": neutralise(entry.source),
        "external_id": neutralise(entry.external_id),
        "user_name": neutralise(entry.user.display_name),
        "user_email": neutralise(entry.user.email),
    }
    return [cells.get(column, "") for column in CSV_COLUMNS]


def csv_chunks(entries: Iterable[TimeEntry]) -> Iterator[str]:
    """Yield the header, then the rows, a few hundred at a time; running timers (no end
    yet) are left out, so the file re-imports whole."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    finished = (entry for entry in entries if entry.duration is not None)
    for count, entry in enumerate(finished, start=1):
        writer.writerow(csv_row(entry))
        if count % ROWS_PER_CHUNK == 0:
            yield _drain(buffer)
    yield _drain(buffer)


def json_chunks(entries: Iterable[TimeEntry]) -> Iterator[str]:
    """Yield a JSON array of entries, a few hundred elements at a time."""
    yield "["
    batch: list[str] = []
    for count, entry in enumerate(entries):
        item = Entry.model_validate(entry, from_attributes=True).model_dump_json()
        batch.append(("," if count else "") + item)
        if len(batch) == ROWS_PER_CHUNK:
            yield "".join(batch)
            batch.clear()
    yield "".join(batch) + "]"


def _drain(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text
