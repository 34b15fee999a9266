"""Time a 100,000-row Toggl CSV import end to end (HTTP layer in-process, real PostgreSQL).

    .venv/bin/python -m bench.import_toggl [--rows 100000] [--repeats 5] [--admin-url ...]

Creates a scratch database on the server and migrates it. Each repeat empties the table
(and CHECKPOINTs, so every repeat starts alike), imports the file twice (the second run
finds every row unchanged), then empties the table again and COPYs the same rows (the
ceiling). Prints one line per run, then drops the database.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import time
import uuid
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from zoneinfo import ZoneInfo

import psycopg2
import psycopg2.extensions

from bench import seed
from service import create_app
from service.importers import parse_file
from service.migrate import migrate
from service.migrate import open_database

HEADER = (
    "User,Email,Client,Project,Task,Description,Billable,Start date,Start time,"
    "End date,End time,Duration,Tags,Amount (EUR)\n"
)
PROJECTS = [f"Project {n}" for n in range(40)]


def toggl_csv(rows: int, seed: int = 7) -> bytes:
    """Make a Toggl detailed-report export of ROWS distinct entries."""
    rng = random.Random(seed)
    start = datetime(2023, 1, 2, 8, 0, 0)
    lines = [HEADER]
    for n in range(rows):
        begin = start + timedelta(minutes=17 * n)
        seconds = rng.randint(60, 4 * 3600)
        end = begin + timedelta(seconds=seconds)
        duration = f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
        lines.append(
            f"Peter Tester,peter@example.test,Big Company,{rng.choice(PROJECTS)},,"
            f'"Task {n}, part {n % 7}",Yes,{begin:%Y-%m-%d},{begin:%H:%M:%S},'
            f"{end:%Y-%m-%d},{end:%H:%M:%S},{duration},,\n"
        )
    return "".join(lines).encode()


def admin(url: str, sql: str) -> None:
    """Run one statement outside a transaction."""
    conn = psycopg2.connect(url)
    conn.autocommit = True
    with conn.cursor() as cursor:
        cursor.execute(sql)
    conn.close()


def empty(url: str) -> str:
    """Empty time_entries and CHECKPOINT; return the id of the one user."""
    conn = psycopg2.connect(url)
    conn.autocommit = True
    with conn.cursor() as cursor:
        cursor.execute("SELECT id FROM users")
        (user_id,) = cursor.fetchone()
        cursor.execute("TRUNCATE time_entries")
        cursor.execute("CHECKPOINT")
    conn.close()
    return user_id


def copy_seconds(url: str, rows: list[dict[str, object]]) -> float:
    """Empty time_entries, then COPY ROWS into it; return COPY's seconds."""
    user_id = empty(url)
    now = datetime.now(UTC).isoformat()
    # The app's pool put psycopg2 in green mode, where COPY is refused: leave it for the
    # COPY, and restore it, so every import runs as the service runs it.
    green = psycopg2.extensions.get_wait_callback()
    psycopg2.extensions.set_wait_callback(None)
    try:
        return seed.copy_entries(url, (seed.copy_line(user_id, row, now) for row in rows))
    finally:
        psycopg2.extensions.set_wait_callback(green)


def run(admin_url: str, rows: int, repeats: int) -> None:
    """Import the file twice, then COPY its rows, REPEATS times in a scratch database;
    print the timings."""
    name = f"tt_bench_{uuid.uuid4().hex[:10]}"
    url = seed.with_database(admin_url, name)
    admin(admin_url, f'CREATE DATABASE "{name}"')
    try:
        migrate(open_database(url))
        app = create_app(
            {
                "DATABASE_URL": url,
                "JWT_SECRET": "b" * 48,
                "BCRYPT_ROUNDS": 4,
                "LOG_LEVEL": "WARNING",
                "REGISTRATION": "open",
            }
        )
        client = app.test_client()
        account = {"email": "bench@example.com", "password": "correct horse"}
        client.post("/auth/register", json=account)
        token = client.post("/auth/login", json=account).json["access_token"]
        data = toggl_csv(rows)
        parsed = parse_file(data, format_name="toggl_csv", zone=ZoneInfo("UTC"), max_rows=rows)
        print(f"file: {rows} rows, {len(data) / 1e6:.1f} MB")
        for _ in range(repeats):
            empty(url)
            for label in ("first import", "same file again"):
                began, cpu = time.perf_counter(), time.process_time()
                response = client.post(
                    "/api/imports",
                    data={"file": (io.BytesIO(data), "toggl.csv")},
                    headers={"Authorization": f"Bearer {token}"},
                    content_type="multipart/form-data",
                )
                took, cpu = time.perf_counter() - began, time.process_time() - cpu
                body = response.json
                print(
                    f"{label}: {took:.2f} s wall ({cpu:.2f} s CPU in this process), status "
                    f"{response.status_code}, created {body.get('created')}, unchanged "
                    f"{body.get('unchanged')}, {rows / took:,.0f} rows/s; "
                    f"load {os.getloadavg()[0]:.1f}",
                    flush=True,
                )
            copied = copy_seconds(url, parsed.entries)
            print(f"COPY of the same rows: {copied:.2f} s into the emptied table", flush=True)
    finally:
        from service.db import db

        if not db.is_closed():
            db.close()
        db.obj.close_all()
        admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    """Parse the arguments and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    run(args.admin_url, args.rows, args.repeats)


if __name__ == "__main__":
    main()
