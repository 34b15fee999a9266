"""Our own plain CSV: ISO-8601 `start`, then `end` or `duration`; optional `external_id` and
`source` (so the service's own CSV export re-imports onto the entries it came from)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from service.importers.base import CsvFormat
from service.importers.base import Fields
from service.importers.base import RowInvalid
from service.importers.base import Span
from service.importers.base import parse_hours
from service.importers.base import parse_moment


def parse_row(fields: Fields, zone: ZoneInfo) -> Span:
    """Read one row: `start`, then `duration` (hours or a clock) or else `end`."""
    start = parse_moment(fields.require("start"), zone, fields.column("start"))
    duration, end = fields.get("duration"), fields.get("end")
    if duration:
        seconds = parse_hours(duration, fields.column("duration"))
        duration_column = fields.column("duration")
    elif end:
        seconds = (parse_moment(end, zone, fields.column("end")) - start).total_seconds()
        duration_column = fields.column("end")
        if seconds < 0:
            raise RowInvalid(duration_column, "is earlier than start")
    else:
        raise RowInvalid("end", "is required when there is no duration")
    return Span(
        start,
        seconds,
        project=fields.get("project"),
        description=fields.get("description"),
        identity=fields.get("user_email", "email"),
        external_id=fields.get("external_id") or None,
        duration_column=duration_column,
        source=fields.get("source") or None,
    )


FORMAT = CsvFormat(
    name="generic_csv",
    source="csv",
    required=frozenset({"start"}),
    parse_row=parse_row,
)
