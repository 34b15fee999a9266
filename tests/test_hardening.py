"""Security headers on every answer, and CORS only for the configured origins."""

from __future__ import annotations

import pytest

from service.config import ConfigError

ORIGIN = "https://app.example.com"


@pytest.mark.parametrize("path", ["/livez", "/health", "/.well-known/jwks.json", "/nowhere"])
def test_every_answer_has_the_security_headers(client, path):
    response = client.get(path)

    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert response.headers["Referrer-Policy"] == "no-referrer"


def test_a_view_that_sets_a_security_header_itself_keeps_its_own(make_app, database_url):
    app = make_app(database_url)

    @app.get("/page")
    def page():
        own = {"Content-Security-Policy": "default-src 'self'", "x-frame-options": "SAMEORIGIN"}
        return "<p>a page</p>", 200, own

    headers = app.test_client().get("/page").headers

    assert headers.getlist("Content-Security-Policy") == ["default-src 'self'"]
    assert headers.getlist("X-Frame-Options") == ["SAMEORIGIN"]
    assert headers["X-Content-Type-Options"] == "nosniff"


def test_auth_answers_are_not_stored(client, user, login):
    tokens = login(user)

    answers = [
        client.post("/auth/login", json={"email": user["email"], "password": "nope-nope"}),
        client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]}),
        client.get("/api/entries", headers={"Authorization": f"Bearer {tokens['access_token']}"}),
    ]

    assert [r.headers["Cache-Control"] for r in answers] == ["no-store"] * 3


def test_probes_are_not_marked_no_store(client):
    assert "Cache-Control" not in client.get("/livez").headers


def test_no_cors_headers_by_default(client):
    response = client.get("/livez", headers={"Origin": ORIGIN})

    assert "Access-Control-Allow-Origin" not in response.headers


@pytest.fixture
def cors_client(make_app, database_url):
    return make_app(database_url, CORS_ORIGINS=f"{ORIGIN}, https://ops.example.com").test_client()


def test_cors_answers_a_listed_origin(cors_client):
    response = cors_client.options(
        "/api/entries",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "Authorization, Content-Type",
        },
    )

    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    assert "Access-Control-Allow-Credentials" not in response.headers


def test_cors_ignores_other_origins(cors_client):
    response = cors_client.get("/livez", headers={"Origin": "https://evil.example.net"})

    assert "Access-Control-Allow-Origin" not in response.headers


def test_a_wildcard_origin_is_refused(make_app, database_url):
    with pytest.raises(ConfigError, match="CORS_ORIGINS"):
        make_app(database_url, CORS_ORIGINS="*")
