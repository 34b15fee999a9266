"""DATABASE_URL handling: pooled PostgreSQL, decoded passwords, SQLite pragmas."""

from __future__ import annotations

import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import peewee
import psycopg2
import pytest
from playhouse.pool import MaxConnectionsExceeded
from playhouse.pool import PooledPostgresqlDatabase

from service.db import db
from service.db import make_database
from service.db import rerun_on_deadlock
from service.models import User


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u@127.0.0.1:5432/app",
        "postgres://u@127.0.0.1:5432/app",
        "postgresql+pool://u@127.0.0.1:5432/app",
    ],
)
def test_postgresql_urls_are_pooled_by_default(url):
    database = make_database(url)

    assert isinstance(database, PooledPostgresqlDatabase)
    assert database.database == "app"


def test_a_pool_hands_out_at_most_its_size_and_then_waits_the_connect_timeout(postgres_url):
    database = make_database(postgres_url, pool_size=1, connect_timeout=1)

    with another_thread_holding_a_connection(database), pytest.raises(MaxConnectionsExceeded):
        database.connect()
    database.close_all()


@contextmanager
def another_thread_holding_a_connection(database) -> Iterator[None]:
    """Hold one of DATABASE's connections in another thread for the block."""
    held, done = threading.Event(), threading.Event()

    def hold() -> None:
        with database.connection_context():
            held.set()
            done.wait(timeout=10)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(timeout=10)
    try:
        yield
    finally:
        done.set()
        holder.join()


def test_postgresql_passwords_are_percent_decoded():
    database = make_database("postgresql://app:p%40ss%3Aw%25rd@db.internal:5432/tt")

    assert database.connect_params["password"] == "p@ss:w%rd"
    assert database.connect_params["host"] == "db.internal"


def test_postgresql_sessions_have_a_statement_timeout_and_no_jit(postgres_url):
    database = make_database(postgres_url, connect_timeout=2, statement_timeout_ms=1500)

    with database.connection_context():
        settings = [
            database.execute_sql(f"SHOW {name}").fetchone()[0]
            for name in ("statement_timeout", "jit")
        ]
    database.close_all()

    assert database.connect_params["connect_timeout"] == 2
    assert settings == ["1500ms", "off"]


@pytest.mark.parametrize(("query", "expected"), [("", "disable"), ("?gssencmode=prefer", "prefer")])
def test_postgresql_connections_skip_gssapi_unless_the_url_asks(postgres_url, query, expected):
    database = make_database(postgres_url + query, pooled=False)

    with database.connection_context():
        mode = database.connection().get_dsn_parameters()["gssencmode"]

    assert mode == expected


def test_sqlite_file_uses_wal_foreign_keys_and_a_busy_timeout(tmp_path):
    database = make_database(f"sqlite:///{tmp_path / 'nested' / 'app.db'}")

    with database.connection_context():
        pragmas = {
            name: database.execute_sql(f"PRAGMA {name}").fetchone()[0]
            for name in ("journal_mode", "foreign_keys", "busy_timeout")
        }

    assert pragmas == {"journal_mode": "wal", "foreign_keys": 1, "busy_timeout": 5000}
    assert (tmp_path / "nested" / "app.db").exists()


@pytest.mark.parametrize(
    "url", ["sqlite://", "sqlite:///:memory:", "mysql://u@h/db", "postgresql://u@h:5432"]
)
def test_unusable_urls_are_refused(url):
    with pytest.raises(ValueError, match="DATABASE_URL"):
        make_database(url)


def test_nothing_connects_until_asked():
    database = make_database("postgresql://u@127.0.0.1:1/never")

    assert database.is_closed()
    with pytest.raises(peewee.OperationalError):
        database.connect()


def backend(database: peewee.Database) -> int:
    """Return the server process id of DATABASE's current connection."""
    return database.execute_sql("SELECT pg_backend_pid()").fetchone()[0]


@pytest.fixture
def pool(postgres_url):
    database = make_database(postgres_url)
    yield database
    database.close_all()


def terminate(url: str, *pids: int) -> None:
    """End the server processes PIDS, as a database restart would."""
    with psycopg2.connect(url) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s) AS pid", (list(pids),))
    conn.close()


def test_a_statement_on_a_connection_the_server_dropped_runs_on_a_new_one(pool, postgres_url):
    with pool.connection_context():
        pid = backend(pool)
    terminate(postgres_url, pid)

    with pool.connection_context():
        assert backend(pool) != pid


def pooled_backends(pool: peewee.Database, count: int) -> list[int]:
    """Check COUNT connections out at once (one per thread), return their server pids."""
    barrier = threading.Barrier(count)

    def hold() -> int:
        with pool.connection_context():
            pid = backend(pool)
            barrier.wait(timeout=10)
            return pid

    with ThreadPoolExecutor(count) as threads:
        return list(threads.map(lambda _: hold(), range(count)))


