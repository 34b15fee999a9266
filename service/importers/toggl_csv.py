"""Toggl Track's detailed report and time entries CSV exports (no ids, local times)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from service.importers.base import CsvFormat
from service.importers.base import Fields
from service.importers.base import Span
from service.importers.base import timed_span


def parse_row(fields: Fields, zone: ZoneInfo) -> Span:
    """Read one Toggl row: start, `Duration` in any of Toggl's styles, project, description."""
    return timed_span(fields, zone, ("duration",))


FORMAT = CsvFormat(
    name="toggl_csv",
    source="toggl",
    required=frozenset({"start date", "start time", "duration"}),
    parse_row=parse_row,
)
