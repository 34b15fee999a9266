"""gunicorn.conf.py under a real gunicorn: SIGTERM drains, finishes in-flight work, exits 0."""

from __future__ import annotations

import logging
import runpy
import signal
import socket
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import psycopg2
import pytest
import requests
from gunicorn.config import Config

from tests.conftest import TEST_SECRET
from tests.servers import ROOT
from tests.servers import answers
from tests.servers import read_by_gunicorn
from tests.servers import wait_for
from tests.servers import worker_pids

SLOW_SECONDS = 4


def count_sessions(url: str, sql: str) -> int:
    """Run SQL, a count over pg_stat_activity, on its own autocommit connection to URL."""
    conn = psycopg2.connect(url, connect_timeout=3)
    conn.autocommit = True
    try:
        with conn.cursor() as cursor:
            cursor.execute(sql)
            return cursor.fetchone()[0]
    finally:
        conn.close()


def sleeping_queries(url: str) -> int:
    """Count the pg_sleep queries running in URL's database right now."""
    return count_sessions(
        url,
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        " AND state = 'active' AND query LIKE 'SELECT pg_sleep%'",
    )


def test_gunicorn_builds_no_access_line_of_its_own(monkeypatch, caplog):
    """The app logs every request; given a logging config, gunicorn would build a line too."""
    monkeypatch.setenv("JWT_SECRET", TEST_SECRET)
    conf = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    cfg = Config()
    cfg.set("logconfig_dict", conf["logconfig_dict"])
    caplog.set_level(logging.DEBUG, logger="gunicorn.access")

    conf["logger_class"](cfg).access(None, None, {}, timedelta(milliseconds=3))

    assert caplog.records == []


@pytest.mark.parametrize(
    ("env", "runs"),
    [({}, "sync"), ({"WORKER_CLASS": "gthread"}, "gthread")],
    ids=["default", "gthread"],
)
def test_gunicorn_runs_the_worker_class_asked_for(monkeypatch, env, runs):
    """gunicorn turns a sync worker with threads into gthread; the settings give sync one."""
    assert read_by_gunicorn(monkeypatch, **env).worker_class_str == runs


def test_by_default_four_sync_workers_serve_one_request_each_and_close_it(monkeypatch):
    cfg = read_by_gunicorn(monkeypatch)

    assert (cfg.worker_class_str, cfg.workers, cfg.threads, cfg.keepalive) == ("sync", 4, 1, 0)


@pytest.mark.parametrize(
    ("env", "connections"),
    [
        ({}, 1),
        ({"THREADS": "3"}, 3),
        ({"KEEPALIVE": "5"}, 1000),
        ({"THREADS": "3", "KEEPALIVE": "5"}, 1000),
    ],
    ids=["default", "threads", "keep-alive", "both"],
)
def test_a_gthread_worker_holds_as_many_connections_as_threads_unless_it_keeps_them_alive(
    monkeypatch, env, connections
):
    """With keep-alive on, idle connections must not take the places of busy ones."""
    cfg = read_by_gunicorn(monkeypatch, WORKER_CLASS="gthread", **env)

    assert cfg.worker_connections == connections


def test_a_gevent_worker_keeps_its_thousand_greenlets_without_keep_alive(monkeypatch):
    assert read_by_gunicorn(monkeypatch, WORKER_CLASS="gevent").worker_connections == 1000


LAYOUTS = {
    "gthread": {"WORKER_CLASS": "gthread", "workers": 2, "threads": 4},
    "sync": {"WORKER_CLASS": "sync", "workers": 5, "threads": 1},
}


def catches_sigabrt(pid: int) -> bool:
    """Tell whether gunicorn worker PID has set its own signal handlers: it then catches
    SIGABRT, which its master does not. A SIGTERM that comes before is caught by the
    master's handler it inherited, so the worker never learns it should stop."""
    status = Path(f"/proc/{pid}/status").read_text()
    caught = next(line for line in status.splitlines() if line.startswith("SigCgt:"))
    return bool(int(caught.split()[1], 16) >> (signal.SIGABRT - 1) & 1)


def serve_slow_app(serve, postgres_url: str, *, workers: int = 1, **settings: object):
    """Start gunicorn serving the app plus a pg_sleep route under SETTINGS; wait until ready
    and every worker has its signal handlers."""
    server = serve(
        postgres_url, workers=workers, app="tests.slow_app:app", ready="/readyz", **settings
    )

    def all_booted() -> bool:
        pids = worker_pids(server)
        return len(pids) == workers and all(catches_sigabrt(pid) for pid in pids)

    wait_for(all_booted, 30, f"{workers} workers with their signal handlers")
    return server


