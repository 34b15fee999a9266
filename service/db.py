"""The database handle: one proxy, bound by the factory, connected per API request."""

from __future__ import annotations

import logging
import select
import time
import weakref
from collections.abc import Callable
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

from service import metrics

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
# statement_timeout is enforced by the server, so a hung server or network needs our own.
ANSWER_GRACE_SECONDS = 1.0
# Set in a worker that serves every request on one thread (see keep_connection_between_requests).
_keep_between_requests = False


WAIT_EVENTS = {
    psycopg2.extensions.POLL_READ: select.POLLIN,
    psycopg2.extensions.POLL_WRITE: select.POLLOUT,
}


class DatabaseTimeout(psycopg2.OperationalError):
    """PostgreSQL did not answer in time; psycopg2 closes the connection, peewee says 503."""


def bounded_wait(conn: psycopg2.extensions.connection) -> None:
    """Wait for psycopg2 like psycopg2.extras.wait_select does, up to the connection's limit.

    The limit comes from the connection's class (see _connection_class): connect_limit
    while connecting, query_limit afterwards; a plain psycopg2 connection waits forever.
    """
    connecting = conn.status == psycopg2.extensions.STATUS_SETUP
    limit = getattr(conn, "connect_limit" if connecting else "query_limit", None)
    deadline = None if limit is None else time.monotonic() + limit
    while (state := conn.poll()) != psycopg2.extensions.POLL_OK:
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            raise DatabaseTimeout(f"PostgreSQL did not answer within {limit:g} s")
        if state not in WAIT_EVENTS:
            raise psycopg2.OperationalError(f"unexpected psycopg2 poll state {state}")
        # poll(), not select(): select() cannot watch descriptors numbered 1024 or more.
        poller = select.poll()
        poller.register(conn.fileno(), WAIT_EVENTS[state])
        poller.poll(None if remaining is None else remaining * 1000)


def _connection_class(connect_timeout: int, statement_timeout_ms: int) -> type:
    query_limit = (
        statement_timeout_ms / 1000 + ANSWER_GRACE_SECONDS if statement_timeout_ms else None
    )
    return type(
        "BoundedConnection",
        (psycopg2.extensions.connection,),
        {"connect_limit": float(connect_timeout), "query_limit": query_limit},
    )


