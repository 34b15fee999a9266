"""Summary reports: hours and entry counts per day, week, month, project or source.

The database does the grouping. PostgreSQL buckets `date AT TIME ZONE tz` with
date_trunc; SQLite calls `local_bucket` (registered by service.db), so both give the
same buckets in the caller's time zone, daylight-saving changes included. Both round
alike: each sum as PostgreSQL's float8 → numeric cast keeps it (15 significant digits),
then half up to hundredths, so 0.125 h is 0.13 on both.
"""

from __future__ import annotations

import uuid
from decimal import ROUND_HALF_UP
from decimal import Decimal
from typing import Any

import peewee

from service.db import db
from service.db import is_postgres
from service.entries import filtered
from service.entries import owned_by
from service.models import TimeEntry
from service.schemas.requests import ReportQuery

# The time groups, each with the text its bucket is written as (a week is its Monday).
BUCKET_TEXT = {"day": "YYYY-MM-DD", "week": "YYYY-MM-DD", "month": "YYYY-MM"}
CENT = Decimal("0.01")


def _bucket(unit: str, zone: str) -> peewee.Node:
    if is_postgres(db):
        local = peewee.NodeList((TimeEntry.date, peewee.SQL("AT TIME ZONE"), zone))
        return peewee.fn.to_char(peewee.fn.date_trunc(unit, local), BUCKET_TEXT[unit])
    return peewee.fn.local_bucket(TimeEntry.date, zone, unit).coerce(False)


def _key(group: str, zone: str) -> peewee.Node:
    column = _bucket(group, zone) if group in BUCKET_TEXT else getattr(TimeEntry, group)
    return column.alias(group)


def summary(user_id: uuid.UUID, query: ReportQuery) -> dict[str, Any]:
    """Return the user's hours and entry counts per group, and the total."""
    columns = [_key(group, query.tz) for group in query.groups]
    select = (
        filtered(owned_by(user_id), query)
        .select(
            *columns,
            peewee.fn.SUM(TimeEntry.duration).alias("hours"),
            peewee.fn.COUNT(peewee.SQL("*")).alias("entries"),
        )
        .group_by(*columns)
    )
    rows = list(select.tuples())
    # The databases order NULLs and text differently; sort here, in code-point order.
    width = len(query.groups)
    rows.sort(key=lambda row: tuple((key is None, key or "") for key in row[:width]))
    sums = [_exact(row[-2]) for row in rows]
    return {
        "rows": [
            {
                **dict(zip(query.groups, row, strict=False)),
                "hours": _rounded(hours),
                "entries": row[-1],
            }
            for row, hours in zip(rows, sums, strict=True)
        ],
        "total": {"hours": _rounded(sum(sums, Decimal(0))), "entries": sum(r[-1] for r in rows)},
    }


def _exact(hours: float) -> Decimal:
    """Return HOURS as PostgreSQL's float8 → numeric cast keeps them: 15 digits."""
    return Decimal(f"{hours:.15g}")


def _rounded(hours: Decimal) -> float:
    """Round HOURS half up to hundredths, as PostgreSQL's round(numeric, 2) does."""
    return float(hours.quantize(CENT, ROUND_HALF_UP))
