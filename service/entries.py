"""Time entries: whose a request covers, keyset-paged listing, export, single reads and writes.

A request covers one user's entries (the acting user), some people's (`user=`), a team's
(`team=`) or everyone's the caller may see (`all=true`): `whose` settles which, within
service.permissions' rules, and the queries take its answer (`Owners`).
"""

from __future__ import annotations

import functools
import operator
import uuid
from collections.abc import Callable
from collections.abc import Collection
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from types import UnionType
from typing import Any
from typing import get_args

import peewee

from service.db import db
from service.db import is_postgres
from service.errors import APIError
from service.models import MANAGER
from service.models import Membership
from service.models import Team
from service.models import TimeEntry
from service.models import User
from service.models import time_ordered_id
from service.models import utcnow
from service.permissions import Principal
from service.permissions import managed_team_ids
from service.permissions import sees_everyone
from service.permissions import visible_user_ids
from service.schemas.cursors import decode_cursor
from service.schemas.cursors import encode_cursor
from service.schemas.requests import EntryFilters
from service.schemas.requests import EntryIn
from service.schemas.requests import EntryQuery
from service.schemas.responses import Entry

# The columns the answer shows: the fields of the Entry response model.
ANSWER_COLUMNS = tuple(getattr(TimeEntry, name).alias(name) for name in Entry.model_fields)
# How PostgreSQL writes a field of each type as the Entry model's JSON does: timestamps in
# UTC with a Z and microseconds only when there are some, whole floats with ".0"; UUIDs
# and text are JSON strings already.
_RENDERED = {
    datetime: (
        "to_char(t.{0} AT TIME ZONE 'UTC', CASE WHEN date_trunc('second', t.{0}) = t.{0}"
        """ THEN 'YYYY-MM-DD"T"HH24:MI:SS"Z"' ELSE 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"' END)"""
    ),
    float: "(CASE WHEN t.{0} = trunc(t.{0}) THEN t.{0}::text || '.0' ELSE t.{0}::text END)::json",
}


def _rendered(name: str, annotation: Any) -> str:
    """Return the SQL that writes column t.NAME as a field of type ANNOTATION in JSON."""
    if isinstance(annotation, UnionType):
        annotation = next(kind for kind in get_args(annotation) if kind is not type(None))
    # Booleans, UUIDs, text and jsonb (tags) are written by row_to_json as they are.
    return _RENDERED.get(annotation, "t.{0}").format(name)


# The Entry model's computed fields, as SQL over the same row.
_COMPUTED = {"running": "t.duration IS NULL"}
# One entry as the Entry model's fields, for PostgreSQL to write as JSON (row_to_json): the
# list of a big page spends its time turning rows into objects and back into text otherwise.
# Computed fields come last, where pydantic writes them.
ENTRY_FIELDS = ", ".join(
    [
        *(f'{_rendered(name, f.annotation)} AS "{name}"' for name, f in Entry.model_fields.items()),
        *(f'{_COMPUTED[name]} AS "{name}"' for name in Entry.model_computed_fields),
    ]
)
EXPORT_CHUNK = 1000
# The filters that keep the entries whose column of that name equals the value asked for.
EQUAL_FILTERS = ("source", "project", "client", "task", "billable")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Whose entries a query covers: one user, a list of users, a query of user ids, or everyone.
Owners = uuid.UUID | list[uuid.UUID] | peewee.SelectQuery | None


@dataclass(frozen=True)
class Page:
    """One page of entries (rows of ANSWER_COLUMNS) and the cursor of the next page, if any."""

    items: list[dict[str, Any]] | list[str]
    next_cursor: str | None
    rendered: bool = False  # the items are JSON text PostgreSQL wrote (ENTRY_FIELDS)


def owned_by(owners: Owners, *columns: peewee.Node) -> peewee.ModelSelect:
    """Select COLUMNS (default: every field) of the entries of OWNERS."""
    query = TimeEntry.select(*columns)
    if owners is None:
        return query
    if isinstance(owners, uuid.UUID):
        return query.where(TimeEntry.user == owners)
    return query.where(TimeEntry.user.in_(owners))


def whose(principal: Principal, filters: EntryFilters, service_scope: str) -> Owners:
    """Return whose entries FILTERS name with `user`, `team` or `all` (one of them is set).

    Only people PRINCIPAL may see (services: with SERVICE_SCOPE): naming anyone else is a
    403; `all` is everyone the caller may see, a 403 for whom that is only themselves.
    """
    if filters.team is not None:
        return _team(principal, filters.team, service_scope)
    if filters.user:
        return _people(principal, filters.user, service_scope)
    if not sees_everyone(principal, service_scope) and principal.role != MANAGER:
        raise APIError(403, "Only admins, managers and services with the scope may ask for all.")
    return visible_user_ids(principal, service_scope)


