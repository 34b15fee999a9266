"""The database handle: one proxy, bound by the factory, connected per API request."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
import weakref
from collections.abc import Callable
from collections.abc import Iterator
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import Any
from typing import TypeVar
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import peewee
import psycopg2
import psycopg2.extensions
from flask import Blueprint
from flask import Flask
from playhouse import db_url
from playhouse.pool import PooledPostgresqlDatabase

db = peewee.DatabaseProxy()
_database_blueprints: weakref.WeakSet[Blueprint] = weakref.WeakSet()


POSTGRES_SCHEMES = {"postgres", "postgresql", "postgres+pool", "postgresql+pool"}
SQLITE_SCHEMES = {"sqlite"}
# Deadlock and serialization failures: PostgreSQL rolled the transaction back, so it can rerun.
RETRYABLE_SQLSTATES = {"40P01", "40001"}
TRANSACTION_ATTEMPTS = 3
T = TypeVar("T")
log = logging.getLogger(__name__)
# How long past its statement timeout a query may go unanswered before the client gives up:
# the server reports its own timeout well within this, so only a hung server or path misses it.
ANSWER_GRACE_SECONDS = 1.0
# TCP keepalives and tcp_user_timeout let the kernel notice a database host or network that
# is gone (no ACKs) even on an idle pooled connection or a statement without a time limit.
TCP_OPTIONS = {
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "tcp_user_timeout": 25_000,
}


class AnswerWatch:
    """Give up on a PostgreSQL server that stopped answering, after LIMIT seconds.

    statement_timeout is enforced by the server, and TCP keepalives only notice a peer
    whose kernel is gone: a server (or proxy) that is up but hung acknowledges every
    packet and answers none, and libpq would wait for ever. One thread watches the
    statements under way (WatchedCursor); when one outlives LIMIT it shuts down that
    connection's socket, so libpq reports it closed and the request answers 503, and
    marks the idle connections lost too: they share the server's fate, and each would
    otherwise cost the pool's check-out probe another LIMIT.
    """

    def __init__(self, limit: float) -> None:
        self.limit = limit
        self.seen: weakref.WeakSet[psycopg2.extensions.connection] = weakref.WeakSet()
        self.lost: weakref.WeakSet[psycopg2.extensions.connection] = weakref.WeakSet()
        self.running: dict[int, tuple[float, psycopg2.extensions.connection]] = {}
        self.changed = threading.Condition()
        self.watcher: threading.Thread | None = None

    @contextlib.contextmanager
    def statement(self, conn: psycopg2.extensions.connection) -> Iterator[None]:
        """Run a statement on CONN under the watch; refuse it if CONN was given up."""
        key = threading.get_ident()
        with self.changed:
            lost = conn in self.lost
            self.lost.discard(conn)
            if not lost:
                self.seen.add(conn)
                self.running[key] = (time.monotonic() + self.limit, conn)
                self.start_watching()
        if lost:
            conn.close()
            raise psycopg2.OperationalError("PostgreSQL stopped answering; connection closed")
        try:
            yield
        finally:
            with self.changed:
                self.running.pop(key, None)

    def start_watching(self) -> None:
        """Make sure this process's watching thread waits for the statements under way."""
        if self.watcher is None or not self.watcher.is_alive():
            self.watcher = threading.Thread(target=self.watch, name="db-answer-watch", daemon=True)
            self.watcher.start()
        elif len(self.running) == 1:
            # It waits for the oldest deadline, earlier than a new one, or for any.
            self.changed.notify()

    def watch(self) -> None:
        """Wait for the oldest statement's deadline; past it, give that server up."""
        with self.changed:
            while True:
                now = time.monotonic()
                expired = [key for key, (due, _) in self.running.items() if due <= now]
                if expired:
                    self.give_up([self.running.pop(key)[1] for key in expired])
                if self.running:
                    self.changed.wait(min(due for due, _ in self.running.values()) - now)
                else:
                    self.changed.wait()

    def give_up(self, stuck: list[psycopg2.extensions.connection]) -> None:
        """Wake the statements stuck on STUCK; refuse the idle connections their next one."""
        log.warning("PostgreSQL did not answer within %g s; dropping its connections", self.limit)
        for conn in stuck:
            shut_down(conn)
        busy = {id(conn) for _, conn in self.running.values()} | {id(conn) for conn in stuck}
        self.lost = weakref.WeakSet(conn for conn in self.seen if id(conn) not in busy)


