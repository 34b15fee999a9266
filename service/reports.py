"""Summary reports: hours, billable hours and entry counts per time bucket or label, user or team.

The database does the grouping. PostgreSQL buckets `date AT TIME ZONE tz` with
date_trunc; SQLite calls `local_bucket` (registered by service.db), so both give the
same buckets in the caller's time zone, daylight-saving changes included. Buckets are
written as text, and users and teams named, once per group here rather than once per
entry in the database. Both round alike: each sum as PostgreSQL's float8 → numeric cast
keeps it (15 significant digits), then half up to hundredths, so 0.125 h is 0.13 on both.

Grouped by team, an entry counts in the row of every team its person is in today (people
in no team make the row whose team is null); the total counts each entry once, and
`rows_overlap` tells when the rows add up to more than the total. Grouped by tag, likewise:
an entry counts in the row of each of its tags (untagged ones make the row whose tag is null).
"""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_UP
from decimal import Decimal
from typing import Any

import peewee

from service.db import db
from service.db import is_postgres
from service.entries import Owners
from service.entries import filtered
from service.entries import owned_by
from service.models import Membership
from service.models import Team
from service.models import TimeEntry
from service.models import User
from service.models import utcnow
from service.schemas.requests import ReportQuery

# The time groups, each with the text its bucket is written as (a week is its Monday).
BUCKET_TEXT = {"day": "%Y-%m-%d", "week": "%Y-%m-%d", "month": "%Y-%m"}
CENT = Decimal("0.01")
# The groups in whose rows one entry may count more than once.
OVERLAPPING = {"team", "tag"}


def _key(group: str, zone: str) -> peewee.Node:
    """Return the column entries are grouped by for GROUP (a bucket still as a timestamp)."""
    if group in BUCKET_TEXT:
        if is_postgres(db):
            local = peewee.NodeList((TimeEntry.date, peewee.SQL("AT TIME ZONE"), zone))
            return peewee.fn.date_trunc(group, local)
        return peewee.fn.local_bucket(TimeEntry.date, zone, group).coerce(False)
    if group == "team":
        return Membership.team_id
    if group == "tag":
        return peewee.Entity("tag", "value")
    return TimeEntry.user_id if group == "user" else getattr(TimeEntry, group)


def _counted(owners: Owners, query: ReportQuery) -> peewee.ModelSelect:
    """Select the OWNERS' entries the report counts: running timers only if asked for."""
    select = filtered(owned_by(owners), query)
    return select if query.include_running else select.where(TimeEntry.duration.is_null(False))


def _hours(query: ReportQuery) -> peewee.Node:
    """Return an entry's hours; with include_running, a running timer's hours up to now."""
    if not query.include_running:
        return TimeEntry.duration
    now = TimeEntry.date.to_value(utcnow())
    if is_postgres(db):
        elapsed = peewee.fn.date_part("epoch", now.cast("timestamptz") - TimeEntry.date) / 3600
    else:
        elapsed = (peewee.fn.julianday(now) - peewee.fn.julianday(TimeEntry.date)) * 24
    # A timer started a little ahead of this clock has run for no time yet.
    running = peewee.Case(None, [(TimeEntry.date > now, 0)], elapsed)
    return peewee.fn.COALESCE(TimeEntry.duration, running)


def _sums(query: ReportQuery) -> tuple[peewee.Node, ...]:
    """Return the hours, billable hours and number of the entries a row or the total counts."""
    hours = _hours(query)
    billable = peewee.Case(None, [(TimeEntry.billable, hours)], 0)
    return peewee.fn.SUM(hours), peewee.fn.SUM(billable), peewee.fn.COUNT(peewee.SQL("*"))


