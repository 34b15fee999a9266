"""gunicorn.conf.py under a real gunicorn: SIGTERM drains, finishes in-flight work, exits 0."""

from __future__ import annotations

import logging
import runpy
import signal
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import psycopg2
import pytest
import requests
from gunicorn.config import Config

from tests.servers import ROOT
from tests.servers import answers
from tests.servers import free_port
from tests.servers import server_env
from tests.servers import wait_for

SLOW_SECONDS = 4


def sleeping_queries(url: str) -> int:
    """Count the pg_sleep queries running in URL's database right now."""
    conn = psycopg2.connect(url, connect_timeout=3)
    try:
        with conn.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND state = 'active' AND query LIKE 'SELECT pg_sleep%%'"
            )
            return cursor.fetchone()[0]
    finally:
        conn.close()


def test_gunicorn_builds_no_access_line_of_its_own(caplog):
    """The app logs every request; given a logging config, gunicorn would build a line too."""
    conf = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    cfg = Config()
    cfg.set("logconfig_dict", conf["logconfig_dict"])
    caplog.set_level(logging.DEBUG, logger="gunicorn.access")

    conf["logger_class"](cfg).access(None, None, {}, timedelta(milliseconds=3))

    assert caplog.records == []


@pytest.mark.parametrize(
    ("env", "runs"), [({}, "gthread"), ({"WORKER_CLASS": "sync"}, "sync")], ids=["default", "sync"]
)
def test_gunicorn_runs_the_worker_class_asked_for(monkeypatch, env, runs):
    """gunicorn turns a sync worker with threads into gthread; the settings give sync one."""
    for name in ("WORKER_CLASS", "THREADS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    conf = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    cfg = Config()
    cfg.set("worker_class", conf["worker_class"])
    cfg.set("threads", conf["threads"])

    assert cfg.worker_class_str == runs


@pytest.fixture
def slow_server(launch, postgres_url):
    """gunicorn with two workers serving the app plus a pg_sleep route."""
    port = free_port()
    env = server_env(postgres_url, port, WEB_CONCURRENCY=2, DRAIN_SECONDS=2)
    server = launch(["gunicorn", "-c", "gunicorn.conf.py", "tests.slow_app:app"], env)
    wait_for(lambda: answers(server, "/readyz"), 30, "gunicorn to be ready")
    return server


def test_sigterm_fails_readyz_finishes_in_flight_requests_and_exits_0(slow_server, postgres_url):
    with ThreadPoolExecutor(max_workers=3) as pool:
        slow_url = slow_server.url(f"/test/sleep?seconds={SLOW_SECONDS}")
        in_flight = [pool.submit(requests.get, slow_url, timeout=30) for _ in range(3)]
        wait_for(lambda: sleeping_queries(postgres_url) == 3, 10, "three requests in pg_sleep")

        slow_server.process.send_signal(signal.SIGTERM)
        wait_for(lambda: answers(slow_server, "/readyz", 503), 3, "/readyz to fail while draining")
        draining = requests.get(slow_server.url("/readyz"), timeout=2)
        finished = [future.result() for future in in_flight]

    assert draining.status_code == 503
    assert draining.json() == {"status": "unready", "failed": "draining", "detail": "shutting down"}
    assert [(r.status_code, r.json()) for r in finished] == [(200, {"slept": SLOW_SECONDS})] * 3
    assert slow_server.process.wait(timeout=20) == 0
    assert "Shutting down: Master" in slow_server.output()


def test_after_the_drain_the_server_takes_no_new_connections(slow_server):
    slow_server.process.send_signal(signal.SIGTERM)

    assert slow_server.process.wait(timeout=20) == 0
    with pytest.raises(requests.ConnectionError):
        requests.get(slow_server.url("/livez"), timeout=2)
