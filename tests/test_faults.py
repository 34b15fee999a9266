"""Database outages, caused for real: a proxy between gunicorn and PostgreSQL refuses, cuts
and stalls connections while the tests watch the probes, the API and the stored rows."""

from __future__ import annotations

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest
import requests

from tests.faults import pg_rows
from tests.faults import sign_up
from tests.servers import answers
from tests.servers import wait_for
from tests.servers import worker_pids

pytestmark = pytest.mark.faults

# Short timeouts keep the tests quick; the behaviour is the same at the defaults.
TIMEOUTS = {"DB_CONNECT_TIMEOUT": 1, "DB_STATEMENT_TIMEOUT": 1000}
# The longest any request may take while the database is gone: a connect or statement
# timeout, plus slack for a shared two-core machine.
PATIENCE = 4


def batch(size: int, tag: str) -> dict:
    start = datetime(2026, 9, 1, tzinfo=UTC)
    return {
        "entries": [
            {
                "source": "toggl",
                "external_id": str(n),
                "date": (start + timedelta(minutes=n)).isoformat(),
                "duration": 0.25,
                "description": tag,
            }
            for n in range(size)
        ]
    }


def count_rows(database_url: str) -> int:
    return pg_rows(database_url, "SELECT count(*) FROM time_entries")[0][0]


@pytest.fixture
def proxied(serve, fault_proxy, pg_url):
    """A gunicorn server whose every database connection goes through the fault proxy."""
    server = serve(fault_proxy.url_for(pg_url), **TIMEOUTS)
    headers = sign_up(server)
    return server, headers


def timed_get(url: str, **kwargs) -> tuple[requests.Response, float]:
    started = time.monotonic()
    response = requests.get(url, timeout=30, **kwargs)
    return response, time.monotonic() - started


def assert_down(server, headers) -> None:
    """Every probe and API call answers as docs/operations.md says while the database is gone."""
    live, _ = timed_get(server.url("/livez"))
    health, health_took = timed_get(server.url("/health"))
    ready, ready_took = timed_get(server.url("/readyz"))
    api, api_took = timed_get(server.url("/api/entries"), headers=headers)

    assert live.status_code == 200
    assert (health.status_code, health.json()["status"]) == (503, "unhealthy")
    assert (ready.status_code, ready.json()["failed"]) == (503, "database")
    assert api.status_code == 503
    assert api.headers["Content-Type"] == "application/problem+json"
    assert api.headers["Retry-After"] == "5"
    assert api.json()["status"] == 503
    assert max(health_took, ready_took, api_took) < PATIENCE


def assert_recovers(server, headers) -> None:
    """Without a restart, the API and the probes answer 200 again within seconds."""
    wait_for(lambda: answers(server, "/readyz"), 10, "ready again after the outage")
    for _ in range(8):
        response = requests.get(server.url("/api/entries"), headers=headers, timeout=10)
        assert response.status_code == 200, response.text


def test_a_refusing_database_is_503_fast_and_the_service_recovers_alone(proxied, fault_proxy):
    server, headers = proxied

    fault_proxy.refuse()

    assert_down(server, headers)
    fault_proxy.restore()
    assert_recovers(server, headers)


def test_a_hanging_database_is_503_within_the_timeouts_and_the_service_recovers(
    proxied, fault_proxy
):
    server, headers = proxied

    fault_proxy.stall()

    assert_down(server, headers)
    fault_proxy.cut()
    fault_proxy.restore()
    assert_recovers(server, headers)


def test_pooled_connections_cut_by_a_restart_are_replaced_without_an_error(proxied, fault_proxy):
    server, headers = proxied
    url = server.url("/api/entries")
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: requests.get(url, headers=headers, timeout=10), range(16)))
    assert fault_proxy.live_links >= 2

    fault_proxy.cut()
    answers = [requests.get(url, headers=headers, timeout=10).status_code for _ in range(12)]

    assert answers == [200] * 12


@pytest.mark.parametrize(
    ("marker", "after_forwarding", "rows"),
    [
        (b"INSERT INTO", False, 0),
        (b"COMMIT", False, 0),
        (b"COMMIT", True, 1000),
    ],
    ids=["cut-before-insert", "cut-before-commit", "cut-after-commit-sent"],
)
def test_a_cut_mid_bulk_upsert_is_an_error_and_stores_all_or_nothing(
    proxied, fault_proxy, pg_url, marker, after_forwarding, rows
):
    server, headers = proxied
    fault_proxy.cut_on(marker, after_forwarding=after_forwarding)

    response = requests.put(
        server.url("/api/entries/bulk"), json=batch(1000, "cut"), headers=headers, timeout=30
    )

    assert fault_proxy.tripped.is_set()
    assert response.status_code == 503
    assert response.headers["Content-Type"] == "application/problem+json"
    # The server may finish a COMMIT it received after the client already saw the error.
    wait_for(lambda: count_rows(pg_url) == rows, 5, f"{rows} rows stored")
    again = requests.put(
        server.url("/api/entries/bulk"), json=batch(1000, "cut"), headers=headers, timeout=30
    )
    assert again.status_code == 200
    assert again.json()["created"] + again.json()["unchanged"] == 1000
    assert count_rows(pg_url) == 1000


@pytest.mark.parametrize("delay", [0.05, 0.2])
def test_a_worker_killed_mid_bulk_upsert_leaves_all_or_nothing(serve, pg_url, delay):
    server = serve(pg_url, workers=1)
    headers = sign_up(server)
    url = server.url("/api/entries/bulk")
    with ThreadPoolExecutor(1) as pool:
        sent = pool.submit(
            requests.put, url, json=batch(1000, "killed"), headers=headers, timeout=30
        )
        time.sleep(delay)
        os.kill(worker_pids(server)[0], signal.SIGKILL)
        try:
            answered = sent.result().status_code
        # Killed before it answered, or (the rows written) between the headers and the body.
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError):
            answered = None

    stored = count_rows(pg_url)
    wait_for(lambda: answers(server, "/readyz"), 20, "a new worker")
    again = requests.put(url, json=batch(1000, "killed"), headers=headers, timeout=30)

    assert (answered, stored) in {(None, 0), (None, 1000), (200, 1000)}
    assert again.status_code == 200
    assert count_rows(pg_url) == 1000