def _grouped(owners: Owners, query: ReportQuery) -> list[tuple]:
    """Return (key, ..., hours, billable hours, entries) per group of the OWNERS' entries."""
    keys = [_key(group, query.tz) for group in query.groups]
    select = _counted(owners, query).select(*keys, *_sums(query))
    if "tag" in query.groups:
        # One row per tag of each entry; an untagged entry keeps one row, its tag null.
        unnest = "jsonb_array_elements_text" if is_postgres(db) else "json_each"
        tags = getattr(peewee.fn, unnest)(TimeEntry.tags).alias("tag")
        select = select.from_(peewee.Join(TimeEntry, tags, peewee.JOIN.LEFT_OUTER, on=True))
    if "team" in query.groups:
        membership = Membership.user == TimeEntry.user
        select = select.join(Membership, peewee.JOIN.LEFT_OUTER, on=membership)
    return list(select.group_by(*keys).tuples())


def _total(owners: Owners, query: ReportQuery, rows: list[tuple]) -> tuple[Decimal, Decimal, int]:
    """Return the total hours, billable hours and entries, counting each entry once."""
    if OVERLAPPING.intersection(query.groups):
        hours, billable, entries = _counted(owners, query).select(*_sums(query)).tuples().get()
        return _exact(hours or 0), _exact(billable or 0), entries
    hours = sum((row[1] for row in rows), Decimal(0))
    billable = sum((row[2] for row in rows), Decimal(0))
    return hours, billable, sum(row[3] for row in rows)


def _labels(query: ReportQuery, rows: list[tuple]) -> dict[str, dict[Any, Any]]:
    """Return the users' emails and the teams' names the ROWS name, by id."""
    labels: dict[str, dict[Any, Any]] = {}
    for group, model, name in (("user", User, User.email), ("team", Team, Team.name)):
        if group in query.groups:
            at = query.groups.index(group)
            ids = {row[at] for row in rows if row[at] is not None}
            found = model.select(model.id, name).where(model.id.in_(ids)).tuples() if ids else []
            labels[group] = dict(found)
    return labels


def _fields(group: str, key: Any, labels: dict[str, dict[Any, Any]]) -> dict[str, Any]:
    """Return the fields of a row's key KEY for GROUP."""
    if group == "user":
        return {"user_id": key, "user_email": labels["user"].get(key)}
    if group == "team":
        return {"team_id": key, "team": labels["team"].get(key)}
    if isinstance(key, datetime):
        key = key.strftime(BUCKET_TEXT[group])
    return {group: key}


def summary(owners: Owners, query: ReportQuery) -> dict[str, Any]:
    """Return the OWNERS' hours, billable hours and entry counts per group, and the total."""
    grouped = _grouped(owners, query)
    labels = _labels(query, grouped)
    rows = []
    for row in grouped:
        keys = [_fields(group, key, labels) for group, key in zip(query.groups, row, strict=False)]
        rows.append((keys, _exact(row[-3]), _exact(row[-2]), row[-1]))
    # The databases order NULLs and text differently; sort here, in code-point order.
    rows.sort(key=lambda row: tuple(_sort_key(keys) for keys in row[0]))
    total = _total(owners, query, rows)
    return {
        "rows": [
            {k: v for part in keys for k, v in part.items()} | _sums_answer(*sums)
            for keys, *sums in rows
        ],
        "total": _sums_answer(*total),
        "rows_overlap": sum(row[-1] for row in rows) > total[-1],
    }


def _sums_answer(hours: Decimal, billable: Decimal, entries: int) -> dict[str, Any]:
    """Return the hours, billable hours and entry count of a row or the total."""
    return {"hours": _rounded(hours), "billable_hours": _rounded(billable), "entries": entries}


def _sort_key(fields: dict[str, Any]) -> tuple[bool, Any]:
    """Sort a row by a group's text (a user by email, a team by name) or flag, missing last."""
    key = fields.get("user_email", fields.get("team", next(iter(fields.values()))))
    return (key is None, "" if key is None else key)


def _exact(hours: float) -> Decimal:
    """Return HOURS as PostgreSQL's float8 → numeric cast keeps them: 15 digits."""
    return Decimal(f"{hours:.15g}")


def _rounded(hours: Decimal) -> float:
    """Round HOURS half up to hundredths, as PostgreSQL's round(numeric, 2) does."""
    return float(hours.quantize(CENT, ROUND_HALF_UP))
