"""Logs: JSON lines on stdout, one access line per request, request ids, and no secrets."""

from __future__ import annotations

import json
import logging
import signal

import pytest
import requests

from service.migrate import migrate
from service.migrate import open_database
from service.observability import request_id_of
from tests.conftest import PASSWORD
from tests.conftest import TEST_SECRET


def lines(capsys) -> list[dict]:
    """Every line written to stdout so far, parsed as JSON (fails on any other line)."""
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def access_lines(capsys) -> list[dict]:
    """The access-log lines written so far."""
    return [line for line in lines(capsys) if line["logger"] == "service.access"]


def test_each_request_writes_one_json_access_line(client, auth_headers, user, capsys):
    capsys.readouterr()
    missing = "/api/entries/6b0f7c1e-49d4-4e38-9b4e-0f6f6f3c2a11"

    response = client.get(missing, headers=auth_headers)

    [line] = access_lines(capsys)
    assert response.status_code == 404
    assert line["level"] == "INFO"
    assert line["time"].endswith("+00:00")
    assert line["message"] == f"GET {missing} 404"
    assert line["method"] == "GET"
    assert line["route"] == "/api/entries/<uuid:entry_id>"
    assert line["status"] == 404
    assert line["duration_ms"] >= 0
    assert line["user_id"] == user["id"]
    assert line["request_id"] == response.headers["X-Request-ID"]


def test_a_sane_request_id_is_kept_and_echoed(client, capsys):
    capsys.readouterr()

    response = client.get("/.well-known/jwks.json", headers={"X-Request-ID": "edge-7f3a.91:b_2"})

    assert response.headers["X-Request-ID"] == "edge-7f3a.91:b_2"
    assert [line["request_id"] for line in access_lines(capsys)] == ["edge-7f3a.91:b_2"]


@pytest.mark.parametrize(
    "given",
    ["short", "x" * 129, "has spaces in it", 'quote"}{"level":"ERROR', "naïve-unicode-id"],
)
def test_an_insane_request_id_is_replaced_by_a_new_one(client, given):
    response = client.get("/.well-known/jwks.json", headers={"X-Request-ID": given})

    assert response.headers["X-Request-ID"] != given
    assert len(response.headers["X-Request-ID"]) == 32


def test_requests_without_an_id_get_distinct_ones(client):
    ids = {client.get("/.well-known/jwks.json").headers["X-Request-ID"] for _ in range(3)}

    assert len(ids) == 3


def test_every_line_of_a_request_carries_its_id(app, client, capsys):
    @app.get("/noisy")
    def noisy():
        logging.getLogger("service.noisy").warning("first")
        raise RuntimeError("then a crash")

    capsys.readouterr()

    response = client.get("/noisy", headers={"X-Request-ID": "trace-0001-noisy"})

    logged = lines(capsys)
    assert response.status_code == 500
    assert [line["message"] for line in logged] == [
        "first",
        "unhandled error",
        "GET /noisy 500",
    ]
    assert {line["request_id"] for line in logged} == {"trace-0001-noisy"}
    assert "then a crash" in logged[1]["exc_info"]


def test_logs_never_contain_passwords_tokens_or_secrets(client, capsys):
    account = {"email": "careful@example.com", "password": PASSWORD}
    client.post("/auth/register", json=account)
    tokens = client.post("/auth/login", json=account).json
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    client.post("/auth/login", json={**account, "password": "wrong-" + PASSWORD})
    client.get("/auth/me", headers=bearer)
    client.get("/api/entries?cursor=" + tokens["refresh_token"][:150], headers=bearer)
    refreshed = client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]}).json
    client.post("/auth/logout", json={"refresh_token": refreshed["refresh_token"]})
    client.get("/auth/me", headers={"Authorization": "Bearer " + tokens["refresh_token"]})

    captured = capsys.readouterr().out

    assert captured.count("service.access") == 8
    for secret in (
        PASSWORD,
        TEST_SECRET,
        tokens["access_token"],
        tokens["refresh_token"],
        refreshed["access_token"],
        refreshed["refresh_token"],
        tokens["refresh_token"].split(".")[2],
        "$2b$",
    ):
        assert secret not in captured


def test_text_format_is_one_plain_line_with_the_request_id(make_app, database_url, capsys):
    client = make_app(database_url, LOG_FORMAT="text").test_client()
    capsys.readouterr()

    client.get("/.well-known/jwks.json", headers={"X-Request-ID": "plain-text-0001"})

    [line] = capsys.readouterr().out.splitlines()
    assert "INFO service.access [plain-text-0001] GET /.well-known/jwks.json 200" in line


@pytest.mark.parametrize("given", ["abcdefgh\n", "abcdefgh\r\nX-Admin: 1", "", None])
def test_request_ids_with_line_breaks_or_nothing_are_replaced(given):
    assert request_id_of(given) != given
    assert len(request_id_of(given)) == 32


def test_probes_are_logged_at_debug_only(client, capsys):
    capsys.readouterr()

    for path in ("/livez", "/health", "/readyz"):
        client.get(path)

    assert [
        line for line in capsys.readouterr().out.splitlines() if '"service.access"' in line
    ] == []


def test_under_gunicorn_the_text_format_covers_gunicorns_own_lines(serve, tmp_path):
    url = f"sqlite:///{tmp_path / 'served.db'}"
    migrate(open_database(url))
    server = serve(url, workers=1, LOG_FORMAT="text")

    jwks = server.url("/.well-known/jwks.json")
    requests.get(jwks, headers={"X-Request-ID": "text-run-0001"}, timeout=5)
    server.process.send_signal(signal.SIGTERM)
    server.process.wait(timeout=30)

    logged = server.output().splitlines()
    assert any(" INFO gunicorn.error [-] Booting worker" in line for line in logged)
    assert any(
        " INFO service.access [text-run-0001] GET /.well-known/jwks.json 200" in line
        for line in logged
    )
    assert not [line for line in logged if line.startswith("{")]