class BoundedPool(PooledPostgresqlDatabase):
    """A pool that hands out idle connections without a round trip, and recovers from a
    database restart on the statement that finds its connection dead.

    peewee checks each idle connection with SELECT 1 at check-out: a second round trip on
    every request, a third of /health's time. Instead, a statement or BEGIN outside a
    transaction whose connection turns out dead (PostgreSQL restarted, a proxy cut it)
    drops every idle connection, as they share its fate, and runs once more on a new one.
    Nothing is rerun inside a transaction, nor after a timeout: those are the caller's 503.
    Every check-out and check-in updates the db_pool_connections_in_use gauge.
    """

    def can_keep(self) -> bool:
        """Tell whether this thread's connection is open, idle, and not yet stale."""
        conn = self._state.conn
        held = self._in_use.get(self.conn_key(conn))
        return (
            held is not None
            and not conn.closed
            and conn.get_transaction_status() == psycopg2.extensions.TRANSACTION_STATUS_IDLE
            and not (self._stale_timeout and self._is_stale(held.timestamp))
        )

    def _connect(self) -> psycopg2.extensions.connection:
        conn = super()._connect()
        metrics.record_pool_in_use(len(self._in_use))
        return conn

    def _close(self, conn: psycopg2.extensions.connection, close_conn: bool = False) -> None:
        super()._close(conn, close_conn)
        metrics.record_pool_in_use(len(self._in_use))

    def _is_closed(self, conn: psycopg2.extensions.connection) -> bool:
        if conn.closed:
            return True
        status = conn.get_transaction_status()
        if status == psycopg2.extensions.TRANSACTION_STATUS_IDLE:
            return False
        try:
            conn.rollback()
        except psycopg2.Error:
            return True
        return status == psycopg2.extensions.TRANSACTION_STATUS_UNKNOWN

    def execute_sql(self, sql: str, params: Any = None) -> Any:
        return self._rerun_if_disconnected(super().execute_sql, sql, params)

    def begin(self, *args: Any, **kwargs: Any) -> None:
        return self._rerun_if_disconnected(super().begin, *args, **kwargs)

    def _rerun_if_disconnected(self, run: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        try:
            return run(*args, **kwargs)
        except (peewee.OperationalError, peewee.InterfaceError) as exc:
            if not self._lost_connection(exc):
                raise
        log.warning("database connection lost; dropping idle connections and reconnecting")
        contexts = self._state.ctx
        self._close(self._state.conn, close_conn=True)
        self._state.reset()
        with self._pool_lock:
            for _timestamp, _counter, idle in self._connections:
                self._close_raw(idle)
            self._connections.clear()
        try:
            self.connect()
        finally:
            self._state.ctx = contexts
        return run(*args, **kwargs)

    def _lost_connection(self, exc: peewee.PeeweeException) -> bool:
        conn = self._state.conn
        timed_out = isinstance(getattr(exc, "orig", exc), DatabaseTimeout)
        return not (self.in_transaction() or conn is None or not conn.closed or timed_out)


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
        # The service signs in with a password: trying GSSAPI encryption first touched
        # 1.1 MiB of Kerberos libraries per worker for nothing. A URL may still ask for it.
        "gssencmode": "disable",
        **db_url.parse(url, unquote_password=True),
        "connect_timeout": connect_timeout,
        # JIT compiling costs ~40 ms per query here and pays off only on long analytics.
        # Floats travel in their shortest exact form (PostgreSQL's default since 12), even
        # where a server or database sets extra_float_digits=0, which rounds to 15 digits.
        "options": (
            f"-c statement_timeout={statement_timeout_ms} -c jit=off -c extra_float_digits=1"
        ),
        "application_name": "time-tracker",
        "connection_factory": _connection_class(connect_timeout, statement_timeout_ms),
    }
    if not pooled:
        return peewee.PostgresqlDatabase(**options)
    # Process-wide, and it puts psycopg2 in its "green" mode (no COPY): only the serving
    # pool installs it; the migration runner and scripts keep libpq's blocking calls.
    psycopg2.extensions.set_wait_callback(bounded_wait)
    if not options.get("database"):
        raise ValueError("DATABASE_URL names no database (postgresql://user@host:port/NAME)")
    return BoundedPool(
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


def keep_connection_between_requests() -> None:
    """Let a worker that serves every request on one thread, one at a time, keep that
    thread's connection from one request to the next (gunicorn.conf.py: sync workers).

    Checking it out of the pool and back in, with the gauge's two writes, cost /health
    25-35 us of CPU a request (in-process: 212-222 us against 185-190 kept, the ceiling's
    165-175), for nothing such a worker needs: no other thread could take the connection
    in between. It is still given back when stale, in a transaction or closed, and a
    statement that finds it dead still runs again on a new one (BoundedPool).
    """
    global _keep_between_requests
    _keep_between_requests = True


def release_connection() -> None:
    """End a request's use of this thread's connection: back into the pool, or kept for the
    next request (keep_connection_between_requests) while it is open, idle and fresh."""
    if db.is_closed():
        return
    if _keep_between_requests and isinstance(db.obj, BoundedPool) and db.obj.can_keep():
        return
    db.close()


class RequestConnection:
    """Hold this thread's connection for a block of a request, and release it after:
    `with request_connection:` in the probes, and around every request of the blueprints
    given to use_database.

    A class, not @contextmanager: the generator cost 0.7 us a request in a loop, and a
    worker under load pays several times what a step costs in a loop.
    """

    def __enter__(self) -> None:
        db.connect(reuse_if_open=True)

    def __exit__(self, *exc_info: object) -> None:
        release_connection()


request_connection = RequestConnection()


def use_database(blueprint: Blueprint) -> None:
    """Run each of BLUEPRINT's requests inside request_connection: a connection from the
    pool before it, released after."""
    blueprint.before_request(request_connection.__enter__)
    blueprint.teardown_request(request_connection.__exit__)
    _database_blueprints.add(blueprint)


def uses_database(blueprint: Blueprint) -> bool:
    """Tell whether BLUEPRINT's routes need the database (and so may answer 503)."""
    return blueprint in _database_blueprints
