"""Racing timers through a real gunicorn on PostgreSQL: starts at once leave one running
timer; stops and PATCHes at once each see the other's outcome."""

from __future__ import annotations

import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from datetime import timedelta
from itertools import pairwise

import psycopg2
import pytest
import requests

from service.models import TIMESTAMP_FORMAT
from service.models import utcnow
from tests.faults import pg_rows
from tests.faults import sign_up
from tests.servers import wait_for

pytestmark = pytest.mark.faults

STARTERS = 6


def waiting_for_locks(database_url: str) -> int:
    sql = (
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    return pg_rows(database_url, sql)[0][0]


def test_starts_at_once_leave_one_running_timer_and_a_chain_of_stopped_ones(serve, pg_url):
    server = serve(pg_url, workers=1, threads=8)  # room for every start at once
    headers = sign_up(server)
    user_id = requests.get(server.url("/auth/me"), headers=headers, timeout=10).json()["id"]

    def start(_: int) -> int:
        return requests.post(server.url("/api/timer"), headers=headers, timeout=30).status_code

    # An uncommitted running entry: every start finds no timer, then its insert queues on
    # the unique index. Rolled back, the starts' inserts collide with one another.
    blocker = psycopg2.connect(pg_url)
    try:
        with blocker.cursor() as cursor:
            now = utcnow().strftime(TIMESTAMP_FORMAT)
            cursor.execute(
                "INSERT INTO time_entries (id, user_id, source, date, created_at, updated_at)"
                " VALUES (%s, %s, 'manual', %s, %s, %s)",
                (str(uuid.uuid4()), user_id, now, now, now),
            )
        with ThreadPoolExecutor(STARTERS) as pool:
            statuses = pool.map(start, range(STARTERS))
            wait_for(lambda: waiting_for_locks(pg_url) == STARTERS, 10, "every start queued")
            blocker.rollback()
            statuses = Counter(statuses)
    finally:
        blocker.close()

    entries = requests.get(server.url("/api/entries"), headers=headers, timeout=10).json()
    chain = sorted(entries["items"], key=lambda entry: entry["date"])
    assert statuses == {201: STARTERS}
    assert [entry["running"] for entry in chain] == [False] * (STARTERS - 1) + [True]
    for stopped, following in pairwise(chain):
        end = datetime.fromisoformat(stopped["date"]) + timedelta(hours=stopped["duration"])
        assert abs(end - datetime.fromisoformat(following["date"])) < timedelta(milliseconds=1)


def test_stops_and_a_patch_at_once_each_see_the_others_outcome(serve, pg_url):
    server = serve(pg_url, workers=1, threads=8)
    headers = sign_up(server)
    started = requests.post(server.url("/api/timer"), headers=headers, timeout=10)
    entry = server.url(started.headers["Location"])
    conditional = {**headers, "If-Match": started.headers["ETag"]}

    def stop() -> int:
        return requests.post(server.url("/api/timer/stop"), headers=headers, timeout=30).status_code

    def patch() -> int:
        body = {"project": "Gemini"}
        return requests.patch(entry, json=body, headers=conditional, timeout=30).status_code

    # Hold the row so both stops and the PATCH read it running, then queue for it.
    blocker = psycopg2.connect(pg_url)
    try:
        with blocker.cursor() as cursor:
            cursor.execute("SELECT 1 FROM time_entries FOR UPDATE")
        with ThreadPoolExecutor(3) as pool:
            calls = [pool.submit(stop), pool.submit(stop), pool.submit(patch)]
            wait_for(lambda: waiting_for_locks(pg_url) == 3, 10, "two stops and a PATCH queued")
            blocker.rollback()
            stops, patched = sorted(c.result() for c in calls[:2]), calls[2].result()
    finally:
        blocker.close()

    final = requests.get(entry, headers=headers, timeout=10).json()
    assert stops == [200, 404]
    assert patched in (200, 412)
    assert final["running"] is False
    assert final["project"] == ("Gemini" if patched == 200 else None)
    assert requests.get(server.url("/api/timer"), headers=headers, timeout=10).status_code == 404
