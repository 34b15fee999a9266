"""Time entries of one user: keyset-paged listing, single writes and the bulk upsert."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from collections.abc import Iterator
from dataclasses import asdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import peewee

from service.db import db
from service.db import is_postgres
from service.models import TimeEntry
from service.models import utcnow
from service.schemas import BulkEntry
from service.schemas import EntryFilters
from service.schemas import EntryIn
from service.schemas import EntryQuery
from service.schemas import decode_cursor
from service.schemas import encode_cursor

CONTENT_FIELDS = ("date", "duration", "project", "description")
LIST_FIELDS = tuple(field for field in TimeEntry._meta.sorted_fields if field.name != "user")
UPSERT_CHUNK = 500
EXPORT_CHUNK = 1000
# One statement per batch, its rows passed as one array per column (cheap to send and to
# parse): new keys insert, changed rows update, unchanged rows are left alone (no dead
# tuple), and RETURNING tells inserted rows (xmax = 0) from updated ones.
POSTGRES_UPSERT = """
INSERT INTO time_entries AS t
    (id, user_id, source, external_id, date, duration, project, description,
     created_at, updated_at)
SELECT gen_random_uuid(), %(user)s::uuid, source, external_id, date, duration, project,
       description, %(now)s, %(now)s
FROM unnest(%(source)s::text[], %(external_id)s::text[], %(date)s::timestamptz[],
            %(duration)s::float8[], %(project)s::text[], %(description)s::text[])
    AS batch (source, external_id, date, duration, project, description)
ON CONFLICT (user_id, source, external_id) DO UPDATE
    SET (date, duration, project, description, updated_at)
      = (EXCLUDED.date, EXCLUDED.duration, EXCLUDED.project, EXCLUDED.description,
         EXCLUDED.updated_at)
    WHERE (t.date, t.duration, t.project, t.description) IS DISTINCT FROM
          (EXCLUDED.date, EXCLUDED.duration, EXCLUDED.project, EXCLUDED.description)
RETURNING (xmax = 0)
"""


@dataclass(frozen=True)
class Page:
    """One page of entries and the cursor of the next page, if any."""

    items: list[dict[str, Any]]
    next_cursor: str | None


@dataclass(frozen=True)
class UpsertCounts:
    """What a bulk upsert did, item by item."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0

    def as_dict(self) -> dict[str, int]:
        """Return the counts as a plain dict."""
        return asdict(self)


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
    """Return one page of the user's entries as field dicts, newest first, keyset-paginated."""
    after = decode_cursor(filters.cursor) if filters.cursor else None
    params = _list_params(user_id, filters, after)
    rows = [_row_dict(row) for row in db.execute_sql(_list_sql(user_id, filters, after), params)]
    if len(rows) <= filters.limit:
        return Page(rows, None)
    last = rows[filters.limit - 1]
    return Page(rows[: filters.limit], encode_cursor(last["date"], last["id"]))


def list_query(
    user_id: uuid.UUID, filters: EntryQuery, after: tuple[datetime, uuid.UUID] | None
) -> peewee.ModelSelect:
    """Build the list query: the FILTERS, then the keyset page that starts AFTER a cursor."""
    query = filtered(TimeEntry.select(*LIST_FIELDS).where(TimeEntry.user == user_id), filters)
    if after is not None:
        key, position = _keyset(*after)
        query = query.where(key < position)
    return query.order_by(TimeEntry.date.desc(), TimeEntry.id.desc()).limit(filters.limit + 1)


# Rendering the query costs more than running it, and its SQL depends only on which filters
# are present (and the database): keep it per shape and compute just the parameters.
_LIST_SQL: dict[tuple, str] = {}


def _list_sql(user_id, filters: EntryQuery, after) -> str:
    shape = (
        type(db.obj),
        *(value is not None for value in (filters.from_, filters.to, filters.source)),
        filters.project is not None,
        after is not None,
    )
    if shape not in _LIST_SQL:
        _LIST_SQL[shape] = list_query(user_id, filters, after).sql()[0]
    return _LIST_SQL[shape]


def _list_params(user_id, filters: EntryQuery, after) -> list[Any]:
    """Return list_query's parameters in the order its SQL takes them."""
    params = [TimeEntry.user.db_value(user_id)]
    for field, value in (
        (TimeEntry.date, filters.from_),
        (TimeEntry.date, filters.to),
        (TimeEntry.source, filters.source),
        (TimeEntry.project, filters.project),
    ):
        if value is not None:
            params.append(field.db_value(value))
    if after is not None:
        params += [TimeEntry.date.db_value(after[0]), TimeEntry.id.db_value(after[1])]
    params.append(filters.limit + 1)
    return params


