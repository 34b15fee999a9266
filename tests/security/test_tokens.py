"""Forged, stale and misused tokens: each is refused with an exact status, and nothing changes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid

import pytest

from tests.conftest import TEST_SECRET
from tests.conftest import public_pem
from tests.conftest import write_ed25519_key
from tests.test_security import protected_routes

USER_SCOPE = "entries:read entries:write imports:write reports:read"
NEW_ENTRY = {"date": "2026-11-02T09:00:00Z", "duration": 1.0, "project": "Mallory"}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def forge(header: dict, claims: dict, key: bytes | None) -> str:
    """Sign CLAIMS with HMAC-SHA256 under KEY (any bytes), or leave the signature empty."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    signature = (
        b"" if key is None else hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    )
    return f"{signing_input}.{b64(signature)}"


def user_claims(user_id: str, **changes) -> dict:
    """Claims of a well-formed user access token; a change to None drops the claim."""
    now = int(time.time())
    claims = {
        "iss": "time-tracker",
        "aud": "time-tracker-api",
        "sub": user_id,
        "iat": now,
        "exp": now + 600,
        "jti": str(uuid.uuid4()),
        "typ": "access",
        "scope": USER_SCOPE,
        **changes,
    }
    return {name: value for name, value in claims.items() if value is not None}


@pytest.fixture
def victim(client, user, auth_headers, make_entry, database_state):
    """A user with one entry; returns the user and the database's state before the attack."""
    make_entry()
    return user, database_state()


def attack(client, token: str):
    return client.post("/api/entries", json=NEW_ENTRY, headers={"Authorization": f"Bearer {token}"})


def hs256(app, claims: dict, **header) -> str:
    kid = app.extensions["tokens"].keys.kid
    return forge({"alg": "HS256", "typ": "JWT", "kid": kid, **header}, claims, TEST_SECRET.encode())


def test_a_well_formed_forgery_with_our_secret_works(app, client, victim):
    user, _ = victim

    response = attack(client, hs256(app, user_claims(user["id"])))

    assert response.status_code == 201


@pytest.mark.parametrize(
    ("changes", "detail"),
    [
        ({"exp": int(time.time()) - 10}, "Signature has expired"),
        ({"nbf": int(time.time()) + 3600}, "The token is not yet valid (nbf)"),
        ({"exp": None}, 'Token is missing the "exp" claim'),
        ({"iss": "someone-else"}, "Invalid issuer"),
        ({"aud": "another-api"}, "Audience doesn't match"),
        ({"typ": "refresh"}, "An access token is required."),
        ({"scope": f"{USER_SCOPE} entries:any-user"}, "not those of a user token"),
        ({"client_id": "x"}, "not those of a user token"),
        ({"sub": "admin"}, "The token's subject is not a user."),
        ({"sub": 42}, "Subject must be a string"),
        ({"scope": ["entries:read"]}, "scope claim is not a string"),
        ({"typ": "service", "client_id": "c1", "sub": "c1"}, "unknown or revoked"),
        ({"typ": "service", "client_id": "c2"}, "not those of a service token"),
    ],
)
def test_bad_claims_are_401(app, client, victim, database_state, changes, detail):
    user, before = victim

    response = attack(client, hs256(app, user_claims(user["id"], **changes)))

    assert response.status_code == 401
    assert detail in response.json["detail"]
    assert database_state() == before


@pytest.mark.parametrize(
    "header",
    [
        {"alg": "none"},
        {"alg": "None"},
        {"alg": "HS512"},
        {"kid": "unknown"},
        {"kid": "../../../../dev/null"},
        {"kid": "' OR '1'='1"},
        {"kid": {"$ne": None}},
        {"kid": None},
    ],
)
def test_forged_headers_are_401(app, client, victim, database_state, header):
    user, before = victim
    kid = app.extensions["tokens"].keys.kid
    alg = header.get("alg", "HS256")
    full = {"alg": alg, "typ": "JWT", "kid": kid, **header}
    key = None if alg.lower() == "none" else TEST_SECRET.encode()

    response = attack(client, forge(full, user_claims(user["id"]), key))

    assert response.status_code == 401
    assert database_state() == before


def test_a_tampered_payload_is_401(client, victim, login, make_user, database_state):
    user, _ = victim
    header, payload, signature = login(make_user())["access_token"].split(".")
    before = database_state()
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = user["id"]

    response = attack(client, f"{header}.{b64(json.dumps(claims).encode())}.{signature}")

    assert response.status_code == 401
    assert response.json["detail"] == "The token is invalid: Signature verification failed"
    assert database_state() == before


def test_a_token_signed_with_another_secret_is_401(app, client, victim, database_state):
    user, before = victim
    kid = app.extensions["tokens"].keys.kid
    header = {"alg": "HS256", "typ": "JWT", "kid": kid}

    response = attack(client, forge(header, user_claims(user["id"]), b"x" * 48))

    assert response.status_code == 401
    assert database_state() == before


@pytest.fixture
def eddsa_app(make_app, database_url, tmp_path):
    """An app signing with Ed25519; returns it with the public key's PEM."""
    path, key = write_ed25519_key(tmp_path / "signing.pem")
    return make_app(database_url, JWT_ALGORITHM="EdDSA", JWT_PRIVATE_KEY_FILE=path), key


