"""Sync jobs: PostgreSQL holds what is due, queued and running; huey only carries wake-ups.

A request or the schedule writes a job row, then sends its id through the queue. A worker
takes the row with one conditional UPDATE, beats while it runs and records the outcome.
A lost wake-up or a killed worker only delays a job: the sweep, every minute, wakes what
waits too long and takes over what stopped beating; upserts make a rerun harmless.
"""

from __future__ import annotations

import contextlib
import logging
import random
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from collections.abc import Mapping
from datetime import date
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import Any

import peewee
import redis
from huey import Huey
from huey import RedisHuey
from huey import SqliteHuey
from huey import crontab

from service import integrations
from service import sync
from service.config import SQLITE_FILE
from service.db import db
from service.errors import APIError
from service.models import ACTIVE
from service.models import FAILED
from service.models import QUEUED
from service.models import RUNNING
from service.models import SUCCEEDED
from service.models import Integration
from service.models import Job
from service.models import utcnow
from service.sync.pull import SyncSettings

log = logging.getLogger(__name__)

# Who asked: a client (POST /api/sync), the schedule (SYNC_INTERVAL), a script (flask sync).
REQUESTED, SCHEDULED, SCRIPTED = "requested", "scheduled", "cli"
# A job whose worker died this many times fails instead of taking down another.
MAX_ATTEMPTS = 3
# Finished jobs are kept this long, then the sweep deletes them.
KEEP_FINISHED = timedelta(days=30)
# Each sweep finds an integration due a little before its SYNC_INTERVAL is up, at random,
# so integrations stored at the same time do not stay in step.
JITTER = 0.1
RECENT_JOBS = 20
QUEUE_NAME = "time-tracker"
# The queue is a convenience: when it is down the row waits for the sweep, so a request
# must not wait long for it either.
REDIS_TIMEOUTS = {"socket_connect_timeout": 2, "socket_timeout": 5}


def submit(
    user_id: uuid.UUID,
    source: str,
    kind: str,
    start: date | None = None,
    end: date | None = None,
) -> tuple[Job, bool]:
    """Queue a sync of the user's SOURCE, or return the one already queued or running.

    Tells whether the job is new; a partial unique index keeps one active job per user
    and source, across processes.
    """
    if (
        not Integration.select()
        .where((Integration.user == user_id) & (Integration.source == source))
        .exists()
    ):
        label = sync.LABELS[source]
        raise APIError(404, f"No {label} integration is stored; PUT /api/integrations/{source}.")
    while True:
        job_id = uuid.uuid4()
        row = {"id": job_id, "user": user_id, "source": source, "kind": kind, "state": QUEUED}
        days = {"from_day": start, "to_day": end, "created_at": utcnow()}
        Job.insert(**row, **days).on_conflict_ignore().execute()
        job = Job.get_or_none(
            (Job.user == user_id) & (Job.source == source) & Job.state.in_(ACTIVE)
        )
        if job is not None:  # else the active job ended in between: insert again
            return job, job.id == job_id


def get_job(user_id: uuid.UUID, job_id: uuid.UUID) -> Job:
    """Return one of the user's jobs (404 for another user's)."""
    return Job.get((Job.id == job_id) & (Job.user == user_id))


def recent_jobs(user_id: uuid.UUID, source: str | None = None) -> list[Job]:
    """Return the user's latest jobs (of SOURCE, if given), newest first."""
    query = Job.select().where(Job.user == user_id)
    if source:
        query = query.where(Job.source == source)
    return list(query.order_by(Job.created_at.desc(), Job.id.desc()).limit(RECENT_JOBS))


def claim(job_id: uuid.UUID, stale_after: int, now: datetime) -> tuple[Job, bool] | None:
    """Take a queued job, or a running one whose worker stopped beating; tell which.

    The UPDATE matches the row as it was read, so of two workers woken for one job only
    one takes it. None when the job is running elsewhere, finished, or gone.
    """
    job = Job.get_or_none(Job.id == job_id)
    stale = now - timedelta(seconds=stale_after)
    if job is None or job.state not in ACTIVE:
        return None
    taken_over = job.state == RUNNING
    if taken_over and job.heartbeat_at >= stale:
        return None
    won = (
        Job.update(state=RUNNING, started_at=now, heartbeat_at=now, attempts=Job.attempts + 1)
        .where((Job.id == job_id) & (Job.state == job.state) & (Job.attempts == job.attempts))
        .execute()
    )
    return (Job.get_by_id(job_id), taken_over) if won else None


def finish(job_id: uuid.UUID, state: str, error: str | None = None, **counts: int) -> None:
    """Record a job's end: its state, error and counts."""
    Job.update(state=state, finished_at=utcnow(), error=error, **counts).where(
        Job.id == job_id
    ).execute()


def put_back(job_id: uuid.UUID) -> None:
    """Return a job to the queue (another run of its user and source holds the lock)."""
    Job.update(state=QUEUED, started_at=None, woken_at=utcnow()).where(Job.id == job_id).execute()


