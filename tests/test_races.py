"""Racing writers through real gunicorn servers: overlapping bulk upserts on PostgreSQL, and
two workers writing one SQLite file at once."""

from __future__ import annotations

from collections import Counter
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest
import requests

from service.migrate import migrate
from service.migrate import open_database
from tests.faults import pg_rows
from tests.faults import sign_up

pytestmark = pytest.mark.faults

WRITERS = 6
ROUNDS = 4
KEYS = 120


def writes_of(writer: int, round_: int) -> list[dict]:
    """One writer's batch: a window of keys overlapping its neighbours', in its own order."""
    keys = [(writer * KEYS // 3 + n) % (KEYS * 2) for n in range(KEYS)]
    if writer % 2:
        keys.reverse()
    tag = f"writer-{writer}-round-{round_}"
    return [
        {
            "source": "toggl",
            "external_id": f"k{key}",
            "date": (datetime(2026, 8, 1, tzinfo=UTC) + timedelta(hours=key)).isoformat(),
            "duration": 1 + writer / 10,
            "project": tag,
            "description": tag,
        }
        for key in keys
    ]


def stored_rows(database_url: str) -> list[tuple]:
    sql = "SELECT external_id, duration, project, description FROM time_entries"
    return pg_rows(database_url, sql)


def test_racing_bulk_upserts_keep_one_row_per_key_holding_one_whole_write(serve, pg_url):
    server = serve(pg_url)
    headers = sign_up(server)
    batches = [writes_of(w, r) for r in range(ROUNDS) for w in range(WRITERS)]

    def send(entries: list[dict]) -> int:
        url = server.url("/api/entries/bulk")
        return requests.put(url, json={"entries": entries}, headers=headers, timeout=30).status_code

    with ThreadPoolExecutor(WRITERS) as pool:
        statuses = Counter(pool.map(send, batches))

    rows = stored_rows(pg_url)
    written = defaultdict(set)  # key -> every (duration, project, description) sent for it
    for item in (item for entries in batches for item in entries):
        written[item["external_id"]].add((item["duration"], item["project"], item["description"]))
    assert statuses == {200: len(batches)}
    assert sorted(row[0] for row in rows) == sorted(written)
    assert all(tuple(row[1:]) in written[row[0]] for row in rows)


def test_two_workers_writing_one_sqlite_file_never_report_it_locked(serve, tmp_path):
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    migrate(open_database(url))
    server = serve(url, workers=2, threads=4)
    users = [sign_up(server) for _ in range(3)]
    jobs = [(users[n % 3], writes_of(n % WRITERS, n)[:40]) for n in range(24)]

    def send(job) -> int:
        headers, entries = job
        bulk = requests.put(
            server.url("/api/entries/bulk"), json={"entries": entries}, headers=headers, timeout=30
        )
        single = requests.post(
            server.url("/api/entries"),
            json={"date": "2026-11-02T09:00:00Z", "duration": 1},
            headers=headers,
            timeout=30,
        )
        return bulk.status_code * 1000 + single.status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = Counter(pool.map(send, jobs))

    assert statuses == {200_201: len(jobs)}
