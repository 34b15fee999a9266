"""The database handle: one proxy, bound by the factory, connected per API request."""

from __future__ import annotations

import time
import weakref
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import peewee
from flask import Blueprint
from flask import Flask
from playhouse import db_url
from playhouse.pool import PooledPostgresqlDatabase

db = peewee.DatabaseProxy()
_database_blueprints: weakref.WeakSet[Blueprint] = weakref.WeakSet()


class RecentlyUsedPool(PooledPostgresqlDatabase):
    """A PostgreSQL pool that probes a connection on check-out only once it sat idle.

    peewee's pool runs `SELECT 1` on every check-out, so that a server restart does not hand
    out dead connections. That doubles the round trips of a one-query request. A connection
    returned less than PROBE_AFTER seconds ago was just working; it is handed out with a
    local status check only (the same bypass window connection pools such as HikariCP use).
    """

    probe_after = 1.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._returned_at: dict[int, float] = {}

    def _is_closed(self, conn: Any) -> bool:
        returned_at = self._returned_at.pop(self.conn_key(conn), None)
        if returned_at is not None and time.monotonic() - returned_at < self.probe_after:
            return bool(conn.closed) or self._adapter.txn_status(conn) != self._adapter.txn_idle
        return super()._is_closed(conn)

    def _close(self, conn: Any, close_conn: bool = False) -> None:
        super()._close(conn, close_conn)
        if not conn.closed:
            self._returned_at[self.conn_key(conn)] = time.monotonic()


POSTGRES_SCHEMES = {"postgres", "postgresql", "postgres+pool", "postgresql+pool"}
SQLITE_SCHEMES = {"sqlite"}


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
    base = url.split("://", 1)[1]
    options: dict[str, Any] = {
        "connect_timeout": connect_timeout,
        "options": f"-c statement_timeout={statement_timeout_ms}",
        "application_name": "time-tracker",
    }
    if not pooled:
        return db_url.connect(f"postgresql://{base}", unquote_password=True, **options)
    params = db_url.parse(f"postgresql://{base}", unquote_password=True)
    if not params.get("database"):
        raise ValueError("DATABASE_URL names no database (postgresql://user@host:port/NAME)")
    return RecentlyUsedPool(
        params.pop("database"),
        max_connections=pool_size,
        stale_timeout=300,
        timeout=connect_timeout,
        **params,
        **options,
    )


def _sqlite(url: str) -> peewee.Database:
    if url.rstrip("/") in {"sqlite:", "sqlite:/", "sqlite://"} or ":memory:" in url:
        raise ValueError("DATABASE_URL must name a SQLite file: an in-memory database is wiped")
    database = db_url.connect(
        url,
        pragmas={"journal_mode": "wal", "foreign_keys": 1, "busy_timeout": 5000},
        timeout=5,
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


def pool_in_use() -> int:
    """Return how many pooled connections this process has checked out (0 without a pool)."""
    return len(getattr(db.obj, "_in_use", ()))


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


def _connect() -> None:
    db.connect(reuse_if_open=True)


def _close(_exc: BaseException | None) -> None:
    if not db.is_closed():
        db.close()


def use_database(blueprint: Blueprint) -> None:
    """Check a connection out of the pool for each of BLUEPRINT's requests and back in after."""
    blueprint.before_request(_connect)
    blueprint.teardown_request(_close)
    _database_blueprints.add(blueprint)


def uses_database(blueprint: Blueprint) -> bool:
    """Tell whether BLUEPRINT's routes need the database (and so may answer 503)."""
    return blueprint in _database_blueprints
