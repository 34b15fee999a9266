"""The probes: /livez, /health and /readyz, with the database up, down and unmigrated."""

from __future__ import annotations

import time
from datetime import datetime

import pytest

from service import lifecycle
from service.db import db
from tests.servers import free_port as closed_port


def test_health_runs_a_query_and_reports_the_time(client):
    response = client.get("/health")

    assert response.status_code == 200
    assert response.json["status"] == "healthy"
    assert datetime.fromisoformat(response.json["timestamp"]).utcoffset().total_seconds() == 0


def test_livez_answers_without_the_database(client):
    response = client.get("/livez")

    assert response.status_code == 200
    assert response.json == {"status": "alive"}


def test_readyz_is_ready_when_migrated(client):
    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json == {"status": "ready"}


@pytest.fixture
def draining():
    """The worker's state after SIGTERM, reset afterwards."""
    lifecycle.draining.set()
    yield
    lifecycle.draining.clear()


def test_readyz_fails_while_draining_and_livez_stays_up(client, draining):
    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json == {"status": "unready", "failed": "draining", "detail": "shutting down"}
    assert client.get("/livez").status_code == 200


def test_probes_need_no_token(client):
    for path in ("/livez", "/health", "/readyz"):
        assert client.get(path).status_code == 200


@pytest.fixture
def dead_database_client(make_app):
    """An app whose PostgreSQL is a closed port on this machine."""
    app = make_app(f"postgresql://postgres@127.0.0.1:{closed_port()}/none")
    return app.test_client()


def test_health_is_503_quickly_when_the_database_is_gone(dead_database_client):
    started = time.monotonic()
    response = dead_database_client.get("/health")

    assert response.status_code == 503
    assert response.json == {"status": "unhealthy", "error": "Database connection failed"}
    assert time.monotonic() - started < 5


def test_livez_stays_up_when_the_database_is_gone(dead_database_client):
    assert dead_database_client.get("/livez").status_code == 200


def test_readyz_names_the_database_when_it_is_gone(dead_database_client):
    response = dead_database_client.get("/readyz")

    assert response.status_code == 503
    assert response.json["failed"] == "database"


def test_api_answers_503_problem_when_the_database_is_gone(dead_database_client):
    response = dead_database_client.post(
        "/auth/login", json={"email": "a@example.com", "password": "whatever1"}
    )

    assert response.status_code == 503
    assert response.mimetype == "application/problem+json"
    assert response.json["status"] == 503


def test_readyz_names_pending_migrations_and_creates_nothing(make_app, tmp_path):
    url = f"sqlite:///{tmp_path / 'unmigrated.db'}"
    client = make_app(url).test_client()

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json["failed"] == "migrations"
    assert "001_initial" in response.json["detail"]
    with db.connection_context():
        assert db.get_tables() == []
