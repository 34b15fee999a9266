"""Our own plain CSV: ISO-8601 `start`, then `end` or `duration`; optional `external_id`,
`source` and `user_email` (so the service's own CSV export re-imports onto the entries, and
the people, it came from), and the labels the export writes: `billable`, `tags`, `client`,
`task`."""

from __future__ import annotations

from collections.abc import Mapping
from zoneinfo import ZoneInfo

from service.importers.base import LABEL_COLUMNS
from service.importers.base import CsvFormat
from service.importers.base import RowInvalid
from service.importers.base import Span
from service.importers.base import labels
from service.importers.base import parse_hours
from service.importers.base import parse_moment
from service.importers.base import require

COLUMNS = {
    "start": ("start",),
    "duration": ("duration",),
    "end": ("end",),
    "project": ("project",),
    "description": ("description",),
    "identity": ("user_email", "email"),
    "email": ("user_email",),
    "external_id": ("external_id",),
    "source": ("source",),
    **{name: (name,) for name in LABEL_COLUMNS},
}


def parse_row(row: dict[str, str], names: Mapping[str, str], zone: ZoneInfo) -> Span:
    """Read one row: `start`, then `duration` (hours or a clock) or else `end`."""
    start = parse_moment(require(row, names, "start"), zone, names["start"])
    if row["duration"]:
        seconds = parse_hours(row["duration"], names["duration"])
        duration_column = names["duration"]
    elif row["end"]:
        seconds = (parse_moment(row["end"], zone, names["end"]) - start).total_seconds()
        duration_column = names["end"]
        if seconds < 0:
            raise RowInvalid(duration_column, "is earlier than start")
    else:
        raise RowInvalid("end", "is required when there is no duration")
    return Span(
        start,
        seconds,
        project=row["project"],
        description=row["description"],
        identity=row["identity"],
        external_id=row["external_id"] or None,
        duration_column=duration_column,
        source=row["source"] or None,
        email=row["email"],
        **labels(row, names),
    )


FORMAT = CsvFormat(
    name="generic_csv",
    source="csv",
    required=frozenset({"start"}),
    columns=COLUMNS,
    parse_row=parse_row,
)
