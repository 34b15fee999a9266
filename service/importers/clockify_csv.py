"""Clockify's detailed report CSV (MM/DD/YYYY and 12-hour clocks by default, no ids)."""

from __future__ import annotations

from service.importers.base import TIMED_COLUMNS
from service.importers.base import CsvFormat
from service.importers.base import timed_span

# Read: start, `Duration (h)` (or decimal, or the end), project, description.
FORMAT = CsvFormat(
    name="clockify_csv",
    source="clockify",
    required=frozenset({"start date", "start time", "duration (h)"}),
    columns={**TIMED_COLUMNS, "duration": ("duration (h)", "duration (decimal)")},
    parse_row=timed_span,
)
