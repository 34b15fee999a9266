"""Writes of many entries by their (source, external_id) key: bulk upserts, imports, syncs."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from typing import TypeVar

import orjson

from service.db import db
from service.db import is_postgres
from service.db import rerun_on_deadlock
from service.models import TimeEntry
from service.models import time_ordered_id
from service.models import time_ordered_ids
from service.models import utcnow
from service.schemas.requests import BulkEntry

# What a write may change; tags arrive as a canonical list (sorted, without repeats).
CONTENT_FIELDS = (
    "date",
    "duration",
    "project",
    "description",
    "billable",
    "tags",
    "client",
    "task",
)
# Rows per statement of a bulk write: the transaction holds them all, the statement a batch.
BATCH_ROWS = 5000
CHUNK_ROWS = 500
T = TypeVar("T")
_DONE = object()
# One statement per batch, its rows passed as one JSON document that PostgreSQL reads with
# json_to_recordset. New keys insert, changed rows update (and name the writer), unchanged
# rows are left alone (no dead tuple, the last writer kept), and RETURNING tells inserted
# rows (xmax = 0) from updated ones. Each row brings the id it gets if it is new
# (time_ordered_ids), and a `user_id` only when it belongs to someone other than the
# statement's user, so a one-person file's document is no larger than before teams.
POSTGRES_UPSERT = """
INSERT INTO time_entries AS t
    (id, user_id, source, external_id, date, duration, project, description,
     billable, tags, client, task, created_at, updated_at, updated_by)
SELECT id, COALESCE(batch.user_id, %(user)s::uuid), source, external_id, date, duration,
       project, description, billable, tags, client, task, %(now)s, %(now)s, %(writer)s::uuid
FROM json_to_recordset(%(rows)s::json)
    AS batch (id uuid, user_id uuid, source text, external_id text, date timestamptz,
              duration float8, project text, description text, billable boolean, tags jsonb,
              client text, task text)
ON CONFLICT (user_id, source, external_id) DO UPDATE
    SET (date, duration, project, description, billable, tags, client, task, updated_at,
         updated_by)
      = (EXCLUDED.date, EXCLUDED.duration, EXCLUDED.project, EXCLUDED.description,
         EXCLUDED.billable, EXCLUDED.tags, EXCLUDED.client, EXCLUDED.task,
         EXCLUDED.updated_at, EXCLUDED.updated_by)
    WHERE (t.date, t.duration, t.project, t.description, t.billable, t.tags, t.client, t.task)
          IS DISTINCT FROM
          (EXCLUDED.date, EXCLUDED.duration, EXCLUDED.project, EXCLUDED.description,
           EXCLUDED.billable, EXCLUDED.tags, EXCLUDED.client, EXCLUDED.task)
RETURNING (xmax = 0)
"""

Batches = Callable[[], Iterable[list[dict[str, Any]]]]


@dataclass(frozen=True)
class UpsertCounts:
    """What a bulk upsert did, item by item."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0

    def as_dict(self) -> dict[str, int]:
        """Return the counts as a plain dict."""
        return asdict(self)


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


def bulk_upsert(user_id: uuid.UUID, items: list[BulkEntry], *, writer: uuid.UUID) -> UpsertCounts:
    """Insert new and update changed entries by (source, external_id), in one transaction."""
    return upsert_rows(user_id, [item.model_dump() for item in items], writer=writer)


def upsert_rows(
    user_id: uuid.UUID, rows: list[dict[str, Any]], *, writer: uuid.UUID, dry_run: bool = False
) -> UpsertCounts:
    """Upsert already-valid entry dicts by (source, external_id) in one transaction.

    Each row has source, external_id and the CONTENT_FIELDS; keys must not repeat.
    WRITER (a user's or a service client's id) is recorded as `updated_by` on every row it
    creates or changes. With DRY_RUN the counts are computed and nothing is written.
    """
    ordered = sorted(rows, key=_key)
    batches = [ordered[start : start + BATCH_ROWS] for start in range(0, len(ordered), BATCH_ROWS)]
    return upsert_batches(user_id, lambda: batches, writer=writer, dry_run=dry_run)


def upsert_batches(
    user_id: uuid.UUID, batches: Batches, *, writer: uuid.UUID, dry_run: bool = False
) -> UpsertCounts:
    """Upsert the rows of the batches BATCHES() yields in one transaction, as they come.

    A row goes to USER_ID unless it names another user as `user_id` (a UUID string); keys
    (user, source, external_id) must not repeat across batches. An exception from the
    batches rolls back all of them. Each batch is written in key order, so racing writers
    lock rows in the same order; a deadlock PostgreSQL still reports calls BATCHES again
    and reruns the whole (once only inside an outer transaction).
    """
    if is_postgres(db) and not dry_run:
        return rerun_on_deadlock(lambda: _upsert_postgres(user_id, writer, batches()))
    return rerun_on_deadlock(lambda: _upsert_compared(user_id, writer, batches(), dry_run))


