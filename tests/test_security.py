"""Access tokens: every forged, stale or misdirected token is a 401, on every route."""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from datetime import UTC
from datetime import datetime
from datetime import timedelta

import jwt
import pytest

from tests.conftest import TEST_SECRET

PUBLIC_ENDPOINTS = {
    "health.livez",
    "health.health",
    "health.readyz",
    "auth.register",
    "auth.login",
    "auth.refresh",
    "auth.logout",
    "auth.reset_password",
    "docs.openapi",
    "metrics.metrics",
    "auth.token",
    "jwks.jwks",
}


def claims(user_id: str, **changes) -> dict:
    """Valid access-token claims for USER_ID, with CHANGES applied (None removes a claim)."""
    now = datetime.now(UTC)
    base = {
        "iss": "time-tracker",
        "aud": "time-tracker-api",
        "sub": user_id,
        "iat": now,
        "exp": now + timedelta(minutes=5),
        "jti": str(uuid.uuid4()),
        "typ": "access",
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data, default=str).encode()).decode().rstrip("=")


def unsigned_token(payload: dict) -> str:
    return f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(payload)}."


def tampered_token(user_id: str) -> str:
    header, _, signature = jwt.encode(claims(user_id), TEST_SECRET, "HS256").split(".")
    payload = b64({**claims(user_id), "sub": str(uuid.uuid4())})
    return f"{header}.{payload}.{signature}"


BAD_TOKENS = {
    "expired": lambda uid: jwt.encode(
        claims(uid, exp=datetime.now(UTC) - timedelta(seconds=5)), TEST_SECRET, "HS256"
    ),
    "wrong secret": lambda uid: jwt.encode(claims(uid), "another-secret-" * 4, "HS256"),
    "alg none": lambda uid: unsigned_token(claims(uid, iat=1, exp=9_999_999_999)),
    "wrong issuer": lambda uid: jwt.encode(claims(uid, iss="someone-else"), TEST_SECRET, "HS256"),
    "wrong audience": lambda uid: jwt.encode(claims(uid, aud="other-api"), TEST_SECRET, "HS256"),
    "no exp": lambda uid: jwt.encode(claims(uid, exp=None), TEST_SECRET, "HS256"),
    "no sub": lambda uid: jwt.encode(claims(uid, sub=None), TEST_SECRET, "HS256"),
    "refresh type": lambda uid: jwt.encode(claims(uid, typ="refresh"), TEST_SECRET, "HS256"),
    "subject not a user id": lambda uid: jwt.encode(claims(uid, sub="admin"), TEST_SECRET, "HS256"),
    "tampered payload": tampered_token,
    "malformed": lambda uid: "not.a.jwt",
    "HS512": lambda uid: jwt.encode(claims(uid), TEST_SECRET, "HS512"),
}


@pytest.mark.parametrize("name", sorted(BAD_TOKENS))
def test_bad_access_tokens_are_401_with_a_bearer_challenge(client, user, name):
    token = BAD_TOKENS[name](user["id"])

    response = client.get("/api/entries", headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("header", ["", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Token abc"])
def test_missing_or_foreign_authorization_headers_are_401(client, header):
    response = client.get("/api/entries", headers={"Authorization": header})

    assert response.status_code == 401


def test_a_well_formed_token_is_accepted(client, user):
    token = jwt.encode(claims(user["id"]), TEST_SECRET, "HS256")

    response = client.get("/api/entries", headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 200


def test_a_token_accepted_before_is_refused_once_it_expires(client, user):
    expires = int(time.time()) + 2  # a JWT's exp is whole seconds: 1 to 2 s from now
    token = jwt.encode(claims(user["id"], exp=expires), TEST_SECRET, "HS256")
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/entries", headers=headers).status_code == 200

    time.sleep(expires - time.time() + 0.1)
    response = client.get("/api/entries", headers=headers)

    assert response.status_code == 401
    assert "expired" in response.json["detail"]


def test_a_token_accepted_before_still_has_to_be_of_the_right_type(app, client, user, login):
    tokens = login(user)
    refreshed = client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200

    response = client.get(
        "/api/entries", headers={"Authorization": f"Bearer {tokens['refresh_token']}"}
    )

    assert response.status_code == 401
    assert "access token is required" in response.json["detail"]


def protected_routes(app) -> list[tuple[str, str]]:
    """Every (method, path) of the app outside the public endpoints, with sample ids."""
    routes = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in PUBLIC_ENDPOINTS:
            continue
        path = re.sub(r"<uuid:[^>]+>", str(uuid.uuid4()), rule.rule)
        path = re.sub(r"<[^>]+>", "x", path)
        routes.extend((method, path) for method in rule.methods - {"HEAD", "OPTIONS"})
    return sorted(routes)


def test_every_route_but_the_public_ones_requires_a_token(app, client):
    routes = protected_routes(app)
    answers = {(m, p): client.open(p, method=m).status_code for m, p in routes}

    assert routes, "no protected routes found"
    assert {route: status for route, status in answers.items() if status != 401} == {}


def test_the_public_endpoints_are_exactly_the_known_ones(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}

    assert endpoints >= PUBLIC_ENDPOINTS
