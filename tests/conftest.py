"""Fixtures: every database test runs on a SQLite file and on PostgreSQL.

PostgreSQL comes from TEST_DATABASE_URL (default: the local server). Each test session
creates a database of its own, migrates it once and empties its tables before each test.
Without a server the PostgreSQL half skips with a reason, unless REQUIRE_POSTGRES=1 (CI),
where it fails.
"""

from __future__ import annotations

import functools
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from urllib.parse import urlunsplit

import peewee
import psycopg2
import pytest
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import Flask
from flask.testing import FlaskClient

from service import accounts
from service import clients
from service import create_app
from service.db import db
from service.migrate import known_migrations
from service.migrate import migrate
from service.migrate import migrations_dir
from service.migrate import open_database
from service.models import MODELS
from service.models import TIMESTAMP_FORMAT
from service.models import Membership
from service.models import Team
from service.models import utcnow

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
REQUIRE_POSTGRES = os.environ.get("REQUIRE_POSTGRES") == "1"
TEST_SECRET = "test-signing-secret-" + "0123456789abcdef" * 3
PASSWORD = "correct horse battery"
INTEGRATIONS_KEY = Fernet.generate_key().decode()
# Source APIs default to a closed local port, so no test (fuzzers included) leaves 127.0.0.1.
NOWHERE = "http://127.0.0.1:9"
# Wake-ups of in-process tests go to a file no worker reads; tests/test_jobs.py runs workers.
JOBS_URL = f"sqlite:///{Path(tempfile.gettempdir()) / f'time-tracker-test-jobs-{os.getpid()}.db'}"


def with_database(url: str, name: str) -> str:
    """Return URL pointing at database NAME on the same server."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def admin_execute(sql: str) -> None:
    """Run one statement on the server's maintenance connection, outside a transaction."""
    conn = psycopg2.connect(TEST_DATABASE_URL, connect_timeout=3)
    try:
        conn.autocommit = True
        with conn.cursor() as cursor:
            cursor.execute(sql)
    finally:
        conn.close()


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """Make sure PostgreSQL answers; fail (CI) or skip (local) when it does not."""
    try:
        admin_execute("SELECT 1")
    except psycopg2.OperationalError as exc:
        reason = f"PostgreSQL unreachable at {TEST_DATABASE_URL}: {str(exc).strip()}"
        if REQUIRE_POSTGRES:
            pytest.fail(reason)
        pytest.skip(reason)
    return TEST_DATABASE_URL


@pytest.fixture(scope="session")
def fresh_postgres_database(postgres_server: str) -> Iterator[Callable[..., str]]:
    """Create empty PostgreSQL databases on demand (CREATE DATABASE OPTIONS); drop them all."""
    created: list[str] = []

    def create(options: str = "") -> str:
        name = f"tt_test_{uuid.uuid4().hex[:12]}"
        admin_execute(f'CREATE DATABASE "{name}" {options}')
        created.append(name)
        return with_database(postgres_server, name)

    yield create
    for name in created:
        admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_url(fresh_postgres_database: Callable[[], str]) -> str:
    """A migrated PostgreSQL database shared by the session's tests."""
    url = fresh_postgres_database()
    migrate(open_database(url))
    return url


