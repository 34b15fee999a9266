"""Reports and export over 1,000,000 entries of one user on PostgreSQL.

    .venv/bin/python -m bench.reports_export [--entries 1000000]

Creates a throwaway database on TEST_DATABASE_URL's server, fills it with generate_series,
times `reports.summary` per grouping (best of 3) and streams the whole CSV export while
watching the process's peak memory (ru_maxrss). Drops the database at the end.
"""

from __future__ import annotations

import argparse
import os
import resource
import time
import uuid

import psycopg2

from service.db import db
from service.db import make_database
from service.entries import export_entries
from service.export import csv_chunks
from service.migrate import migrate
from service.schemas import ExportQuery
from service.schemas import ReportQuery

SERVER = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
GROUPINGS = ["day", "week", "month", "project", "project,week", "source,month"]

FILL = """
INSERT INTO time_entries
    (id, user_id, source, external_id, date, duration, project, description, created_at, updated_at)
SELECT gen_random_uuid(), %(user)s, (ARRAY['toggl', 'tempo', 'manual'])[1 + i %% 3], 'e' || i,
       timestamptz '2024-01-01 00:00:00+00' + (i * interval '97 seconds'),
       0.25 + (i %% 16) * 0.25, 'Project ' || (i %% 40), 'work item ' || i, now(), now()
FROM generate_series(1, %(count)s) AS i
"""


def admin(sql: str) -> None:
    conn = psycopg2.connect(SERVER)
    conn.autocommit = True
    with conn.cursor() as cursor:
        cursor.execute(sql)
    conn.close()


def max_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=1_000_000)
    count = parser.parse_args().entries
    name = f"tt_bench_{uuid.uuid4().hex[:8]}"
    admin(f'CREATE DATABASE "{name}"')
    try:
        run(SERVER.rsplit("/", 1)[0] + f"/{name}", count)
    finally:
        if not db.is_closed():
            db.close()
        admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run(url: str, count: int) -> None:
    database = make_database(url, pooled=False, statement_timeout_ms=0)
    migrate(database)
    db.initialize(database)
    user = uuid.uuid4()
    with db.connection_context():
        db.execute_sql(
            "INSERT INTO users (id, email, password_hash, is_active, created_at)"
            " VALUES (%s, 'bench@example.com', 'x', true, now())",
            (str(user),),
        )
        started = time.perf_counter()
        db.execute_sql(FILL, {"user": str(user), "count": count})
        db.execute_sql("ANALYZE time_entries")
        print(f"filled {count:,} entries in {time.perf_counter() - started:.1f} s")
        from service import reports

        for grouping in GROUPINGS:
            query = ReportQuery(group_by=grouping, tz="Europe/Berlin")
            timings = []
            for _ in range(3):
                started = time.perf_counter()
                answer = reports.summary(user, query)
                timings.append(time.perf_counter() - started)
            print(
                f"summary group_by={grouping:<13} rows={len(answer['rows']):>6}"
                f"  best {min(timings) * 1000:7.1f} ms  worst {max(timings) * 1000:7.1f} ms"
            )
        before = max_rss_mib()
        started = time.perf_counter()
        size = sum(len(chunk) for chunk in csv_chunks(export_entries(user, ExportQuery())))
        print(
            f"export csv: {size / 2**20:.0f} MiB in {time.perf_counter() - started:.1f} s;"
            f" peak RSS {before:.0f} MiB before, {max_rss_mib():.0f} MiB after"
        )


if __name__ == "__main__":
    main()
