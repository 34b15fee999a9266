"""Service clients: the CLI, the client-credentials grant and what service tokens may do."""

from __future__ import annotations

import base64
import hashlib
import uuid

import jwt
import pytest

from service.db import db
from service.models import ServiceClient

GRANT = {"grant_type": "client_credentials"}


def basic(client_id: str, secret: str) -> dict[str, str]:
    raw = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_cli_creates_a_client_and_prints_the_secret_once(app):
    runner = app.test_cli_runner()

    result = runner.invoke(args=["clients", "create", "billing", "--scopes", "entries:read"])

    assert result.exit_code == 0, result.output
    lines = dict(line.split(": ", 1) for line in result.stdout.splitlines())
    assert lines["scopes"] == "entries:read"
    with app.app_context(), db.connection_context():
        stored = ServiceClient.get_by_id(uuid.UUID(lines["client_id"]))
    assert stored.name == "billing"
    assert stored.secret_hash == hashlib.sha256(lines["client_secret"].encode()).hexdigest()
    assert lines["client_secret"] not in repr(list(ServiceClient.select().tuples()))


def test_cli_refuses_an_unknown_scope(app):
    result = app.test_cli_runner().invoke(
        args=["clients", "create", "billing", "--scopes", "entries:read,admin"]
    )

    assert result.exit_code == 2
    assert "unknown or no scopes: admin" in result.output


def test_cli_lists_and_revokes(app, make_client):
    service_client = make_client("entries:read")
    runner = app.test_cli_runner()

    revoked = runner.invoke(args=["clients", "revoke", service_client["id"]])
    listed = runner.invoke(args=["clients", "list"])
    again = runner.invoke(args=["clients", "revoke", service_client["id"]])

    assert revoked.exit_code == 0
    assert listed.stdout.startswith(f"{service_client['id']}\tbilling\tentries:read\t")
    assert not listed.stdout.rstrip().endswith("active")
    assert again.exit_code == 1
    assert "no active client" in again.output


def test_token_by_basic_auth_carries_the_clients_scopes(client, make_client):
    service_client = make_client("entries:read", "entries:any-user")

    response = client.post("/auth/token", data=GRANT, headers=basic(**_pair(service_client)))

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert set(response.json) == {"access_token", "token_type", "expires_in", "scope"}
    assert response.json["token_type"] == "Bearer"
    assert response.json["expires_in"] == 300
    assert response.json["scope"] == "entries:any-user entries:read"
    claims = jwt.decode(response.json["access_token"], options={"verify_signature": False})
    assert claims["typ"] == "service"
    assert claims["sub"] == claims["client_id"] == service_client["id"]


def test_token_by_form_fields_with_a_narrower_scope(client, make_client):
    service_client = make_client("entries:read", "entries:write")
    form = {
        **GRANT,
        "client_id": service_client["id"],
        "client_secret": service_client["secret"],
        "scope": "entries:read",
    }

    response = client.post("/auth/token", data=form)

    assert response.status_code == 200
    assert response.json["scope"] == "entries:read"


def _pair(service_client: dict[str, str]) -> dict[str, str]:
    return {"client_id": service_client["id"], "secret": service_client["secret"]}


@pytest.mark.parametrize(
    ("form", "auth", "status", "error"),
    [
        ({"scope": "entries:read"}, "basic", 400, "invalid_request"),
        ({"grant_type": "password"}, "basic", 400, "unsupported_grant_type"),
        ({**GRANT, "scope": "entries:write"}, "basic", 400, "invalid_scope"),
        ({**GRANT, "scope": ""}, "basic", 400, "invalid_scope"),
        (GRANT, "wrong-secret", 401, "invalid_client"),
        (GRANT, "unknown-client", 401, "invalid_client"),
        (GRANT, "none", 401, "invalid_client"),
        (GRANT, "both", 400, "invalid_request"),
    ],
)
def test_token_errors_use_the_rfc_shape(client, make_client, form, auth, status, error):
    service_client = make_client("entries:read")
    headers = {
        "basic": basic(service_client["id"], service_client["secret"]),
        "wrong-secret": basic(service_client["id"], "x" * 43),
        "unknown-client": basic(str(uuid.uuid4()), service_client["secret"]),
        "none": {},
        "both": basic(service_client["id"], service_client["secret"]),
    }[auth]
    if auth == "both":
        form = {**form, "client_id": service_client["id"]}

    response = client.post("/auth/token", data=form, headers=headers)

    assert response.status_code == status
    assert response.mimetype == "application/json"
    assert response.json["error"] == error
    assert response.json["error_description"]
    if status == 401:
        assert response.headers["WWW-Authenticate"] == 'Basic realm="time-tracker"'