def _row_dict(row: tuple) -> dict[str, Any]:
    pairs = zip(LIST_FIELDS, row, strict=True)
    return {field.name: field.python_value(value) for field, value in pairs}


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
    entry_id = uuid.uuid4()
    fields["external_id"] = fields["external_id"] or str(entry_id)
    return TimeEntry.create(id=entry_id, user=user_id, created_at=now, updated_at=now, **fields)


def update_entry(user_id: uuid.UUID, entry_id: uuid.UUID, changes: dict[str, Any]) -> TimeEntry:
    """Apply CHANGES to the user's entry and return it."""
    with db.atomic():
        entry = get_entry(user_id, entry_id)
        if changes:
            for name, value in changes.items():
                setattr(entry, name, value)
            entry.updated_at = utcnow()
            entry.save()
    return entry


def delete_entry(user_id: uuid.UUID, entry_id: uuid.UUID) -> None:
    """Delete the user's entry (404 when it is not theirs)."""
    deleted = (
        TimeEntry.delete().where((TimeEntry.user == user_id) & (TimeEntry.id == entry_id)).execute()
    )
    if not deleted:
        raise TimeEntry.DoesNotExist


def duplicate_keys(items: Iterable[BulkEntry]) -> list[int]:
    """Return the indexes of items whose (source, external_id) appeared earlier in the batch."""
    seen: set[tuple[str, str]] = set()
    duplicates = []
    for index, item in enumerate(items):
        key = (item.source, item.external_id)
        if key in seen:
            duplicates.append(index)
        seen.add(key)
    return duplicates


def _existing(user_id: uuid.UUID, items: list[BulkEntry]) -> dict[tuple[str, str], tuple]:
    keys = [peewee.Tuple(item.source, item.external_id) for item in items]
    query = (
        TimeEntry.select(
            TimeEntry.source,
            TimeEntry.external_id,
            *map(TimeEntry._meta.fields.get, CONTENT_FIELDS),
        )
        .where(
            (TimeEntry.user == user_id)
            & (peewee.Tuple(TimeEntry.source, TimeEntry.external_id).in_(keys))
        )
        .tuples()
    )
    return {(row[0], row[1]): row[2:] for row in query}


def _content(item: BulkEntry) -> tuple[datetime, float, str | None, str | None]:
    return (item.date, item.duration, item.project, item.description)


def bulk_upsert(user_id: uuid.UUID, items: list[BulkEntry]) -> UpsertCounts:
    """Insert new and update changed entries by (source, external_id), in one transaction."""
    if is_postgres(db):
        return _upsert_postgres(user_id, [item.model_dump() for item in items])
    created = updated = unchanged = 0
    now = utcnow()
    with db.atomic():
        for start in range(0, len(items), UPSERT_CHUNK):
            chunk = items[start : start + UPSERT_CHUNK]
            existing = _existing(user_id, chunk)
            rows = []
            for item in chunk:
                before = existing.get((item.source, item.external_id))
                if before == _content(item):
                    unchanged += 1
                    continue
                created, updated = (
                    (created + 1, updated) if before is None else (created, updated + 1)
                )
                rows.append(
                    {
                        "id": uuid.uuid4(),
                        "user": user_id,
                        "created_at": now,
                        "updated_at": now,
                        **item.model_dump(),
                    }
                )
            if rows:
                _upsert(rows)
    return UpsertCounts(created, updated, unchanged)


def _upsert(rows: list[dict[str, Any]]) -> None:
    TimeEntry.insert_many(rows).on_conflict(
        conflict_target=[TimeEntry.user, TimeEntry.source, TimeEntry.external_id],
        update={
            **{TimeEntry._meta.fields[name]: peewee.EXCLUDED[name] for name in CONTENT_FIELDS},
            TimeEntry.updated_at: peewee.EXCLUDED.updated_at,
        },
    ).execute()


def _upsert_postgres(user_id: uuid.UUID, rows: list[dict[str, Any]]) -> UpsertCounts:
    """Upsert ROWS (keys unique) with one INSERT ... ON CONFLICT; count what it did."""
    names = ("source", "external_id", *CONTENT_FIELDS)
    columns = {name: [row[name] for row in rows] for name in names}
    params = {"user": str(user_id), "now": utcnow(), **columns}
    with db.atomic():
        inserted = [new for (new,) in db.execute_sql(POSTGRES_UPSERT, params).fetchall()]
    created = sum(inserted)
    return UpsertCounts(created, len(inserted) - created, len(rows) - len(inserted))