def _team(principal: Principal, team_id: uuid.UUID, service_scope: str) -> peewee.SelectQuery:
    """Return a query of TEAM_ID's people, if PRINCIPAL sees everyone or manages the team."""
    if sees_everyone(principal, service_scope):
        if not Team.select().where(Team.id == team_id).exists():
            raise APIError(404, "The team was not found.")
    elif principal.is_service or not (
        managed_team_ids(principal.user_id).where(Membership.team == team_id).exists()
    ):
        raise APIError(403, "Only admins and the team's managers may read a team's entries.")
    return Membership.select(Membership.user).where(Membership.team == team_id)


def _people(principal: Principal, ids: list[uuid.UUID], service_scope: str) -> list[uuid.UUID]:
    """Return IDS without repeats, if PRINCIPAL may see each of them."""
    wanted = list(dict.fromkeys(ids))
    visible = visible_user_ids(principal, service_scope)
    known = User.select(User.id).where(User.id.in_(wanted))
    if visible is not None:
        known = known.where(User.id.in_(visible))
    found = {row.id for row in known}
    if len(found) < len(wanted):
        if visible is not None:
            raise APIError(403, "Only admins and the managers of their teams may read those users.")
        unknown = [{"field": "user", "message": f"no user {i}"} for i in wanted if i not in found]
        raise APIError(404, "A user was not found.", errors=unknown)
    return wanted


def filtered(query: peewee.ModelSelect, filters: EntryFilters) -> peewee.ModelSelect:
    """Apply the list filters (range on the start, source, project, client, task, billable,
    tags)."""
    if filters.from_ is not None:
        query = query.where(TimeEntry.date >= filters.from_)
    if filters.to is not None:
        query = query.where(TimeEntry.date < filters.to)
    for name in EQUAL_FILTERS:
        value = getattr(filters, name)
        if value is not None:
            query = query.where(getattr(TimeEntry, name) == value)
    if filters.tag:
        query = query.where(tagged(filters.tag))
    return query


def tagged(tags: list[str]) -> peewee.Node:
    """Return the condition that an entry has every one of TAGS.

    PostgreSQL asks whether the jsonb array contains theirs; SQLite whether each is in it.
    """
    if is_postgres(db):
        wanted = peewee.Value(TimeEntry.tags.db_value(tags), converter=False)
        return peewee.Expression(TimeEntry.tags, "@>", peewee.Cast(wanted, "jsonb"))
    has = [
        peewee.fn.EXISTS(
            peewee.Select([peewee.fn.json_each(TimeEntry.tags)], [peewee.SQL("1")]).where(
                peewee.SQL("value") == tag
            )
        )
        for tag in tags
    ]
    return functools.reduce(operator.and_, has)


def list_entries(owners: Owners, filters: EntryQuery) -> Page:
    """Return one page of the OWNERS' entries, newest first, keyset-paginated.

    On PostgreSQL the items come back as JSON text rendered by the database (ENTRY_FIELDS);
    elsewhere as rows for the Entry model to serialise.
    """
    after = decode_cursor(filters.cursor) if filters.cursor else None
    query = filtered(owned_by(owners, *ANSWER_COLUMNS), filters)
    if after is not None:
        key, position = _keyset(*after)
        query = query.where(key < position)
    query = query.order_by(TimeEntry.date.desc(), TimeEntry.id.desc()).limit(filters.limit + 1)
    if not is_postgres(db):
        rows = list(query.dicts())
        cursor = _next_cursor(rows, filters.limit, lambda row: (row["date"], row["id"]))
        return Page(rows, cursor)
    page_sql, params = query.sql()
    # Every part is a constant or SQL that peewee rendered with its parameters.
    entry = f"CROSS JOIN LATERAL (SELECT {ENTRY_FIELDS}) AS e"
    sql = f"SELECT row_to_json(e)::text, t.date, t.id FROM ({page_sql}) AS t {entry}"  # noqa: S608
    sql += " ORDER BY t.date DESC, t.id DESC"
    rows = list(db.execute_sql(sql, params))
    cursor = _next_cursor(rows, filters.limit, lambda row: (row[1], uuid.UUID(str(row[2]))))
    return Page([text for text, _date, _id in rows], cursor, rendered=True)


def _next_cursor(rows: list[Any], limit: int, key: Callable[[Any], tuple[datetime, uuid.UUID]]):
    """Drop the row past LIMIT from ROWS; return the cursor after the last kept one, if any."""
    if len(rows) <= limit:
        return None
    del rows[limit:]
    return encode_cursor(*key(rows[-1]))


