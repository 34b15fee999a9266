"""The bench database: created fresh, migrated, users and teams inserted, entries COPYed in.

The first user is an admin with FIRST_USER_ENTRIES entries (the single-user rows measure
them); the others share the rest evenly. The users make teams of TEAM_SIZE in order;
the second person of each team manages it.
"""

from __future__ import annotations

import io
import time
import uuid
from collections.abc import Iterator
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from urllib.parse import urlsplit
from urllib.parse import urlunsplit

import bcrypt
import psycopg2

from service.migrate import migrate
from service.migrate import open_database
from service.models import time_ordered_id

PASSWORD = "bench-password-1234"
SEED_SOURCE = "seed"
SEED_START = datetime(2024, 1, 1, tzinfo=UTC)
SEED_DAYS = 3 * 365
WEEK_FROM = datetime(2026, 6, 1, tzinfo=UTC)
WEEK_TO = WEEK_FROM + timedelta(days=7)
PROJECTS = [f"Project {n:02d}" for n in range(20)]
COLUMNS = (
    "id, user_id, source, external_id, date, duration, project, description, created_at, updated_at"
)
COPY_CHUNK = 100_000
NULL = "\\N"
FIRST_USER_ENTRIES = 200_000
TEAM_SIZE = 10


def with_database(url: str, name: str) -> str:
    """Return URL pointing at database NAME on the same server."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def recreate_database(admin_url: str, name: str) -> str:
    """Drop and create database NAME, migrate it, and return its URL."""
    conn = psycopg2.connect(admin_url, connect_timeout=3)
    try:
        conn.autocommit = True
        with conn.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            cursor.execute(f'CREATE DATABASE "{name}"')
    finally:
        conn.close()
    url = with_database(admin_url, name)
    database = open_database(url)
    migrate(database)
    database.close()
    return url


def role_of(n: int) -> str:
    """Return the role of the Nth bench user: the first is an admin, each team's second its
    manager."""
    if n == 0:
        return "admin"
    return "manager" if n % TEAM_SIZE == 1 else "member"


def insert_users(url: str, count: int) -> list[dict[str, str]]:
    """Insert COUNT users sharing one password, and their teams; return their ids, emails,
    roles and teams' ids."""
    password_hash = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()
    teams = [str(uuid.uuid4()) for _ in range(0, count, TEAM_SIZE)]
    users = [
        {
            "id": str(uuid.uuid4()),
            "email": f"bench-{n:03d}@example.com",
            "password": PASSWORD,
            "role": role_of(n),
            "team": teams[n // TEAM_SIZE],
        }
        for n in range(count)
    ]
    with psycopg2.connect(url) as conn, conn.cursor() as cursor:
        for n, team in enumerate(teams):
            cursor.execute(
                "INSERT INTO teams (id, name, created_at) VALUES (%s, %s, now())",
                (team, f"bench team {n}"),
            )
        for n, user in enumerate(users):
            cursor.execute(
                "INSERT INTO users (id, email, password_hash, is_active, created_at, role) "
                "VALUES (%s, %s, %s, true, now(), %s)",
                (user["id"], user["email"], password_hash, user["role"]),
            )
            cursor.execute(
                "INSERT INTO memberships (team_id, user_id, is_manager, created_at) "
                "VALUES (%s, %s, %s, now())",
                (user["team"], user["id"], n % TEAM_SIZE == 1),
            )
    conn.close()
    return users


def entry(n: int, step_seconds: float) -> dict[str, object]:
    """Return the content of the Nth generated entry: deterministic, spread over time."""
    return {
        "date": SEED_START + timedelta(seconds=int(n * step_seconds)),
        "duration": 0.25 + (n % 16) * 0.25,
        "project": PROJECTS[n % len(PROJECTS)],
        "description": f"task {n % 997}",
    }


def copy_lines(user_id: str, source: str, prefix: str, count: int, step: float) -> Iterator[str]:
    """Yield COPY text lines of COUNT entries keyed SOURCE/PREFIX<n>."""
    now = datetime.now(UTC).isoformat()
    for n in range(count):
        yield copy_line(
            user_id, {"source": source, "external_id": f"{prefix}{n}", **entry(n, step)}, now
        )


def copy_line(user_id: str, row: dict[str, object], now: str) -> str:
    """Return one COPY text line (COLUMNS) for an entry ROW of the user, stamped NOW."""
    return (
        f"{time_ordered_id()}\t{user_id}\t{row['source']}\t{copy_text(row['external_id'])}\t"
        f"{row['date'].isoformat()}\t{row['duration']}\t{copy_text(row['project'])}\t"
        f"{copy_text(row['description'])}\t{now}\t{now}\n"
    )


def copy_text(value: str | None) -> str:
    """Escape VALUE for COPY's text format (\\N is NULL)."""
    if value is None:
        return NULL
    for char, escaped in (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r")):
        value = value.replace(char, escaped)
    return value


def copy_entries(url: str, lines: Iterator[str]) -> float:
    """COPY LINES into time_entries in one transaction; return the seconds COPY took."""
    seconds = 0.0
    with psycopg2.connect(url) as conn, conn.cursor() as cursor:
        chunk: list[str] = []
        for line in lines:
            chunk.append(line)
            if len(chunk) == COPY_CHUNK:
                seconds += _copy(cursor, chunk)
                chunk = []
        if chunk:
            seconds += _copy(cursor, chunk)
        started = time.perf_counter()
        conn.commit()
        seconds += time.perf_counter() - started
    conn.close()
    return seconds


def _copy(cursor, chunk: list[str]) -> float:
    buffer = io.StringIO("".join(chunk))
    started = time.perf_counter()
    cursor.copy_expert(f"COPY time_entries ({COLUMNS}) FROM STDIN", buffer)
    return time.perf_counter() - started


def shares(total: int, users: int, first: int = FIRST_USER_ENTRIES) -> list[int]:
    """Return how many of TOTAL entries each of USERS gets: FIRST for the first, the rest
    evenly; evenly for all when FIRST is more than half of TOTAL."""
    if users == 1 or first > total // 2:
        even, extra = divmod(total, users)
        return [even + (n < extra) for n in range(users)]
    rest, extra = divmod(total - first, users - 1)
    return [first] + [rest + (n < extra) for n in range(users - 1)]


def seed_entries(url: str, users: list[dict[str, str]], total: int) -> float:
    """Spread TOTAL entries over USERS (see shares) and three years; return the COPY seconds."""
    seconds = 0.0
    for user, count in zip(users, shares(total, len(users)), strict=True):
        step = SEED_DAYS * 86400 / count
        seconds += copy_entries(url, copy_lines(user["id"], SEED_SOURCE, "s", count, step))
    _settle(url)
    return seconds


def remove_run_entries(url: str) -> int:
    """Delete the entries earlier runs added (all but the seed's); return how many.

    A reused database is thus measured at the seeded size: each run's bulk phase adds rows
    (COPY and PUT alike), and a report over one user's entries slows as they pile up.
    """
    conn = psycopg2.connect(url)
    try:
        conn.autocommit = True
        with conn.cursor() as cursor:
            cursor.execute("DELETE FROM time_entries WHERE source <> %s", (SEED_SOURCE,))
            removed = cursor.rowcount
    finally:
        conn.close()
    if removed:
        _settle(url)
    return removed


def _settle(url: str) -> None:
    """VACUUM ANALYZE and CHECKPOINT now, not by autovacuum and the checkpointer while wrk
    measures."""
    conn = psycopg2.connect(url)
    try:
        conn.autocommit = True
        with conn.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE time_entries")
            cursor.execute("CHECKPOINT")
    finally:
        conn.close()


def existing_users(url: str) -> list[dict[str, str]]:
    """Return the bench users of an already seeded database, or [] when there is none (or
    it was seeded before the users had teams)."""
    try:
        conn = psycopg2.connect(url, connect_timeout=3)
    except psycopg2.OperationalError:
        return []
    try:
        with conn.cursor() as cursor:
            cursor.execute(
                "SELECT u.id, u.email, u.role, m.team_id FROM users u "
                "JOIN memberships m ON m.user_id = u.id "
                "WHERE u.email LIKE 'bench-%%' ORDER BY u.email"
            )
            rows = cursor.fetchall()
    except psycopg2.Error:
        return []
    finally:
        conn.close()
    return [
        {"id": str(id_), "email": email, "password": PASSWORD, "role": role, "team": str(team)}
        for id_, email, role, team in rows
    ]
