"""Time entries of one user: keyset-paged listing, export, and single reads and writes."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from collections.abc import Collection
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import Any
from typing import get_args

import peewee

from service.db import db
from service.db import is_postgres
from service.errors import APIError
from service.models import TimeEntry
from service.models import time_ordered_id
from service.models import utcnow
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
    kinds = [kind for kind in get_args(annotation) or (annotation,) if kind is not type(None)]
    return _RENDERED.get(kinds[0], "t.{0}").format(name)


# One entry as the Entry model's fields, for PostgreSQL to write as JSON (row_to_json): the
# list of a big page spends its time turning rows into objects and back into text otherwise.
ENTRY_FIELDS = ", ".join(
    f'{_rendered(name, field.annotation)} AS "{name}"' for name, field in Entry.model_fields.items()
)
EXPORT_CHUNK = 1000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Page:
    """One page of entries (rows of ANSWER_COLUMNS) and the cursor of the next page, if any."""

    items: list[dict[str, Any]] | list[str]
    next_cursor: str | None
    rendered: bool = False  # the items are JSON text PostgreSQL wrote (ENTRY_FIELDS)


def owned_by(user_id: uuid.UUID) -> peewee.ModelSelect:
    """Select the entries of one user."""
    return TimeEntry.select().where(TimeEntry.user == user_id)


def filtered(query: peewee.ModelSelect, filters: EntryFilters) -> peewee.ModelSelect:
    """Apply the list filters (range on the start, source, project)."""
    if filters.from_ is not None:
        query = query.where(TimeEntry.date >= filters.from_)
    if filters.to is not None:
        query = query.where(TimeEntry.date < filters.to)
    if filters.source is not None:
        query = query.where(TimeEntry.source == filters.source)
    if filters.project is not None:
        query = query.where(TimeEntry.project == filters.project)
    return query


def list_entries(user_id: uuid.UUID, filters: EntryQuery) -> Page:
    """Return one page of the user's entries, newest first, keyset-paginated.

    On PostgreSQL the items come back as JSON text rendered by the database (ENTRY_FIELDS);
    elsewhere as rows for the Entry model to serialise.
    """
    after = decode_cursor(filters.cursor) if filters.cursor else None
    query = filtered(TimeEntry.select(*ANSWER_COLUMNS).where(TimeEntry.user == user_id), filters)
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


def export_entries(user_id: uuid.UUID, filters: EntryFilters) -> Iterator[TimeEntry]:
    """Return the user's matching entries oldest first, one keyset chunk in memory at a time.

    The first chunk is read now, so a database failure is an error response, not a
    download that breaks off.
    """
    query = filtered(owned_by(user_id), filters).order_by(TimeEntry.date, TimeEntry.id)
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


def get_entry(user_id: uuid.UUID, entry_id: uuid.UUID) -> TimeEntry:
    """Return the user's entry; another user's entry does not exist for them."""
    return owned_by(user_id).where(TimeEntry.id == entry_id).get()


def create_entry(user_id: uuid.UUID, data: EntryIn) -> TimeEntry:
    """Store a new entry for the user; without an external id, its own id is its key.

    Every entry thus has a (source, external_id) key, so an export re-imports onto it.
    """
    now = utcnow()
    fields = data.model_dump()
    entry_id = time_ordered_id()
    fields["external_id"] = fields["external_id"] or str(entry_id)
    return TimeEntry.create(id=entry_id, user=user_id, created_at=now, updated_at=now, **fields)


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
    user_id: uuid.UUID,
    entry_id: uuid.UUID,
    changes: dict[str, Any],
    if_match: Collection[str] | None = None,
) -> TimeEntry:
    """Apply CHANGES to the user's entry and return it; IF_MATCH, if given, lists the
    versions it may still have ("*": any), else 412 and nothing changes."""
    with db.atomic():
        entry = get_entry(user_id, entry_id)
        _check_version(entry, if_match)
        if not changes:
            return entry
        seen = entry.updated_at
        # Versions only move forward, even if this replica's clock is behind the last writer's.
        entry.updated_at = max(utcnow(), seen + timedelta(microseconds=1))
        for name, value in changes.items():
            setattr(entry, name, value)
        query = TimeEntry.update(**changes, updated_at=entry.updated_at).where(
            TimeEntry.id == entry.id
        )
        if if_match is not None:
            # Compare and set: another writer may have committed since our read.
            query = query.where(TimeEntry.updated_at == seen)
        if not query.execute():
            raise _stale() if if_match is not None else TimeEntry.DoesNotExist
    return entry


def delete_entry(
    user_id: uuid.UUID, entry_id: uuid.UUID, if_match: Collection[str] | None = None
) -> None:
    """Delete the user's entry (404 when it is not theirs, 412 when IF_MATCH is stale)."""
    with db.atomic():
        entry = get_entry(user_id, entry_id)
        _check_version(entry, if_match)
        query = TimeEntry.delete().where(TimeEntry.id == entry.id)
        if if_match is not None:
            query = query.where(TimeEntry.updated_at == entry.updated_at)
        if not query.execute():
            raise _stale() if if_match is not None else TimeEntry.DoesNotExist