def export_entries(owners: Owners, filters: EntryFilters) -> Iterator[TimeEntry]:
    """Return the OWNERS' matching entries oldest first, one keyset chunk in memory at a time.

    Each entry's `user` holds the person's email and display name (read in the same query).
    The first chunk is read now, so a database failure is an error response, not a
    download that breaks off.
    """
    query = owned_by(owners, TimeEntry, User.id, User.email, User.display_name).join(
        User, on=(TimeEntry.user == User.id)
    )
    query = filtered(query, filters).order_by(TimeEntry.date, TimeEntry.id)
    return _chunks(query, list(query.limit(EXPORT_CHUNK)))


def _chunks(query: peewee.ModelSelect, chunk: list[TimeEntry]) -> Iterator[TimeEntry]:
    while chunk:
        yield from chunk
        if len(chunk) < EXPORT_CHUNK:
            return
        key, position = _keyset(chunk[-1].date, chunk[-1].id)
        chunk = list(query.where(key > position).limit(EXPORT_CHUNK))


def _keyset(date: datetime, entry_id: uuid.UUID) -> tuple[peewee.Tuple, peewee.Tuple]:
    """Return the (date, id) key of a row and the position (DATE, ENTRY_ID) to compare it to."""
    key = peewee.Tuple(TimeEntry.date, TimeEntry.id)
    return key, peewee.Tuple(TimeEntry.date.to_value(date), TimeEntry.id.to_value(entry_id))


def get_entry(owners: Owners, entry_id: uuid.UUID) -> TimeEntry:
    """Return the entry if it is one of the OWNERS'; anyone else's does not exist here."""
    return owned_by(owners).where(TimeEntry.id == entry_id).get()


def create_entry(user_id: uuid.UUID, data: EntryIn, writer: str) -> TimeEntry:
    """Store a new entry for the user, written by WRITER (a user's or a service's id);
    without an external id, its own id is its key.

    Every entry thus has a (source, external_id) key, so an export re-imports onto it.
    """
    now = utcnow()
    fields = data.model_dump()
    entry_id = time_ordered_id()
    fields["external_id"] = fields["external_id"] or str(entry_id)
    return TimeEntry.create(
        id=entry_id, user=user_id, created_at=now, updated_at=now, updated_by=writer, **fields
    )


def entry_version(entry: TimeEntry) -> str:
    """Return the entry's version (its ETag): updated_at in microseconds since 1970."""
    return str((entry.updated_at - EPOCH) // timedelta(microseconds=1))


def _check_version(entry: TimeEntry, if_match: Collection[str] | None) -> None:
    if if_match is None or "*" in if_match or entry_version(entry) in if_match:
        return
    raise _stale()


def _stale() -> APIError:
    return APIError(412, "The entry has changed since that version; fetch it and try again.")


def update_entry(
    owners: Owners,
    entry_id: uuid.UUID,
    changes: dict[str, Any],
    writer: str,
    if_match: Collection[str] | None = None,
) -> TimeEntry:
    """Apply CHANGES, made by WRITER, to one of the OWNERS' entries and return it; IF_MATCH,
    if given, lists the versions it may still have ("*": any), else 412 and nothing changes."""
    with db.atomic():
        entry = get_entry(owners, entry_id)
        _check_version(entry, if_match)
        if not changes:
            return entry
        seen = entry.updated_at
        # Versions only move forward, even if this replica's clock is behind the last writer's.
        entry.updated_at = max(utcnow(), seen + timedelta(microseconds=1))
        entry.updated_by = uuid.UUID(writer)
        for name, value in changes.items():
            setattr(entry, name, value)
        query = TimeEntry.update(
            **changes, updated_at=entry.updated_at, updated_by=entry.updated_by
        ).where(TimeEntry.id == entry.id)
        if if_match is not None:
            # Compare and set: another writer may have committed since our read.
            query = query.where(TimeEntry.updated_at == seen)
        if not query.execute():
            raise _stale() if if_match is not None else TimeEntry.DoesNotExist
    return entry


def delete_entry(
    owners: Owners, entry_id: uuid.UUID, if_match: Collection[str] | None = None
) -> None:
    """Delete one of the OWNERS' entries (404 when it is not, 412 when IF_MATCH is stale)."""
    with db.atomic():
        entry = get_entry(owners, entry_id)
        _check_version(entry, if_match)
        query = TimeEntry.delete().where(TimeEntry.id == entry.id)
        if if_match is not None:
            query = query.where(TimeEntry.updated_at == entry.updated_at)
        if not query.execute():
            raise _stale() if if_match is not None else TimeEntry.DoesNotExist