def shut_down(conn: psycopg2.extensions.connection) -> None:
    """Shut down CONN's socket (its owner is blocked in libpq, which then sees it closed)."""
    with (
        contextlib.suppress(OSError, psycopg2.Error),
        socket.socket(fileno=os.dup(conn.fileno())) as sock,
    ):
        sock.shutdown(socket.SHUT_RDWR)


def watched_cursor(watch: AnswerWatch) -> type[psycopg2.extensions.cursor]:
    """Return a cursor class whose statements run under WATCH."""

    class WatchedCursor(psycopg2.extensions.cursor):
        def execute(self, query: Any, vars: Any = None) -> None:
            with watch.statement(self.connection):
                return super().execute(query, vars)

        def executemany(self, query: Any, vars_list: Any) -> None:
            with watch.statement(self.connection):
                return super().executemany(query, vars_list)

    return WatchedCursor


def make_database(
    url: str,
    *,
    pool_size: int = 8,
    connect_timeout: int = 2,
    statement_timeout_ms: int = 5000,
    pooled: bool = True,
) -> peewee.Database:
    """Open no connection; return a Database for URL (PostgreSQL pooled, SQLite with WAL)."""
    scheme = urlsplit(url).scheme
    if scheme in POSTGRES_SCHEMES:
        return _postgres(url, pool_size, connect_timeout, statement_timeout_ms, pooled)
    if scheme in SQLITE_SCHEMES:
        return _sqlite(url)
    raise ValueError(
        f"DATABASE_URL scheme {scheme!r} is not supported (postgresql:// or sqlite:///)"
    )


def _postgres(
    url: str, pool_size: int, connect_timeout: int, statement_timeout_ms: int, pooled: bool
) -> peewee.Database:
    options: dict[str, Any] = {
        # The service signs in with a password: trying GSSAPI encryption first loads the
        # Kerberos libraries into every worker for nothing. A URL may still ask for it.
        "gssencmode": "disable",
        **TCP_OPTIONS,
        **db_url.parse(url, unquote_password=True),
        "connect_timeout": connect_timeout,
        # JIT compiling pays off only on long analytics, never on this service's queries.
        # Floats travel in their shortest exact form (PostgreSQL's default since 12), even
        # where a server or database sets extra_float_digits=0, which rounds to 15 digits.
        "options": (
            f"-c statement_timeout={statement_timeout_ms} -c jit=off -c extra_float_digits=1"
        ),
        "application_name": "time-tracker",
    }
    if not pooled:
        return peewee.PostgresqlDatabase(**options)
    if not options.get("database"):
        raise ValueError("DATABASE_URL names no database (postgresql://user@host:port/NAME)")
    if statement_timeout_ms:
        watch = AnswerWatch(statement_timeout_ms / 1000 + ANSWER_GRACE_SECONDS)
        options["cursor_factory"] = watched_cursor(watch)
    # The pool checks an idle connection with a round trip before handing it out, so one
    # that a database restart or a proxy closed is replaced, not used.
    return PooledPostgresqlDatabase(
        max_connections=pool_size, stale_timeout=300, timeout=connect_timeout, **options
    )