@pytest.mark.parametrize("with_kid", [True, False])
@pytest.mark.parametrize("secret", ["pem", "raw"])
def test_key_confusion_hs256_with_the_public_key_is_401(eddsa_app, secret, with_kid):
    app, key = eddsa_app
    client = app.test_client()
    body = {"email": "ann@example.com", "password": "correct horse battery"}
    user_id = client.post("/auth/register", json=body).json["id"]
    jwk = client.get("/.well-known/jwks.json").json["keys"][0]
    public = public_pem(key) if secret == "pem" else base64.urlsafe_b64decode(jwk["x"] + "=")
    header = {"alg": "HS256", "typ": "JWT", **({"kid": jwk["kid"]} if with_kid else {})}

    response = attack(client, forge(header, user_claims(user_id), public))

    assert response.status_code == 401
    assert response.json["detail"].startswith("The token is invalid")
    assert client.get("/api/entries", headers=_login(client, body)).json["items"] == []


def test_alg_none_is_401_with_eddsa_too(eddsa_app):
    app, _ = eddsa_app
    client = app.test_client()
    body = {"email": "ann@example.com", "password": "correct horse battery"}
    user_id = client.post("/auth/register", json=body).json["id"]
    kid = client.get("/.well-known/jwks.json").json["keys"][0]["kid"]

    response = attack(client, forge({"alg": "none", "kid": kid}, user_claims(user_id), None))

    assert response.status_code == 401
    assert client.get("/api/entries", headers=_login(client, body)).json["items"] == []


def _login(client, body) -> dict[str, str]:
    token = client.post("/auth/login", json=body).json["access_token"]
    return {"Authorization": f"Bearer {token}"}


def test_a_refresh_token_is_not_an_access_token(client, victim, login, database_state):
    user, before = victim
    refresh_token = login(user)["refresh_token"]
    before = database_state()

    response = attack(client, refresh_token)

    assert response.status_code == 401
    assert response.json["detail"] == "An access token is required."
    assert database_state() == before


def test_an_access_token_does_not_refresh(client, victim, login, database_state):
    user, _ = victim
    access_token = login(user)["access_token"]
    before = database_state()

    response = client.post("/auth/refresh", json={"refresh_token": access_token})

    assert response.status_code == 401
    assert database_state() == before


def test_a_reused_refresh_token_revokes_every_session(client, victim, login, database_state):
    user, _ = victim
    first = login(user)["refresh_token"]
    second = client.post("/auth/refresh", json={"refresh_token": first}).json["refresh_token"]
    entries_before = database_state()["time_entries"]

    reused = client.post("/auth/refresh", json={"refresh_token": first})
    after_theft = client.post("/auth/refresh", json={"refresh_token": second})

    assert reused.status_code == 401
    assert reused.json["detail"] == "The refresh token was already used or revoked."
    assert after_theft.status_code == 401
    assert database_state()["time_entries"] == entries_before
    assert all("None" not in row for row in database_state()["refresh_tokens"])


def test_a_revoked_clients_token_and_secret_stop_working(
    app, client, make_client, service_token, victim, database_state
):
    user, _ = victim
    service_client = make_client("entries:write", "entries:any-user")
    token = service_token(service_client)
    app.test_cli_runner().invoke(args=["clients", "revoke", service_client["id"]])
    before = database_state()

    used = client.post(
        f"/api/entries?user_id={user['id']}",
        json=NEW_ENTRY,
        headers={"Authorization": f"Bearer {token}"},
    )
    renewed = client.post(
        "/auth/token",
        data={"grant_type": "client_credentials"},
        auth=(service_client["id"], service_client["secret"]),
    )

    assert used.status_code == 401
    assert used.json["detail"] == "The service client is unknown or revoked."
    assert renewed.status_code == 401
    assert renewed.json["error"] == "invalid_client"
    assert database_state() == before


@pytest.mark.parametrize(
    "scope",
    [
        "entries:read entries:any-user",
        "entries:write",
        "entries:read,entries:write",
        "admin",
        "entries:*",
    ],
)
def test_scope_escalation_is_invalid_scope(client, make_client, database_state, scope):
    service_client = make_client("entries:read")
    before = database_state()

    response = client.post(
        "/auth/token",
        data={"grant_type": "client_credentials", "scope": scope},
        auth=(service_client["id"], service_client["secret"]),
    )

    assert response.status_code == 400
    assert response.json["error"] == "invalid_scope"
    assert database_state() == before


def test_a_narrowed_token_cannot_use_the_dropped_scope(
    client, make_client, service_token, victim, database_state
):
    user, before = victim
    service_client = make_client("entries:read", "entries:write", "entries:any-user")
    token = service_token(service_client, scope="entries:read entries:any-user")
    before = database_state()

    response = client.post(
        f"/api/entries?user_id={user['id']}",
        json=NEW_ENTRY,
        headers={"Authorization": f"Bearer {token}"},
    )

    assert response.status_code == 403
    assert "'entries:write'" in response.json["detail"]
    assert database_state() == before


def test_every_protected_route_refuses_a_service_token_without_a_user(
    app, client, make_client, service_token, database_state
):
    token = service_token(make_client("entries:read", "entries:write"))
    before = database_state()

    answers = {
        route: client.open(
            route[1], method=route[0], json={}, headers={"Authorization": f"Bearer {token}"}
        ).status_code
        for route in protected_routes(app)
    }

    assert answers == dict.fromkeys(answers, 403)
    assert database_state() == before
