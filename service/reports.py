"""Summary reports: hours and entry counts per day, week, month, project or source.

The database does the grouping. PostgreSQL buckets `date AT TIME ZONE tz` with
date_trunc; SQLite calls `local_bucket` (registered by service.db), so both give the
same buckets in the caller's time zone, daylight-saving changes included.

On PostgreSQL the database also writes the answer's JSON: a year of a team's time is
thousands of rows, and building them as Python dicts left a worker 3 MiB bigger for
good. Both paths round alike: each sum as PostgreSQL's float8 → numeric cast keeps it
(15 significant digits), then half up to hundredths, so 0.125 h is 0.13 on both.
"""

from __future__ import annotations

import uuid
from decimal import ROUND_HALF_UP
from decimal import Decimal
from typing import Any

import orjson
import peewee

from service.db import db
from service.db import is_postgres
from service.entries import filtered
from service.entries import owned_by
from service.models import TimeEntry
from service.schemas import ReportQuery

# The time groups, each with the text PostgreSQL writes its bucket as (a week is its Monday).
_BUCKET_TEXT = {"day": "YYYY-MM-DD", "week": "YYYY-MM-DD", "month": "YYYY-MM"}
TIME_GROUPS = tuple(_BUCKET_TEXT)
CENT = Decimal("0.01")


def _bucket(unit: str, zone: str) -> peewee.Node:
    if is_postgres(db):
        local = peewee.NodeList((TimeEntry.date, peewee.SQL("AT TIME ZONE"), zone))
        return peewee.fn.date_trunc(unit, local)
    return peewee.fn.local_bucket(TimeEntry.date, zone, unit).coerce(False)


def _key(group: str, zone: str) -> peewee.Node:
    column = _bucket(group, zone) if group in TIME_GROUPS else getattr(TimeEntry, group)
    return column.alias(group)


def _grouped(user_id: uuid.UUID, query: ReportQuery) -> peewee.ModelSelect:
    """Select each group's keys (named after the groups), summed hours and entry count."""
    columns = [_key(group, query.tz) for group in query.groups]
    return (
        filtered(owned_by(user_id), query)
        .select(
            *columns,
            peewee.fn.SUM(TimeEntry.duration).alias("hours"),
            peewee.fn.COUNT(peewee.SQL("*")).alias("entries"),
        )
        .group_by(*columns)
    )


def summary(user_id: uuid.UUID, query: ReportQuery) -> dict[str, Any] | orjson.Fragment:
    """Return the user's hours and entry counts per group, and the total."""
    select = _grouped(user_id, query)
    if is_postgres(db):
        sql, params = select.sql()
        (text,) = db.execute_sql(_as_json(sql, query.groups), params).fetchone()
        return orjson.Fragment(text)
    return _from_rows(list(select.tuples()), query.groups)


def _exact(hours: float) -> Decimal:
    """Return HOURS as PostgreSQL's float8 → numeric cast keeps them: 15 digits."""
    return Decimal(f"{hours:.15g}")


def _rounded(hours: Decimal) -> float:
    """Round HOURS half up to hundredths, as PostgreSQL's round(numeric, 2) does."""
    return float(hours.quantize(CENT, ROUND_HALF_UP))


def _from_rows(rows: list[tuple], groups: tuple[str, ...]) -> dict[str, Any]:
    # Both databases order NULLs differently; sort here (few rows) so answers match.
    rows.sort(key=lambda row: tuple((key is None, key or "") for key in row[: len(groups)]))
    sums = [_exact(row[-2]) for row in rows]
    return {
        "rows": [
            {**dict(zip(groups, row, strict=False)), "hours": _rounded(hours), "entries": row[-1]}
            for row, hours in zip(rows, sums, strict=True)
        ],
        "total": {"hours": _rounded(sum(sums, Decimal(0))), "entries": sum(r[-1] for r in rows)},
    }


def _number(numeric: str) -> str:
    """Write a numeric hundredths value as orjson writes the float: 3.0, 12.5, 0.29."""
    return (
        f"CASE WHEN {numeric} = trunc({numeric}) THEN trunc({numeric})::text || '.0'"
        f" ELSE rtrim({numeric}::text, '0') END"
    )


def _as_json(grouped_sql: str, groups: tuple[str, ...]) -> str:
    """Wrap GROUPED_SQL so PostgreSQL answers with the whole report as _from_rows's JSON."""
    keys = ", ".join(
        f"to_char(g.{group}, '{_BUCKET_TEXT[group]}') AS {group}"
        if group in TIME_GROUPS
        else f"g.{group}"
        for group in groups
    )
    order = ", ".join(
        f"g.{group}" if group in TIME_GROUPS else f'g.{group} COLLATE "C" NULLS LAST'
        for group in groups
    )
    return f"""
SELECT '{{"rows":[' || coalesce(string_agg(row_to_json(r)::text, ',' ORDER BY {order}), '')
    || '],"total":{{"hours":' || {_number("round(coalesce(sum(g.hours::numeric), 0), 2)")}
    || ',"entries":' || coalesce(sum(g.entries), 0) || '}}}}'
FROM ({grouped_sql}) AS g
CROSS JOIN LATERAL (SELECT round(g.hours::numeric, 2) AS cents) AS c
CROSS JOIN LATERAL (
    SELECT {keys}, ({_number("c.cents")})::json AS hours, g.entries
) AS r
"""  # noqa: S608 - group names come from ReportQuery's fixed set; values are parameters
