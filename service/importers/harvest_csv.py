"""Harvest's "export all time" CSV: a date and hours (decimal point or comma), no clock times."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from service.importers.base import CsvFormat
from service.importers.base import Fields
from service.importers.base import Span
from service.importers.base import parse_hours
from service.importers.base import parse_moment


def parse_row(fields: Fields, zone: ZoneInfo) -> Span:
    """Read one Harvest row: the day (starting at midnight in ZONE), hours, project, notes."""
    start = parse_moment(fields.require("date"), zone, fields.column("date"))
    hours_column = fields.column("hours")
    return Span(
        start,
        parse_hours(fields.require("hours"), hours_column),
        project=fields.get("project"),
        description=fields.get("notes"),
        identity=f"{fields.get('first name')} {fields.get('last name')}".strip(),
        duration_column=hours_column,
    )


FORMAT = CsvFormat(
    name="harvest_csv",
    source="harvest",
    required=frozenset({"date", "hours"}),
    parse_row=parse_row,
)
