"""Sync jobs through a real huey consumer process (`python -m service.worker`) and fake Toggl."""

from __future__ import annotations

import signal
import sys
import threading
import time
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from types import SimpleNamespace

import pytest
from werkzeug import Request

from tests.conftest import INTEGRATIONS_KEY
from tests.servers import free_port
from tests.servers import server_env
from tests.servers import wait_for
from tests.vendor_fakes import FakeToggl

OWNER, WORKSPACE = 7654321, 1234567
ENTRIES = "/api/v9/me/time_entries"
STALE_AFTER = 3
NOTHING = {"created": 0, "updated": 0, "unchanged": 0, "deleted": 0, "skipped": 0}
# Database 13 of the local Redis, so the queue stays apart from other users of the server.
REDIS_URL = "redis://127.0.0.1:6379/13"


def ago(days: int) -> datetime:
    """Return 09:00 UTC, DAYS days before today."""
    return datetime.now(UTC).replace(hour=9, minute=0, second=0, microsecond=0) - timedelta(days)


@pytest.fixture
def jobs_url(request, tmp_path) -> str:
    """A SQLite queue of this test's own, or the local Redis when parametrized "redis"."""
    if getattr(request, "param", "sqlite") == "redis":
        return REDIS_URL
    return f"sqlite:///{tmp_path / 'jobs.db'}"


@pytest.fixture
def settings(httpserver_ipv4, jobs_url) -> dict[str, object]:
    """What the app and its worker share: the fake Toggl, the queue, a quick stale limit."""
    return {
        "TOGGL_API_URL": httpserver_ipv4.url_for("/toggl"),
        "JOBS_URL": jobs_url,
        "JOB_STALE_AFTER": STALE_AFTER,
        "SYNC_MAX_WAIT": 0.01,
        "SYNC_INTERVAL": 60,
    }


@pytest.fixture
def app(make_app, pg_url, settings):
    """The app on PostgreSQL, sharing the worker's settings."""
    return make_app(pg_url, **settings)


@pytest.fixture
def gate(httpserver_ipv4):
    """Hold Toggl's time-entries answers while `gate.hold` is set; `gate.held` says one waits."""
    return SimpleNamespace(hold=threading.Event(), held=threading.Event())


@pytest.fixture
def toggl(httpserver_ipv4, client, auth_headers, gate) -> FakeToggl:
    """A Toggl account with three entries of the owner, the first answer held at the gate."""
    fake = FakeToggl(httpserver_ipv4, "toggl-secret", OWNER, [WORKSPACE])
    for days in (200, 20, 2):
        fake.add(id=days, workspace_id=WORKSPACE, start=ago(days), seconds=3600, at=ago(1))

    def held(request: Request):
        gate.held.set()
        while gate.hold.is_set():
            time.sleep(0.05)
        return fake.authenticated(fake.time_entries)(request)

    httpserver_ipv4.expect_request(f"/toggl{ENTRIES}").respond_with_handler(held)
    fake.install()
    body = {"api_token": "toggl-secret"}
    assert client.put("/api/integrations/toggl", json=body, headers=auth_headers).status_code == 200
    return fake


@pytest.fixture
def start_worker(launch, pg_url, settings):
    """Start `python -m service.worker` with the app's settings (and any given)."""

    def start(**extra: object):
        env = server_env(
            pg_url,
            free_port(),
            INTEGRATIONS_KEY=INTEGRATIONS_KEY,
            JOB_WORKERS=2,
            LOG_FORMAT="text",
            **{**settings, **extra},
        )
        return launch([sys.executable, "-m", "service.worker"], env)

    return start


@pytest.fixture
def job_state(client, auth_headers):
    """Wait until the job shows STATE; return it as GET shows it."""

    def wait(job_id: str, state: str, timeout: float = 30) -> dict:
        seen = {}

        def shows() -> bool:
            seen.update(client.get(f"/api/jobs/{job_id}", headers=auth_headers).json)
            return seen["state"] == state

        wait_for(shows, timeout, f"job {job_id} to be {state}")
        return seen

    return wait