def test_a_repeated_parameter_is_invalid_request(client, make_client):
    service_client = make_client("entries:read")

    response = client.post(
        "/auth/token",
        data="grant_type=client_credentials&scope=entries:read&scope=entries:read",
        content_type="application/x-www-form-urlencoded",
        headers=basic(service_client["id"], service_client["secret"]),
    )

    assert response.status_code == 400
    assert response.json == {
        "error": "invalid_request",
        "error_description": "Parameters sent twice: scope.",
    }


def test_any_user_service_writes_and_reads_a_users_entries(
    client, make_client, service_token, user, auth_headers
):
    service_client = make_client("entries:read", "entries:write", "entries:any-user")
    headers = bearer(service_token(service_client))
    body = {"date": "2026-11-02T09:00:00Z", "duration": 2.0, "project": "Apollo"}

    created = client.post(f"/api/entries?user_id={user['id']}", json=body, headers=headers)
    seen_by_user = client.get("/api/entries", headers=auth_headers)
    listed = client.get(f"/api/entries?user_id={user['id']}", headers=headers)

    assert created.status_code == 201
    assert [e["id"] for e in seen_by_user.json["items"]] == [created.json["id"]]
    assert [e["id"] for e in listed.json["items"]] == [created.json["id"]]


@pytest.mark.parametrize(
    ("scopes", "method", "status", "named"),
    [
        (("entries:read", "entries:any-user"), "post", 403, "entries:write"),
        (("entries:write", "entries:any-user"), "get", 403, "entries:read"),
        (("entries:read",), "get", 403, "entries:any-user"),
    ],
)
def test_a_missing_scope_is_403_naming_it(
    client, make_client, service_token, user, scopes, method, status, named
):
    headers = bearer(service_token(make_client(*scopes)))
    body = {"date": "2026-11-02T09:00:00Z", "duration": 2.0}

    response = getattr(client, method)(
        f"/api/entries?user_id={user['id']}", json=body, headers=headers
    )

    assert response.status_code == status
    assert f"'{named}'" in response.json["detail"]
    assert f'scope="{named}"' in response.headers["WWW-Authenticate"]


@pytest.mark.parametrize(
    ("user_id", "status"),
    [("", 422), ("not-a-uuid", 422), (str(uuid.uuid4()), 404)],
)
def test_the_acting_user_must_exist(client, make_client, service_token, user_id, status):
    headers = bearer(service_token(make_client("entries:write", "entries:any-user")))
    body = {"date": "2026-11-02T09:00:00Z", "duration": 2.0}
    query = f"?user_id={user_id}" if user_id else ""

    response = client.post(f"/api/entries{query}", json=body, headers=headers)

    assert response.status_code == status
    assert response.mimetype == "application/problem+json"


def test_a_user_cannot_name_another_user(client, make_user, auth_headers):
    other = make_user()

    response = client.get(f"/api/entries?user_id={other['id']}", headers=auth_headers)

    assert response.status_code == 403
    assert "entries:any-user" in response.json["detail"]


def test_a_user_may_name_themself(client, user, auth_headers):
    response = client.get(f"/api/entries?user_id={user['id']}", headers=auth_headers)

    assert response.status_code == 200


def test_service_tokens_cannot_use_user_only_routes(client, make_client, service_token):
    headers = bearer(service_token(make_client("entries:read", "entries:any-user")))

    response = client.get("/auth/me", headers=headers)

    assert response.status_code == 403
    assert response.json["detail"] == "This route accepts user tokens only."


def test_user_tokens_carry_the_user_scopes(login, user):
    token = login(user)["access_token"]

    claims = jwt.decode(token, options={"verify_signature": False})

    assert claims["scope"] == "entries:read entries:write imports:write reports:read"
    assert "client_id" not in claims