def test_idle_connections_a_restart_ended_are_all_replaced(pool, postgres_url):
    ended = pooled_backends(pool, 3)
    terminate(postgres_url, *ended)

    fresh = [pooled_backends(pool, 1)[0] for _ in range(3)]

    assert len(set(fresh)) == 1
    assert fresh[0] not in ended


# The app, client and users of conftest, on PostgreSQL only: SQLite has no pool.
on_postgresql = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


@on_postgresql
def test_each_request_gives_its_connection_back(client):
    assert client.get("/health").status_code == 200

    assert db.is_closed()


@on_postgresql
def test_a_streamed_export_gives_its_connection_back_when_done(client, auth_headers, make_entry):
    make_entry()
    export = client.get("/api/entries/export", headers=auth_headers)

    assert export.get_data(as_text=True).count("\n") == 2
    assert db.is_closed()


@on_postgresql
def test_a_pooled_connection_the_server_dropped_is_replaced_on_the_next_request(
    client, auth_headers, postgres_url
):
    assert client.get("/health").status_code == 200
    with db.connection_context():
        pid = backend(db)
    terminate(postgres_url, pid)

    health = client.get("/health")
    entries = client.get("/api/entries", headers=auth_headers)

    assert (health.json["status"], entries.status_code) == ("healthy", 200)
    with db.connection_context():
        assert backend(db) != pid


def test_inside_a_transaction_a_dead_connection_is_an_error_not_a_rerun(pool, postgres_url):
    lost = pytest.raises((peewee.OperationalError, peewee.InterfaceError))
    with pool.connection_context(), lost, pool.atomic():
        terminate(postgres_url, backend(pool))
        backend(pool)


def test_a_database_that_stops_answering_is_given_up_and_found_again(fault_proxy, postgres_url):
    database = make_database(
        fault_proxy.url_for(postgres_url), connect_timeout=1, statement_timeout_ms=500
    )
    pooled_backends(database, 2)
    lost = pytest.raises(peewee.OperationalError)

    with database.connection_context():
        fault_proxy.stall()
        started = time.monotonic()
        with lost:
            backend(database)
        statement_took = time.monotonic() - started
    started = time.monotonic()
    with lost, database.connection_context():
        backend(database)
    checkout_took = time.monotonic() - started
    fault_proxy.restore()
    with database.connection_context():
        backend(database)
    database.close_all()

    # Given up 1 s after the 0.5 s statement timeout; the other idle connection is not
    # waited for again, only a new one for the 1 s connect timeout.
    assert 1.5 <= statement_took < 3
    assert checkout_took < 2.5


def test_a_server_that_never_answers_is_given_up_after_the_connect_timeout():
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        url = f"postgresql://u@127.0.0.1:{silent.getsockname()[1]}/app"
        database = make_database(url, connect_timeout=1)
        started = time.monotonic()

        with pytest.raises(peewee.OperationalError, match="timeout expired"):
            database.connect()

    assert time.monotonic() - started < 5


def test_a_transaction_aborted_by_a_deadlock_is_rerun(make_app, pg_url):
    make_app(pg_url)
    first, second = (User.create(email=f"{n}@example.com", password_hash="x").id for n in "ab")
    both_locked = threading.Barrier(2, timeout=10)
    attempts: Counter = Counter()
    failures: list[BaseException] = []

    def lock_in_order(one, other) -> None:
        def work() -> None:
            attempts[one] += 1
            with db.atomic():
                User.update(is_active=False).where(User.id == one).execute()
                if attempts[one] == 1:
                    both_locked.wait()
                User.update(is_active=False).where(User.id == other).execute()

        try:
            rerun_on_deadlock(work)
        except BaseException as exc:  # handed to the test thread below
            failures.append(exc)
        finally:
            db.close()

    threads = [
        threading.Thread(target=lock_in_order, args=pair)
        for pair in ((first, second), (second, first))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)

    assert failures == []
    # At least one of the two ran again; on a loaded machine a rerun can meet another
    # deadlock (seen once in a full run: [1, 3]), which the next attempt survives.
    assert sum(attempts.values()) >= 3


def test_a_request_that_finds_every_pooled_connection_taken_is_a_503(make_app, pg_url):
    app = make_app(pg_url, DB_POOL_SIZE=1, DB_CONNECT_TIMEOUT=1)
    client = app.test_client()
    email = {"email": "pool@example.com", "password": "correct horse battery"}
    client.post("/auth/register", json=email)
    token = client.post("/auth/login", json=email).json["access_token"]

    with another_thread_holding_a_connection(db):
        response = client.get("/api/entries", headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert response.mimetype == "application/problem+json"