@contextlib.contextmanager
def heartbeat(job_id: uuid.UUID, every: float) -> Iterator[None]:
    """Mark the job alive every EVERY seconds, from a thread of its own, while the block runs."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(every):
            try:
                with db.connection_context():
                    Job.update(heartbeat_at=utcnow()).where(Job.id == job_id).execute()
            except peewee.PeeweeException as exc:
                log.warning("job %s: heartbeat not written: %s", job_id, exc)

    thread = threading.Thread(target=beat, name=f"heartbeat-{job_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def run(job_id: uuid.UUID, config: Mapping[str, Any]) -> None:
    """Run the job JOB_ID if nobody runs it: pull, store, record the outcome."""
    stale_after = config["JOB_STALE_AFTER"]
    claimed = claim(job_id, stale_after, utcnow())
    if claimed is None:
        return
    job, taken_over = claimed
    if taken_over:
        log.warning("job %s: its worker stopped; attempt %d", job.id, job.attempts)
        if job.attempts > MAX_ATTEMPTS:
            finish(job.id, FAILED, f"The worker running it stopped {MAX_ATTEMPTS} times.")
            return
        sync.release(job.user_id, job.source)
    with heartbeat(job.id, stale_after / 3):
        try:
            outcome = sync.run_sync(
                job.user_id,
                job.source,
                SyncSettings.from_config(config),
                integrations.vault(config["INTEGRATIONS_KEY"]),
                start=job.from_day,
                end=job.to_day,
            )
        except sync.Busy:
            put_back(job.id)
        except APIError as exc:
            finish(job.id, FAILED, exc.detail)
        except Exception:
            log.exception("job %s failed", job.id)
            finish(job.id, FAILED, "internal error")
        else:
            finish(job.id, SUCCEEDED, **{name: outcome[name] for name in sync.COUNTS})


def due_integrations(interval: int, now: datetime) -> list[tuple[uuid.UUID, str]]:
    """Return (user, source) of the integrations whose last job is older than INTERVAL.

    Each is due somewhat early at random (JITTER), so their runs spread over the interval.
    """
    last = (
        Job.select(Job.user, Job.source, peewee.fn.MAX(Job.created_at).alias("last"))
        .group_by(Job.user, Job.source)
        .alias("last_job")
    )
    query = (
        Integration.select(Integration.user, Integration.source, last.c.last)
        .join(
            last,
            peewee.JOIN.LEFT_OUTER,
            on=(last.c.user_id == Integration.user) & (last.c.source == Integration.source),
        )
        .tuples()
    )
    due = []
    for user_id, source, latest in query:
        wait = timedelta(seconds=interval * (1 - JITTER * random.random()))  # noqa: S311
        if latest is None or Job.created_at.python_value(latest) <= now - wait:
            due.append((user_id, source))
    return due


def sweep(queue: JobQueue, config: Mapping[str, Any], now: datetime) -> list[uuid.UUID]:
    """Wake the jobs that wait too long or stopped beating, queue the due syncs, forget old
    finished jobs; return the ids woken."""
    stale = now - timedelta(seconds=config["JOB_STALE_AFTER"])
    Job.delete().where(Job.state.not_in(ACTIVE) & (Job.created_at < now - KEEP_FINISHED)).execute()
    for user_id, source in due_integrations(config["SYNC_INTERVAL"], now):
        submit(user_id, source, SCHEDULED)
    waiting = Job.select(Job.id).where(
        ((Job.state == QUEUED) & (Job.woken_at.is_null() | (Job.woken_at < stale)))
        | ((Job.state == RUNNING) & (Job.heartbeat_at < stale))
    )
    woken = [job.id for job in waiting]
    for job_id in woken:
        queue.wake(job_id)
    return woken


def make_huey(url: str) -> Huey:
    """Return the huey of JOBS_URL: Redis, or a SQLite file (its folder made if missing)."""
    if url.startswith(("redis://", "rediss://")):
        pool = redis.ConnectionPool.from_url(url, **REDIS_TIMEOUTS)
        return RedisHuey(QUEUE_NAME, results=False, connection_pool=pool)
    path = Path(url.removeprefix(SQLITE_FILE))
    path.parent.mkdir(parents=True, exist_ok=True)
    return SqliteHuey(QUEUE_NAME, results=False, filename=str(path))


class JobQueue:
    """The queue of JOBS_URL with its two tasks: run a job, and the sweep every minute."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.config = config
        self.huey = make_huey(config["JOBS_URL"])
        self.run = self.huey.task(name="run_job")(self.run_job)
        self.huey.periodic_task(crontab(minute="*"), name="sweep")(self.sweep)

    def run_job(self, job_id: str) -> None:
        """Run one job (the task a wake-up names)."""
        with db.connection_context():
            run(uuid.UUID(job_id), self.config)

    def sweep(self) -> None:
        """Wake what waits or stopped, queue what is due (the periodic task)."""
        with db.connection_context():
            woken = sweep(self, self.config, utcnow())
        if woken:
            log.info("sweep woke %d jobs", len(woken))

    def wake(self, job_id: uuid.UUID) -> bool:
        """Send a wake-up for the job and note when; tell whether the queue took it.

        With the queue down the job stays queued in the database for the next sweep.
        """
        try:
            self.run(str(job_id))
        except (redis.RedisError, sqlite3.Error, OSError) as exc:
            log.warning("job %s not queued (the sweep will): %s", job_id, exc)
            return False
        Job.update(woken_at=utcnow()).where(Job.id == job_id).execute()
        return True

    def request(self, user_id: uuid.UUID, source: str, start: date | None, end: date | None) -> Job:
        """Queue a sync a client asked for and wake a worker; an active one is returned."""
        job, new = submit(user_id, source, REQUESTED, start, end)
        if new:
            self.wake(job.id)
        return job