def empty_tables(url: str) -> None:
    """Delete every row but the migration history."""
    database = open_database(url)
    with database.connection_context():
        tables = [t for t in database.get_tables() if t != "migratehistory"]
        database.execute_sql(f"TRUNCATE {', '.join(tables)} CASCADE")


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path) -> str:
    """A migrated, empty database of each kind."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'test.db'}"
        migrate(open_database(url))
        return url
    url = request.getfixturevalue("postgres_url")
    empty_tables(url)
    return url


def settings(database_url: str, **extra: Any) -> dict[str, Any]:
    """The overrides every test app starts from."""
    return {
        "APP_ENV": "production",
        "DATABASE_URL": database_url,
        "JWT_SECRET": TEST_SECRET,
        "BCRYPT_ROUNDS": 4,
        "INTEGRATIONS_KEY": INTEGRATIONS_KEY,
        "TOGGL_API_URL": NOWHERE,
        "TEMPO_API_URL": NOWHERE,
        "JOBS_URL": JOBS_URL,
        "TESTING": True,
        # Some tests send requests from several threads into one app, as to one gthread
        # worker; a sync worker's pool holds one connection.
        "DB_POOL_SIZE": 4,
        # Tests sign in many times from one address; tests of the limits set their own.
        "RATE_LIMIT_PER_ADDRESS": "10000 per minute",
        "RATE_LIMIT_PER_ACCOUNT": "10000 per minute",
        # Tests call the API many times with one token; tests of the API limit set their own.
        "RATE_LIMIT_API": "100000 per minute",
        # Most tests sign people up themselves; tests of the policy set their own.
        "REGISTRATION": "open",
        **extra,
    }


@pytest.fixture(params=["sqlite", "postgresql"])
def database_before(request, tmp_path) -> Callable[..., peewee.Database]:
    """Build a database of an earlier version: an empty one migrated up to, not including,
    the migration named, holding one user (early@example.com) and, with ENTRY, a 1.5-hour
    manual entry of theirs, as those migrations made the rows."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'upgrade.db'}"
    else:
        url = request.getfixturevalue("fresh_postgres_database")()

    def build(name: str, entry: bool = False) -> peewee.Database:
        folder = tmp_path / "earlier-migrations"
        folder.mkdir()
        for earlier in known_migrations(migrations_dir()):
            if earlier < name:
                shutil.copy(migrations_dir() / f"{earlier}.py", folder)
        database = open_database(url)
        migrate(database, folder)
        user_id, now = str(uuid.uuid4()), utcnow().strftime(TIMESTAMP_FORMAT)
        user = (user_id, "early@example.com", "x" * 60, True, now)
        with database.connection_context():
            database.execute_sql(
                "INSERT INTO users (id, email, password_hash, is_active, created_at) "
                f"VALUES ({', '.join([database.param] * 5)})",
                user,
            )
            if entry:
                database.execute_sql(
                    "INSERT INTO time_entries (id, user_id, source, date, duration, "
                    f"created_at, updated_at) VALUES ({', '.join([database.param] * 7)})",
                    (str(uuid.uuid4()), user_id, "manual", now, 1.5, now, now),
                )
        return database

    return build


@pytest.fixture
def make_app() -> Iterator[Callable[..., Flask]]:
    """Build apps from settings; close their connection pools afterwards."""
    apps: list[Flask] = []

    def build(database_url: str, **extra: Any) -> Flask:
        app = create_app(settings(database_url, **extra))
        apps.append(app)
        return app

    yield build
    if db.obj is None:
        return
    if not db.is_closed():
        db.close()
    if isinstance(db.obj, peewee.Database) and hasattr(db.obj, "close_all"):
        db.obj.close_all()


@pytest.fixture
def app(make_app: Callable[..., Flask], database_url: str) -> Flask:
    """The application, bound to a fresh database."""
    return make_app(database_url)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client of the app."""
    return app.test_client()


@pytest.fixture
def make_user(app: Flask, client: FlaskClient) -> Callable[..., dict[str, Any]]:
    """Register users through the API, with ROLE given as the CLI gives it; returns the user
    with its password."""

    def register(
        email: str | None = None, password: str = PASSWORD, role: str = "member"
    ) -> dict[str, Any]:
        email = email or f"user-{uuid.uuid4().hex[:8]}@example.com"
        response = client.post("/auth/register", json={"email": email, "password": password})
        assert response.status_code == 201, response.json
        if role != "member":
            with app.app_context(), db.connection_context():
                assert accounts.set_role(uuid.UUID(response.json["id"]), role)
        return {**response.json, "role": role, "password": password}

    return register


@pytest.fixture
def make_team(app: Flask) -> Callable[..., dict[str, Any]]:
    """Create a team with MEMBERS and MANAGERS (users from make_user) directly in the
    database (the teams API has its own tests); returns its id and name."""

    def create(
        name: str | None = None,
        members: tuple[dict[str, Any], ...] = (),
        managers: tuple[dict[str, Any], ...] = (),
    ) -> dict[str, Any]:
        name = name or f"team-{uuid.uuid4().hex[:8]}"
        with app.app_context(), db.connection_context():
            team = Team.create(name=name)
            for person, is_manager in [(m, False) for m in members] + [(m, True) for m in managers]:
                Membership.create(team=team, user=uuid.UUID(person["id"]), is_manager=is_manager)
        return {"id": str(team.id), "name": name}

    return create


@pytest.fixture
def login(client: FlaskClient) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Log a user in; returns the token answer."""

    def log_in(user: dict[str, Any]) -> dict[str, Any]:
        body = {"email": user["email"], "password": user["password"]}
        response = client.post("/auth/login", json=body)
        assert response.status_code == 200, response.json
        return response.json

    return log_in


