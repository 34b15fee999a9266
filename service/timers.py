"""Running timers: an entry whose duration is null until it stops; one per user at most.

The database keeps a user's running entries to one (a partial unique index, see
service.models). Starting a timer while one runs stops that one at the new start, as
Toggl does; when two starts race, the loser's insert breaks the index and it starts over,
then finding the winner's timer and stopping it in turn. A timer left running longer
than the longest entry is never stopped at "now": the caller must say when it ended.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta

import peewee

from service.db import db
from service.db import is_postgres
from service.errors import APIError
from service.export import iso
from service.models import MAX_HOURS
from service.models import TimeEntry
from service.models import time_ordered_id
from service.models import utcnow
from service.schemas.requests import TimerStart

log = logging.getLogger(__name__)

# How far ahead of this server's clock a client's `start` or `stop` may be.
CLOCK_SKEW = timedelta(minutes=1)
LONGEST = timedelta(hours=MAX_HOURS)
# Each round of a race lets one start in: a burst of this many starts at once all succeed.
START_ATTEMPTS = 10


@dataclass(frozen=True)
class Started:
    """A timer just started, and the one its start stopped (None when none ran)."""

    entry: TimeEntry
    stopped: TimeEntry | None


def running_timer(user_id: uuid.UUID) -> TimeEntry:
    """Return the user's running entry; 404 when none runs."""
    entry = _running(user_id)
    if entry is None:
        raise _none_running()
    return entry


def start_timer(user_id: uuid.UUID, data: TimerStart, writer: str) -> Started:
    """Start a timer for the user, written by WRITER; stop the running one at its start."""
    for attempt in range(1, START_ATTEMPTS + 1):
        try:
            with db.atomic():
                return _start(user_id, data, uuid.UUID(writer), utcnow())
        except peewee.IntegrityError:
            log.info("a timer start lost a race, attempt %d of %d", attempt, START_ATTEMPTS)
    raise APIError(409, "Other timers kept starting at the same moment; try again.")


def stop_timer(user_id: uuid.UUID, stop: datetime | None, writer: str) -> TimeEntry:
    """Stop the user's running timer at STOP (default: now) and return it.

    A timer that has run longer than the longest entry needs an explicit STOP (422).
    """
    now = utcnow()
    with db.atomic():
        entry = _running(user_id, lock=True)
        if entry is None:
            raise _none_running()
        if stop is None and now - entry.date > LONGEST:
            raise APIError(
                422,
                f"The timer has run for more than {MAX_HOURS} hours, longer than an entry may "
                "last: send `stop` to say when it ended, or discard it.",
                errors=[{"field": "stop", "message": "is required for a forgotten timer"}],
            )
        end = stop or now
        _not_ahead(end, now, "stop")
        if not timedelta(0) < end - entry.date <= LONGEST:
            message = f"must be after the start and at most {MAX_HOURS} hours after it"
            raise _invalid("stop", message)
        _stop_at(entry, end, uuid.UUID(writer), now)
    return entry


def discard_timer(user_id: uuid.UUID) -> None:
    """Delete the user's running timer; 404 when none runs."""
    running = (TimeEntry.user == user_id) & TimeEntry.duration.is_null()
    if not TimeEntry.delete().where(running).execute():
        raise _none_running()


def _start(user_id: uuid.UUID, data: TimerStart, writer: uuid.UUID, now: datetime) -> Started:
    """Insert the running entry, after stopping the one running (one transaction)."""
    start = data.start or now
    _not_ahead(start, now, "start")
    running = _running(user_id, lock=True)
    if running is not None:
        _stop_for(running, start, writer, now)
    entry_id = time_ordered_id()
    entry = TimeEntry.create(
        id=entry_id,
        user=user_id,
        external_id=str(entry_id),
        date=start,
        duration=None,
        created_at=now,
        updated_at=now,
        updated_by=writer,
        **data.model_dump(exclude={"start"}),
    )
    return Started(entry, running)


def _stop_for(running: TimeEntry, start: datetime, writer: uuid.UUID, now: datetime) -> None:
    """Stop RUNNING at START, the start of the timer that replaces it."""
    if start <= running.date:
        raise APIError(
            409,
            f"A timer has run since {iso(running.date)}: a new one must start after it.",
        )
    if start - running.date > LONGEST:
        message = (
            f"is more than {MAX_HOURS} hours after the running timer's start: stop that one "
            "with an explicit `stop` first"
        )
        raise _invalid("start", message)
    _stop_at(running, start, writer, now)


def _stop_at(entry: TimeEntry, end: datetime, writer: uuid.UUID, now: datetime) -> None:
    """Give the locked running ENTRY its duration up to END, and a new version."""
    entry.duration = (end - entry.date) / timedelta(hours=1)
    # Versions only move forward, even if this replica's clock is behind the last writer's.
    entry.updated_at = max(now, entry.updated_at + timedelta(microseconds=1))
    entry.updated_by = writer
    entry.save(only=[TimeEntry.duration, TimeEntry.updated_at, TimeEntry.updated_by])


def _running(user_id: uuid.UUID, *, lock: bool = False) -> TimeEntry | None:
    """Return the user's running entry, or None; LOCK it (PostgreSQL) until the commit.

    Locked, a concurrent stop or start waits, then finds the entry no longer running.
    """
    query = TimeEntry.select().where((TimeEntry.user == user_id) & TimeEntry.duration.is_null())
    if lock and is_postgres(db):
        query = query.for_update()
    return query.get_or_none()


def _not_ahead(moment: datetime, now: datetime, field: str) -> None:
    if moment > now + CLOCK_SKEW:
        raise _invalid(field, "is in the future")


def _invalid(field: str, message: str) -> APIError:
    return APIError(422, "The request is invalid.", errors=[{"field": field, "message": message}])


def _none_running() -> APIError:
    return APIError(404, "No timer is running.")
