"""Personal access tokens: shown once, stored hashed, scoped to the role, stopped at once."""

from __future__ import annotations

import hashlib
from datetime import datetime
from datetime import timedelta

import pytest

from service.db import db
from service.models import PersonalToken
from service.models import utcnow

MISSING_ID = "6b0f7c1e-49d4-4e38-9b4e-0f6f6f3c2a11"


@pytest.fixture
def make_token(client, auth_headers):
    """Create a personal token for `user` (or for the headers given); returns the answer."""

    def create(headers=None, **fields):
        body = {"name": "laptop script", "scopes": ["entries:read"], **fields}
        response = client.post("/api/tokens", json=body, headers=headers or auth_headers)
        assert response.status_code == 201, response.json
        return response.json

    return create


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_new_token_is_shown_once_and_stored_as_its_digest(app, client, auth_headers):
    body = {"name": "laptop script", "scopes": ["entries:write", "entries:read"]}

    response = client.post("/api/tokens", json=body, headers=auth_headers)

    assert response.status_code == 201
    assert response.headers["Cache-Control"] == "no-store"
    token = response.json["token"]
    assert token.startswith("ttp_") and len(token) > 40
    assert response.json["scopes"] == ["entries:read", "entries:write"]
    assert response.json["name"] == "laptop script"
    with app.app_context(), db.connection_context():
        stored = PersonalToken.get_by_id(response.json["id"])
    assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest()
    listed = client.get("/api/tokens", headers=auth_headers).json["items"]
    assert [item["id"] for item in listed] == [response.json["id"]]
    assert "token" not in listed[0]


def lifetime(answer: dict) -> float:
    made = datetime.fromisoformat(answer["created_at"])
    return (datetime.fromisoformat(answer["expires_at"]) - made).total_seconds()


def test_it_expires_in_90_days_unless_asked(make_token):
    assert lifetime(make_token()) == 90 * 24 * 3600
    assert lifetime(make_token(expires_in=3600)) == 3600


def test_the_token_works_as_a_bearer_token_within_its_scopes(client, make_token, make_entry):
    entry = make_entry()
    token = make_token()["token"]

    read = client.get(f"/api/entries/{entry['id']}", headers=bearer(token))
    write = client.post(
        "/api/entries", json={"date": "2026-11-02T09:00:00Z", "duration": 1}, headers=bearer(token)
    )

    assert read.status_code == 200
    assert read.json["id"] == entry["id"]
    assert write.status_code == 403
    assert write.json["detail"] == "This request needs the scope 'entries:write'."


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"scopes": []}, "scopes"),
        ({"scopes": ["entries:any-user"]}, "scopes.0"),
        ({"scopes": ["entries:read"], "expires_in": 366 * 24 * 3600}, "expires_in"),
        ({"scopes": ["entries:read"], "expires_in": 0}, "expires_in"),
        ({"name": "   ", "scopes": ["entries:read"]}, "name"),
    ],
)
def test_bad_requests_are_422_and_store_nothing(client, auth_headers, database_state, body, field):
    before = database_state()

    response = client.post("/api/tokens", json={"name": "x", **body}, headers=auth_headers)

    assert response.status_code == 422
    assert [error["field"] for error in response.json["errors"]] == [field]
    assert database_state() == before


def test_scopes_beyond_the_role_are_422(client, auth_headers, database_state):
    before = database_state()

    response = client.post(
        "/api/tokens", json={"name": "x", "scopes": ["users:read"]}, headers=auth_headers
    )

    assert response.status_code == 422
    assert response.json["errors"] == [
        {"field": "scopes", "message": "your role does not grant users:read"}
    ]
    assert database_state() == before


def test_a_revoked_token_is_401_at_once(client, auth_headers, make_token):
    made = make_token()

    revoked = client.delete(f"/api/tokens/{made['id']}", headers=auth_headers)
    response = client.get("/api/entries", headers=bearer(made["token"]))

    assert revoked.status_code == 204
    assert response.status_code == 401
    assert response.json["detail"] == "The personal access token is unknown, revoked or expired."
    assert client.get("/api/tokens", headers=auth_headers).json["items"] == []
    assert client.delete(f"/api/tokens/{made['id']}", headers=auth_headers).status_code == 404


def test_an_expired_token_is_401(app, client, make_token):
    made = make_token(expires_in=60)
    with app.app_context(), db.connection_context():
        PersonalToken.update(expires_at=utcnow() - timedelta(seconds=1)).where(
            PersonalToken.id == made["id"]
        ).execute()

    response = client.get("/api/entries", headers=bearer(made["token"]))

    assert response.status_code == 401
    assert response.json["detail"] == "The personal access token is unknown, revoked or expired."


def test_a_deactivated_owners_token_is_401(client, headers_for, make_user, make_token):
    admin = headers_for(make_user(role="admin"))
    owner = make_user()
    made = make_token(headers=headers_for(owner))

    client.patch(f"/api/users/{owner['id']}", json={"is_active": False}, headers=admin)
    response = client.get("/api/entries", headers=bearer(made["token"]))

    assert response.status_code == 401


def test_a_demoted_owners_token_loses_the_scopes_of_the_old_role(
    client, headers_for, make_user, make_token
):
    admin = headers_for(make_user(role="admin"))
    manager = make_user(role="manager")
    made = make_token(headers=headers_for(manager), scopes=["users:read", "entries:read"])
    assert client.get("/api/users", headers=bearer(made["token"])).status_code == 200

    client.patch(f"/api/users/{manager['id']}", json={"role": "member"}, headers=admin)
    users = client.get("/api/users", headers=bearer(made["token"]))
    entries = client.get("/api/entries", headers=bearer(made["token"]))

    assert users.status_code == 403
    assert entries.status_code == 200


def test_one_cannot_revoke_anothers_token(client, headers_for, make_user, make_token):
    made = make_token()

    response = client.delete(f"/api/tokens/{made['id']}", headers=headers_for(make_user()))

    assert response.status_code == 404
    assert response.json["detail"] == "The token was not found."


def test_a_token_lists_only_its_owners_tokens(client, headers_for, make_user, make_token):
    make_token()

    response = client.get("/api/tokens", headers=headers_for(make_user()))

    assert response.json == {"items": []}


def test_a_personal_token_cannot_manage_tokens(client, make_token, database_state):
    made = make_token(scopes=["entries:read", "entries:write"])
    before = database_state()

    created = client.post(
        "/api/tokens", json={"name": "x", "scopes": ["entries:read"]}, headers=bearer(made["token"])
    )
    listed = client.get("/api/tokens", headers=bearer(made["token"]))
    revoked = client.delete(f"/api/tokens/{made['id']}", headers=bearer(made["token"]))

    assert (created.status_code, listed.status_code, revoked.status_code) == (403, 403, 403)
    assert created.json["detail"] == "This route needs the access token of a sign-in."
    assert database_state() == before


def test_a_service_cannot_manage_tokens(client, make_client, service_token):
    robot = bearer(service_token(make_client("entries:read")))

    response = client.get("/api/tokens", headers=robot)

    assert response.status_code == 403
    assert response.json["detail"] == "This route needs the access token of a sign-in."


def test_revoking_an_unknown_token_is_404(client, auth_headers):
    response = client.delete(f"/api/tokens/{MISSING_ID}", headers=auth_headers)

    assert response.status_code == 404