def stored_ids(client, auth_headers) -> list[str]:
    """Return the external ids of the caller's Toggl entries, sorted, duplicates kept."""
    items = client.get("/api/entries?source=toggl&limit=500", headers=auth_headers).json["items"]
    return sorted(item["external_id"] for item in items)


@pytest.mark.parametrize("jobs_url", ["sqlite", "redis"], indirect=True)
def test_a_job_is_queued_run_by_a_worker_and_shows_its_counts(
    client, auth_headers, toggl, gate, start_worker, job_state
):
    gate.hold.set()

    answer = client.post("/api/sync/toggl", headers=auth_headers)
    queued = client.get(answer.headers["Location"], headers=auth_headers).json
    start_worker()
    running = job_state(answer.json["id"], "running")
    gate.hold.clear()
    done = job_state(answer.json["id"], "succeeded")

    assert answer.status_code == 202
    assert answer.headers["Location"] == f"/api/jobs/{answer.json['id']}"
    assert (answer.json["state"], answer.json["kind"], queued["state"]) == (
        "queued",
        "requested",
        "queued",
    )
    assert running["started_at"] is not None
    assert done["counts"] == {
        "created": 3,
        "updated": 0,
        "unchanged": 0,
        "deleted": 0,
        "skipped": 0,
    }
    assert (done["error"], done["attempts"]) == (None, 1)
    assert stored_ids(client, auth_headers) == ["2", "20", "200"]


def test_a_worker_killed_mid_sync_is_taken_over_by_the_sweep_without_duplicates(
    app, client, auth_headers, toggl, gate, start_worker, job_state
):
    gate.hold.set()
    job_id = client.post("/api/sync/toggl", headers=auth_headers).json["id"]
    first = start_worker()
    wait_for(gate.held.is_set, 30, "the worker to ask Toggl")
    first.process.send_signal(signal.SIGKILL)
    first.process.wait(timeout=10)
    gate.hold.clear()
    start_worker()
    time.sleep(STALE_AFTER + 1)

    app.extensions["jobs"].sweep()
    done = job_state(job_id, "succeeded")

    assert (done["attempts"], done["counts"]["created"]) == (2, 3)
    assert stored_ids(client, auth_headers) == ["2", "20", "200"]


def test_with_the_queue_down_a_sync_is_accepted_and_waits_for_the_sweep(
    make_app, pg_url, settings, client, auth_headers, toggl, start_worker, job_state
):
    down = make_app(pg_url, **{**settings, "JOBS_URL": f"redis://127.0.0.1:{free_port()}/0"})
    began = time.monotonic()

    answer = down.test_client().post("/api/sync/toggl", headers=auth_headers)
    took = time.monotonic() - began
    shown = client.get(answer.headers["Location"], headers=auth_headers)
    start_worker()
    client.application.extensions["jobs"].sweep()

    assert (answer.status_code, answer.json["state"], shown.json["state"]) == (
        202,
        "queued",
        "queued",
    )
    assert took < 5
    assert job_state(answer.json["id"], "succeeded")["counts"]["created"] == 3


def test_the_schedule_queues_each_integration_once_per_interval(
    app, client, auth_headers, toggl, start_worker, job_state
):
    start_worker()
    app.extensions["jobs"].sweep()
    app.extensions["jobs"].sweep()
    listed = client.get("/api/jobs?source=toggl", headers=auth_headers).json["items"]

    assert [(job["kind"], job["source"]) for job in listed] == [("scheduled", "toggl")]
    assert job_state(listed[0]["id"], "succeeded")["counts"]["created"] == 3


def test_a_job_is_shown_only_to_its_owner(client, auth_headers, toggl, make_user, headers_for):
    job_id = client.post("/api/sync/toggl", headers=auth_headers).json["id"]
    other = headers_for(make_user())

    mine = client.get(f"/api/jobs/{job_id}", headers=auth_headers)
    theirs = client.get(f"/api/jobs/{job_id}", headers=other)
    their_list = client.get("/api/jobs", headers=other)

    assert (mine.status_code, mine.json["id"]) == (200, job_id)
    assert theirs.status_code == 404
    assert theirs.mimetype == "application/problem+json"
    assert their_list.json == {"items": []}