def read_ahead(items: Iterator[T]) -> Iterator[T]:
    """Yield ITEMS while a thread already produces the next one (its exception included).

    For a producer feeding a database: it works while the caller waits on the server with
    the GIL released. Closing the iterator early waits for the item in hand.
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="read-ahead") as pool:
        pending = pool.submit(next, items, _DONE)
        while (item := pending.result()) is not _DONE:
            pending = pool.submit(next, items, _DONE)
            yield item


def _key(row: dict[str, Any]) -> tuple[str, str]:
    return row["source"], row["external_id"]


def _upsert_postgres(
    user_id: uuid.UUID, writer: uuid.UUID, batches: Iterable[list[dict[str, Any]]]
) -> UpsertCounts:
    """Write each batch with one POSTGRES_UPSERT statement; count what it did."""
    now = utcnow()
    rows = 0
    inserted: list[bool] = []
    fixed = {"user": str(user_id), "writer": str(writer), "now": now}

    def statements() -> Iterator[tuple[int, dict[str, Any]]]:
        for batch in batches:
            ordered = sorted(batch, key=_key)
            ids = time_ordered_ids(len(ordered))
            document = [{**row, "id": new} for row, new in zip(ordered, ids, strict=True)]
            yield len(ordered), {**fixed, "rows": orjson.dumps(document).decode()}

    with db.atomic():
        # The next batch is read, checked and encoded while PostgreSQL writes this one.
        for count, params in read_ahead(statements()):
            inserted += [new for (new,) in db.execute_sql(POSTGRES_UPSERT, params).fetchall()]
            rows += count
    created = sum(inserted)
    return UpsertCounts(created, len(inserted) - created, rows - len(inserted))


def _upsert_compared(
    user_id: uuid.UUID, writer: uuid.UUID, batches: Iterable[list[dict[str, Any]]], dry_run: bool
) -> UpsertCounts:
    """Compare each chunk with the stored entries; write the new and changed ones (unless
    DRY_RUN) with INSERT ... ON CONFLICT."""
    created = updated = unchanged = 0
    now = utcnow()
    with db.atomic():
        for batch in batches:
            ordered = sorted(batch, key=_key)
            for start in range(0, len(ordered), CHUNK_ROWS):
                chunk = ordered[start : start + CHUNK_ROWS]
                stored = _stored_content(user_id, chunk)
                changed = [
                    row for row in chunk if stored.get(_owned_key(user_id, row)) != _content(row)
                ]
                new = sum(_owned_key(user_id, row) not in stored for row in changed)
                created, updated = created + new, updated + len(changed) - new
                unchanged += len(chunk) - len(changed)
                if changed and not dry_run:
                    _insert_or_update(user_id, writer, changed, now)
    return UpsertCounts(created, updated, unchanged)


def _content(row: dict[str, Any]) -> tuple:
    return tuple(row[name] for name in CONTENT_FIELDS)


def _owner(user_id: uuid.UUID, row: dict[str, Any]) -> uuid.UUID:
    """Return whose entry ROW is: the user it names, else USER_ID."""
    named = row.get("user_id")
    return user_id if named is None else uuid.UUID(named)


def _owned_key(user_id: uuid.UUID, row: dict[str, Any]) -> tuple[uuid.UUID, str, str]:
    return _owner(user_id, row), row["source"], row["external_id"]


def _stored_content(user_id: uuid.UUID, rows: list[dict[str, Any]]) -> dict[tuple, tuple]:
    """Return the stored CONTENT_FIELDS of ROWS' keys, asking per owner and source."""
    groups: dict[tuple[uuid.UUID, str], list[str]] = {}
    for row in rows:
        groups.setdefault((_owner(user_id, row), row["source"]), []).append(row["external_id"])
    columns = [getattr(TimeEntry, name) for name in CONTENT_FIELDS]
    found = {}
    for (owner, source), external_ids in groups.items():
        query = TimeEntry.select(TimeEntry.external_id, *columns).where(
            (TimeEntry.user == owner)
            & (TimeEntry.source == source)
            & TimeEntry.external_id.in_(external_ids)
        )
        found.update({(owner, source, row[0]): row[1:] for row in query.tuples()})
    return found


def _insert_or_update(
    user_id: uuid.UUID, writer: uuid.UUID, rows: list[dict[str, Any]], now: datetime
) -> None:
    """Insert ROWS, or update the stored entries with their keys; WRITER changed them."""
    values = [
        {
            "id": time_ordered_id(),
            "user": _owner(user_id, row),
            "created_at": now,
            "updated_at": now,
            "updated_by": writer,
            **{name: row[name] for name in ("source", "external_id", *CONTENT_FIELDS)},
        }
        for row in rows
    ]
    preserved = [getattr(TimeEntry, name) for name in (*CONTENT_FIELDS, "updated_at", "updated_by")]
    TimeEntry.insert_many(values).on_conflict(
        conflict_target=[TimeEntry.user, TimeEntry.source, TimeEntry.external_id],
        preserve=preserved,
    ).execute()


def delete_by_keys(user_id: uuid.UUID, source: str, external_ids: list[str]) -> int:
    """Delete the user's entries of SOURCE with these external ids; return how many went."""
    deleted = 0
    for start in range(0, len(external_ids), CHUNK_ROWS):
        chunk = external_ids[start : start + CHUNK_ROWS]
        deleted += (
            TimeEntry.delete()
            .where(
                (TimeEntry.user == user_id)
                & (TimeEntry.source == source)
                & (TimeEntry.external_id.in_(chunk))
            )
            .execute()
        )
    return deleted


def external_ids_between(
    user_id: uuid.UUID, source: str, start: datetime, end: datetime
) -> list[str]:
    """Return the external ids of the user's SOURCE entries starting in [START, END)."""
    query = TimeEntry.select(TimeEntry.external_id).where(
        (TimeEntry.user == user_id)
        & (TimeEntry.source == source)
        & (TimeEntry.date >= start)
        & (TimeEntry.date < end)
    )
    return [external_id for (external_id,) in query.tuples()]