@pytest.fixture(params=LAYOUTS)
def slow_server(request, serve, postgres_url):
    """The slow app with room for five requests at once."""
    return serve_slow_app(serve, postgres_url, DRAIN_SECONDS=2, **LAYOUTS[request.param])


def test_sigterm_fails_readyz_finishes_in_flight_requests_and_exits_0(slow_server, postgres_url):
    with ThreadPoolExecutor(max_workers=3) as pool:
        slow_url = slow_server.url(f"/test/sleep?seconds={SLOW_SECONDS}")
        in_flight = [pool.submit(requests.get, slow_url, timeout=30) for _ in range(3)]
        wait_for(lambda: sleeping_queries(postgres_url) == 3, 10, "three requests in pg_sleep")
        # A worker still booting when SIGTERM comes exits without serving: make sure one
        # of the two left is up, so there is an idle worker to answer while draining.
        wait_for(lambda: answers(slow_server, "/livez"), 10, "an idle worker to serve")

        slow_server.process.send_signal(signal.SIGTERM)
        wait_for(lambda: answers(slow_server, "/readyz", 503), 3, "/readyz to fail while draining")
        draining = requests.get(slow_server.url("/readyz"), timeout=2)
        finished = [future.result() for future in in_flight]

    assert draining.status_code == 503
    assert draining.json() == {"status": "unready", "failed": "draining", "detail": "shutting down"}
    assert [(r.status_code, r.json()) for r in finished] == [(200, {"slept": SLOW_SECONDS})] * 3
    assert slow_server.process.wait(timeout=20) == 0
    assert "Shutting down: Master" in slow_server.output()


def test_after_the_drain_the_server_stops_at_once_and_takes_no_new_connections(slow_server):
    slow_server.process.send_signal(signal.SIGTERM)

    # DRAIN_SECONDS is 2; an idle sync worker not woken would sleep out half its timeout.
    assert slow_server.process.wait(timeout=8) == 0
    with pytest.raises(requests.ConnectionError):
        requests.get(slow_server.url("/livez"), timeout=2)


@pytest.mark.parametrize("worker_class", ["sync", "gthread"])
def test_a_request_waits_for_a_free_worker_not_behind_a_slow_one(serve, postgres_url, worker_class):
    """Waiting connections queue in the kernel, so the idle worker answers each new one."""
    server = serve_slow_app(serve, postgres_url, WORKER_CLASS=worker_class, workers=2, threads=1)
    with ThreadPoolExecutor(max_workers=1) as pool:
        slow = pool.submit(
            requests.get, server.url(f"/test/sleep?seconds={SLOW_SECONDS}"), timeout=30
        )
        wait_for(lambda: sleeping_queries(postgres_url) == 1, 10, "the slow request in pg_sleep")
        wait_for(lambda: answers(server, "/livez"), 10, "the other worker to have booted")

        quick = [requests.get(server.url("/livez"), timeout=SLOW_SECONDS / 4) for _ in range(8)]

        assert not slow.done()
        assert [r.status_code for r in quick] == [200] * 8
        assert slow.result().json() == {"slept": SLOW_SECONDS}


def drop_service_connections(url: str) -> int:
    """End every connection the service holds to URL's database, as a restart would."""
    return count_sessions(
        url,
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
        " WHERE datname = current_database() AND application_name = 'time-tracker'",
    )


def test_a_sync_worker_whose_pooled_connection_was_dropped_answers_on_a_new_one(
    serve, postgres_url
):
    server = serve_slow_app(serve, postgres_url, WORKER_CLASS="sync", threads=1)
    assert requests.get(server.url("/health"), timeout=5).status_code == 200
    dropped = drop_service_connections(postgres_url)

    answer = requests.get(server.url("/health"), timeout=5)

    assert dropped >= 1
    assert answer.json()["status"] == "healthy"


def sync_server(serve, postgres_url: str):
    """The slow app on one sync worker that may go 2 s without a heartbeat."""
    return serve_slow_app(serve, postgres_url, WORKER_CLASS="sync", threads=1, WORKER_TIMEOUT=2)


def test_a_sync_worker_held_by_a_silent_client_is_still_restarted(serve, postgres_url):
    server = sync_server(serve, postgres_url)
    before = set(worker_pids(server))

    with socket.create_connection(("127.0.0.1", server.port), timeout=10):
        wait_for(lambda: set(worker_pids(server)) - before, 15, "a new worker in its place")

    assert answers(server, "/livez")
