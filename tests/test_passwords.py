"""Changing a password (signed in) and resetting it (with a token from the CLI): each ends
every other session at once."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest

from service import accounts
from service.db import db
from service.models import PersonalToken
from service.models import User
from service.security import PERSONAL_TOKEN_PREFIX
from service.security import hash_token
from tests.conftest import PASSWORD

NEW_PASSWORD = "a brand new passphrase"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def change(client, session, current=PASSWORD, new=NEW_PASSWORD):
    body = {"current_password": current, "new_password": new}
    return client.post("/auth/password", json=body, headers=bearer(session["access_token"]))


def test_a_password_change_keeps_the_caller_signed_in_and_ends_every_other_session(
    client, user, login
):
    session, elsewhere = login(user), login(user)

    response = change(client, session)

    assert response.status_code == 200
    assert set(response.json) == {"access_token", "token_type", "expires_in", "refresh_token"}
    fresh = bearer(response.json["access_token"])
    assert client.get("/auth/me", headers=fresh).json["email"] == user["email"]
    for old in (session, elsewhere):
        stale = client.get("/auth/me", headers=bearer(old["access_token"]))
        assert stale.status_code == 401
        assert stale.json["detail"] == (
            "The token was revoked: the password changed or the account was off."
        )
        assert (
            client.post("/auth/refresh", json={"refresh_token": old["refresh_token"]}).status_code
            == 401
        )
    renewed = client.post("/auth/refresh", json={"refresh_token": response.json["refresh_token"]})
    assert renewed.status_code == 200


def test_after_a_change_only_the_new_password_signs_in(client, user, login):
    change(client, login(user))

    old = client.post("/auth/login", json={"email": user["email"], "password": PASSWORD})
    new = client.post("/auth/login", json={"email": user["email"], "password": NEW_PASSWORD})

    assert old.status_code == 401
    assert new.status_code == 200


def test_a_wrong_current_password_is_403_and_changes_nothing(client, user, login, database_state):
    session = login(user)
    before = database_state()

    response = change(client, session, current="not my password")

    assert response.status_code == 403
    assert response.json["detail"] == "The current password is wrong."
    assert database_state() == before
    assert client.get("/auth/me", headers=bearer(session["access_token"])).status_code == 200


def test_guessing_the_current_password_locks_the_account_out(
    make_app, database_url, user, login, database_state
):
    client = make_app(database_url, LOGIN_LOCKOUT_ATTEMPTS=2).test_client()
    session = client.post("/auth/login", json={"email": user["email"], "password": PASSWORD}).json

    answers = [change(client, session, current=f"guess {n}").status_code for n in range(2)]
    right = change(client, session)

    assert answers == [403, 403]
    assert right.status_code == 429
    assert int(right.headers["Retry-After"]) > 0


@pytest.mark.parametrize(
    ("new", "message"),
    [
        ("short", "String should have at least 8 characters"),
        ("é" * 37, "must be 8 to 72 bytes long in UTF-8"),
    ],
)
def test_the_new_password_follows_the_sign_up_rules(client, user, login, new, message):
    response = change(client, login(user), new=new)

    assert response.status_code == 422
    assert response.json["errors"] == [{"field": "new_password", "message": message}]


def test_a_service_token_cannot_change_a_password(
    client, user, make_client, service_token, database_state
):
    robot = service_token(make_client("entries:read"))
    before = database_state()

    response = client.post(
        "/auth/password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers=bearer(robot),
    )

    assert response.status_code == 403
    assert response.json["detail"] == "This route accepts user tokens only."
    assert database_state() == before


def test_a_personal_token_cannot_change_the_password(client, user, database_state):
    token = PERSONAL_TOKEN_PREFIX + secrets.token_urlsafe(32)
    PersonalToken.create(
        user=uuid.UUID(user["id"]),
        name="script",
        token_hash=hash_token(token),
        scopes="entries:read",
    )
    before = database_state()

    response = client.post(
        "/auth/password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers=bearer(token),
    )

    assert response.status_code == 403
    assert response.json["detail"] == "Only a sign-in's access token may change the password."
    assert database_state() == before


@pytest.fixture
def reset_token(app, user):
    """Issue a reset token for `user` as `flask users reset-password` does."""

    def issue() -> str:
        with app.app_context(), db.connection_context():
            account = User.get_by_id(uuid.UUID(user["id"]))
            return accounts.issue_reset_token(account, app.extensions["tokens"]).token

    return issue


def test_a_reset_token_sets_the_password_once_and_signs_out_everywhere(
    client, user, login, reset_token
):
    session, token = login(user), reset_token()

    reset = client.post("/auth/password/reset", json={"token": token, "password": NEW_PASSWORD})
    again = client.post(
        "/auth/password/reset", json={"token": token, "password": "yet another one"}
    )

    assert (reset.status_code, reset.data) == (204, b"")
    assert again.status_code == 401
    assert again.json["detail"] == "The reset token was used already, or the account changed since."
    assert client.get("/auth/me", headers=bearer(session["access_token"])).status_code == 401
    assert (
        client.post("/auth/refresh", json={"refresh_token": session["refresh_token"]}).status_code
        == 401
    )
    assert login({**user, "password": NEW_PASSWORD})["token_type"] == "Bearer"


def test_a_reset_token_is_spent_by_a_password_change_too(client, user, login, reset_token):
    token = reset_token()
    change(client, login(user))

    response = client.post("/auth/password/reset", json={"token": token, "password": "sneaky one"})

    assert response.status_code == 401
    assert login({**user, "password": NEW_PASSWORD})["token_type"] == "Bearer"


def test_a_reset_lifts_the_sign_in_lockout(make_app, database_url, user, reset_token):
    client = make_app(database_url, LOGIN_LOCKOUT_ATTEMPTS=1).test_client()
    client.post("/auth/login", json={"email": user["email"], "password": "forgotten"})
    locked = client.post("/auth/login", json={"email": user["email"], "password": PASSWORD})

    client.post("/auth/password/reset", json={"token": reset_token(), "password": NEW_PASSWORD})
    after = client.post("/auth/login", json={"email": user["email"], "password": NEW_PASSWORD})

    assert locked.status_code == 429
    assert after.status_code == 200


@pytest.mark.parametrize("kind", ["access", "refresh", "garbage"])
def test_only_a_reset_token_resets(client, user, login, database_state, kind):
    session = login(user)
    token = {
        "access": session["access_token"],
        "refresh": session["refresh_token"],
        "garbage": "not.a.token",
    }[kind]
    before = database_state()

    response = client.post("/auth/password/reset", json={"token": token, "password": NEW_PASSWORD})

    assert response.status_code == 401
    assert database_state() == before


def test_a_reset_token_lives_password_reset_ttl_seconds(make_app, database_url, user):
    app = make_app(database_url, PASSWORD_RESET_TTL=60)
    with app.app_context(), db.connection_context():
        account = User.get_by_id(uuid.UUID(user["id"]))
        issued = accounts.issue_reset_token(account, app.extensions["tokens"])

    assert issued.expires_in == 60


def test_an_expired_reset_token_is_401(app, client, user, database_state):
    past = datetime.now(UTC) - timedelta(hours=2)
    tokens = app.extensions["tokens"]
    token = tokens.issue(user["id"], accounts.RESET, now=past, claims={"ver": 0}).token
    before = database_state()

    response = client.post("/auth/password/reset", json={"token": token, "password": NEW_PASSWORD})

    assert response.status_code == 401
    assert response.json["detail"] == "The token is invalid: Signature has expired"
    assert database_state() == before
