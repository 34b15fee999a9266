"""Time entries of one user: keyset-paged listing, single writes and the bulk upsert."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from collections.abc import Iterable
from collections.abc import Iterator
from dataclasses import asdict
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import Any

import peewee

from service.db import db
from service.db import rerun_on_deadlock
from service.errors import APIError
from service.models import TimeEntry
from service.models import utcnow
from service.schemas import BulkEntry
from service.schemas import EntryFilters
from service.schemas import EntryIn
from service.schemas import EntryQuery
from service.schemas import decode_cursor
from service.schemas import encode_cursor

CONTENT_FIELDS = ("date", "duration", "project", "description")
UPSERT_CHUNK = 500
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
EXPORT_CHUNK = 1000


@dataclass(frozen=True)
class Page:
    """One page of entries and the cursor of the next page, if any."""

    items: list[TimeEntry]
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
    """Return one page of the user's entries, newest first, keyset-paginated."""
    query = filtered(owned_by(user_id), filters)
    if filters.cursor:
        key, position = _keyset(*decode_cursor(filters.cursor))
        query = query.where(key < position)
    rows = list(query.order_by(TimeEntry.date.desc(), TimeEntry.id.desc()).limit(filters.limit + 1))
    if len(rows) <= filters.limit:
        return Page(rows, None)
    last = rows[filters.limit - 1]
    return Page(rows[: filters.limit], encode_cursor(last.date, last.id))


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
        query = TimeEntry.update(
            {TimeEntry._meta.fields[name]: getattr(entry, name) for name in changes}
            | {TimeEntry.updated_at: entry.updated_at}
        ).where(TimeEntry.id == entry.id)
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
    """Insert new and update changed entries by (source, external_id), in one transaction.

    Items are written in key order, so racing batches lock rows in the same order; a
    deadlock PostgreSQL still reports reruns the whole batch.
    """
    ordered = sorted(items, key=lambda item: (item.source, item.external_id))
    return rerun_on_deadlock(lambda: _bulk_upsert(user_id, ordered))


def _bulk_upsert(user_id: uuid.UUID, items: list[BulkEntry]) -> UpsertCounts:
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