def _sqlite(url: str) -> peewee.Database:
    if url.rstrip("/") in {"sqlite:", "sqlite:/", "sqlite://"} or ":memory:" in url:
        raise ValueError("DATABASE_URL must name a SQLite file: an in-memory database is wiped")
    # BEGIN IMMEDIATE takes the write lock when a transaction starts, waiting up to the busy
    # timeout for it. A deferred BEGIN would read first and then fail at once, "database is
    # locked", when another process wrote in between: SQLite cannot wait in that case.
    database = db_url.connect(
        url,
        pragmas={"journal_mode": "wal", "foreign_keys": 1, "busy_timeout": 5000},
        timeout=5,
        lock_type="IMMEDIATE",
    )
    Path(database.database).parent.mkdir(parents=True, exist_ok=True)
    database.register_function(local_bucket, "local_bucket", 3, deterministic=True)
    return database


def local_bucket(utc_text: str | None, zone: str, unit: str) -> str | None:
    """Return the day, ISO week (its Monday) or month, in ZONE, of a stored UTC timestamp.

    SQLite has no time zones; this gives it the buckets PostgreSQL computes with
    `date_trunc(unit, date AT TIME ZONE zone)`, daylight-saving changes included.
    """
    if utc_text is None:
        return None
    local = datetime.fromisoformat(utc_text).astimezone(ZoneInfo(zone)).date()
    if unit == "week":
        return (local - timedelta(days=local.weekday())).isoformat()
    if unit == "month":
        return local.strftime("%Y-%m")
    return local.isoformat()


def is_postgres(database: peewee.Database | peewee.DatabaseProxy) -> bool:
    """Tell whether DATABASE (or the database a proxy points at) is PostgreSQL."""
    target = database.obj if isinstance(database, peewee.DatabaseProxy) else database
    return isinstance(target, peewee.PostgresqlDatabase)


def init_db(app: Flask) -> None:
    """Bind the proxy to the database named by the app's DATABASE_URL."""
    if db.obj is not None and not db.is_closed():
        db.close()
    if isinstance(db.obj, peewee.Database) and hasattr(db.obj, "close_all"):
        db.obj.close_all()
    db.initialize(
        make_database(
            app.config["DATABASE_URL"],
            pool_size=app.config["DB_POOL_SIZE"],
            connect_timeout=app.config["DB_CONNECT_TIMEOUT"],
            statement_timeout_ms=app.config["DB_STATEMENT_TIMEOUT"],
        )
    )


def rerun_on_deadlock(work: Callable[[], T], attempts: int = TRANSACTION_ATTEMPTS) -> T:
    """Call WORK (which opens its own transaction) again when PostgreSQL aborted it for a
    deadlock or serialization failure; inside an outer transaction, call it once."""
    attempts = 1 if db.in_transaction() else attempts
    for attempt in range(1, attempts + 1):
        try:
            return work()
        except peewee.OperationalError as exc:
            code = getattr(getattr(exc, "orig", None), "pgcode", None)
            if code not in RETRYABLE_SQLSTATES or attempt == attempts:
                raise
            log.info("transaction aborted (%s), attempt %d of %d", code, attempt, attempts)
    raise AssertionError("unreachable")


def open_connection() -> None:
    """Take a connection from the pool for this thread, unless it holds one already."""
    db.connect(reuse_if_open=True)


def close_connection(_error: BaseException | None = None) -> None:
    """Give this thread's connection back to the pool, if it holds one."""
    if not db.is_closed():
        db.close()


@contextlib.contextmanager
def request_connection() -> Iterator[None]:
    """Hold a pooled connection for a block of a request (the probes), and give it back."""
    open_connection()
    try:
        yield
    finally:
        close_connection()


def use_database(blueprint: Blueprint) -> None:
    """Give each of BLUEPRINT's requests a connection from the pool, given back after."""
    blueprint.before_request(open_connection)
    blueprint.teardown_request(close_connection)
    _database_blueprints.add(blueprint)


def uses_database(blueprint: Blueprint) -> bool:
    """Tell whether BLUEPRINT's routes need the database (and so may answer 503)."""
    return blueprint in _database_blueprints
