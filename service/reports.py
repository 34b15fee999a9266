"""Summary reports: hours and entry counts per day, week, month, project or source.

The database does the grouping. PostgreSQL buckets `date AT TIME ZONE tz` with
date_trunc; SQLite calls `local_bucket` (registered by service.db), so both give the
same buckets in the caller's time zone, daylight-saving changes included.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import peewee

from service.db import db
from service.db import is_postgres
from service.entries import filtered
from service.entries import owned_by
from service.models import TimeEntry
from service.schemas import ReportQuery

TIME_GROUPS = ("day", "week", "month")


def _postgres_bucket(unit: str, zone: str) -> peewee.Node:
    local = peewee.NodeList((TimeEntry.date, peewee.SQL("AT TIME ZONE"), zone))
    return peewee.fn.date_trunc(unit, local)


def _bucket(unit: str, zone: str) -> peewee.Node:
    if is_postgres(db):
        return _postgres_bucket(unit, zone)
    return peewee.fn.local_bucket(TimeEntry.date, zone, unit)


def _key_text(group: str, value: Any) -> Any:
    """Render a PostgreSQL bucket as SQLite's local_bucket does: YYYY-MM-DD or YYYY-MM."""
    if not isinstance(value, datetime):
        return value
    return value.strftime("%Y-%m") if group == "month" else value.date().isoformat()


def _columns(groups: tuple[str, ...], zone: str) -> list[peewee.Node]:
    columns = []
    for group in groups:
        column = _bucket(group, zone) if group in TIME_GROUPS else getattr(TimeEntry, group)
        columns.append(column.alias(group))
    return columns


def _sort_key(row: dict[str, Any], groups: tuple[str, ...]) -> tuple:
    # Both databases order NULLs differently; sort here (few rows) so answers match.
    return tuple((row[g] is None, row[g] or "") for g in groups)


def summary(user_id: uuid.UUID, query: ReportQuery) -> dict[str, Any]:
    """Return the user's hours and entry counts per group, and the total."""
    groups = query.groups
    columns = _columns(groups, query.tz)
    select = (
        filtered(owned_by(user_id), query)
        .select(*columns, peewee.fn.SUM(TimeEntry.duration), peewee.fn.COUNT(peewee.SQL("*")))
        .group_by(*columns)
        .tuples()
    )
    raw = [
        {
            **{g: _key_text(g, v) for g, v in zip(groups, row, strict=False)},
            "hours": row[-2],
            "entries": row[-1],
        }
        for row in select
    ]
    raw.sort(key=lambda row: _sort_key(row, groups))
    total_hours = sum(row["hours"] for row in raw)
    rows = [{**row, "hours": round(row["hours"], 2)} for row in raw]
    total = {"hours": round(total_hours, 2), "entries": sum(row["entries"] for row in raw)}
    return {"rows": rows, "total": total}