@pytest.fixture
def headers_for(login) -> Callable[[dict[str, Any]], dict[str, str]]:
    """Authorization headers of a user."""

    def headers(user: dict[str, Any]) -> dict[str, str]:
        return {"Authorization": f"Bearer {login(user)['access_token']}"}

    return headers


@pytest.fixture
def user(make_user) -> dict[str, Any]:
    """A registered user."""
    return make_user()


@pytest.fixture
def auth_headers(headers_for, user) -> dict[str, str]:
    """Authorization headers of `user`."""
    return headers_for(user)


@pytest.fixture
def synced(app, client, auth_headers):
    """POST a sync (202), run its job here as a worker would, return the job as GET shows it."""

    def run(source: str, body: dict | None = None) -> dict:
        sent = {} if body is None else {"json": body}
        answer = client.post(f"/api/sync/{source}", headers=auth_headers, **sent)
        assert answer.status_code == 202, answer.json
        app.extensions["jobs"].run.call_local(answer.json["id"])
        return client.get(answer.headers["Location"], headers=auth_headers).json

    return run


@pytest.fixture
def make_entry(client: FlaskClient, auth_headers: dict[str, str]) -> Callable[..., dict[str, Any]]:
    """Create an entry for `user` (or for the headers given) through the API."""

    def create(headers: dict[str, str] | None = None, **fields: Any) -> dict[str, Any]:
        body = {"date": "2026-11-02T09:00:00Z", "duration": 1.5, "project": "Apollo", **fields}
        response = client.post("/api/entries", json=body, headers=headers or auth_headers)
        assert response.status_code == 201, response.json
        return response.json

    return create


@pytest.fixture
def launch(tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """Start real processes from the repository root; kill any still running at the end."""
    from tests.servers import launching

    with launching(tmp_path) as start:
        yield start


@pytest.fixture
def serve(launch) -> Callable[..., Any]:
    """Start the app under a real gunicorn (the repo's gunicorn.conf.py), wait until it answers."""
    from tests.servers import serve_under_gunicorn

    return functools.partial(serve_under_gunicorn, launch)


@pytest.fixture
def fault_proxy(postgres_server: str) -> Iterator[Any]:
    """A fault-injection proxy in front of the test PostgreSQL server."""
    from tests.faults import FaultProxy

    parts = urlsplit(postgres_server)
    proxy = FaultProxy((parts.hostname or "127.0.0.1", parts.port or 5432)).start()
    yield proxy
    proxy.stop()


@pytest.fixture
def pg_url(postgres_url: str) -> str:
    """The session's migrated PostgreSQL database, emptied (for tests that need PostgreSQL)."""
    empty_tables(postgres_url)
    return postgres_url


def write_ed25519_key(path) -> tuple[str, Ed25519PrivateKey]:
    """Write a new Ed25519 private key as PEM to PATH; return the path and the key."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.write_bytes(pem)
    return str(path), key


def public_pem(key: Ed25519PrivateKey) -> bytes:
    """Return the PEM of KEY's public half."""
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@pytest.fixture
def make_client(app: Flask) -> Callable[..., dict[str, str]]:
    """Create a service client directly (the CLI has its own tests); returns id and secret."""

    def create(*scopes: str, name: str = "billing") -> dict[str, str]:
        with app.app_context(), db.connection_context():
            new = clients.create_client(name, scopes or ("entries:read",))
        return {"id": str(new.client.id), "secret": new.secret}

    return create


@pytest.fixture
def service_token(client: FlaskClient) -> Callable[..., str]:
    """Get a service access token for a client by the client-credentials grant."""

    def get(service_client: dict[str, str], scope: str | None = None) -> str:
        form = {"grant_type": "client_credentials"}
        if scope is not None:
            form["scope"] = scope
        response = client.post(
            "/auth/token", data=form, auth=(service_client["id"], service_client["secret"])
        )
        assert response.status_code == 200, response.json
        return response.json["access_token"]

    return get


@pytest.fixture
def database_state(app: Flask) -> Callable[[], dict[str, list[tuple]]]:
    """Return every row of every table, to assert that an attack changed nothing."""

    def state() -> dict[str, list[tuple]]:
        with app.app_context(), db.connection_context():
            return {
                model._meta.table_name: sorted(map(repr, model.select().tuples()))
                for model in MODELS
            }

    return state
