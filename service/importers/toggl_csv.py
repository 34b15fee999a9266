"""Toggl Track's detailed report and time entries CSV exports (no ids, local times)."""

from __future__ import annotations

from service.importers.base import TIMED_COLUMNS
from service.importers.base import CsvFormat
from service.importers.base import timed_span

# Read: start, `Duration` in any of Toggl's styles (or the end), project, description.
FORMAT = CsvFormat(
    name="toggl_csv",
    source="toggl",
    required=frozenset({"start date", "start time", "duration"}),
    columns={**TIMED_COLUMNS, "duration": ("duration",)},
    parse_row=timed_span,
)
