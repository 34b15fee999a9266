"""Clockify's detailed report CSV (MM/DD/YYYY and 12-hour clocks by default, no ids)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from service.importers.base import CsvFormat
from service.importers.base import Fields
from service.importers.base import Span
from service.importers.base import timed_span

DURATION_COLUMNS = ("duration (h)", "duration (decimal)")


def parse_row(fields: Fields, zone: ZoneInfo) -> Span:
    """Read one Clockify row: start, `Duration (h)` (or decimal), project, description."""
    return timed_span(fields, zone, DURATION_COLUMNS)


FORMAT = CsvFormat(
    name="clockify_csv",
    source="clockify",
    required=frozenset({"start date", "start time", "duration (h)"}),
    parse_row=parse_row,
)
