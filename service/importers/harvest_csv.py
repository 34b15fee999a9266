"""Harvest's "export all time" CSV: a date and hours (decimal point or comma), no clock times;
client, task and `Billable?` (Yes/No) where the export has them, never tags.

It names people only by first and last name, never by email, so its rows are the acting
user's (the uploader's, or `?user_id=`'s)."""

from __future__ import annotations

from collections.abc import Mapping
from zoneinfo import ZoneInfo

from service.importers.base import CsvFormat
from service.importers.base import Span
from service.importers.base import labels
from service.importers.base import parse_hours
from service.importers.base import parse_moment
from service.importers.base import require

COLUMNS = {
    "date": ("date",),
    "hours": ("hours",),
    "project": ("project",),
    "notes": ("notes",),
    "first name": ("first name",),
    "last name": ("last name",),
    "billable": ("billable?", "billable"),
    "client": ("client",),
    "task": ("task",),
}


def parse_row(row: dict[str, str], names: Mapping[str, str], zone: ZoneInfo) -> Span:
    """Read one Harvest row: the day (starting at midnight in ZONE), hours, project, notes,
    client, task and billable."""
    start = parse_moment(require(row, names, "date"), zone, names["date"])
    return Span(
        start,
        parse_hours(require(row, names, "hours"), names["hours"]),
        project=row["project"],
        description=row["notes"],
        identity=f"{row['first name']} {row['last name']}".strip(),
        duration_column=names["hours"],
        **labels(row, names),
    )


FORMAT = CsvFormat(
    name="harvest_csv",
    source="harvest",
    required=frozenset({"date", "hours"}),
    columns=COLUMNS,
    parse_row=parse_row,
)
