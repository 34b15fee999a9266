"""Register, log in, rotate and revoke sessions."""

from __future__ import annotations

import pytest

from service.models import RefreshToken
from service.models import User


def test_register_answers_the_user_without_its_hash(client):
    response = client.post(
        "/auth/register", json={"email": "Ada@Example.COM", "password": "correct horse"}
    )

    assert response.status_code == 201
    assert response.json["email"] == "ada@example.com"
    assert set(response.json) == {"id", "email", "display_name", "role", "is_active", "created_at"}


def test_register_with_a_taken_email_answers_alike_and_creates_nothing(client, make_user, login):
    grace = make_user(email="grace@example.com")

    response = client.post(
        "/auth/register", json={"email": "GRACE@example.com", "password": "another one"}
    )

    assert response.status_code == 201
    assert set(response.json) == {"id", "email", "display_name", "role", "is_active", "created_at"}
    assert response.json["email"] == "grace@example.com"
    assert response.json["id"] != grace["id"]
    assert User.select().count() == 1
    assert login(grace)["access_token"]


@pytest.mark.parametrize(
    ("password", "field"),
    [
        ("short", "password"),
        ("é" * 37, "password"),
        ("x" * 73, "password"),
        (12345678, "password"),
    ],
)
def test_register_rejects_passwords_bcrypt_cannot_take(client, password, field):
    response = client.post("/auth/register", json={"email": "a@example.com", "password": password})

    assert response.status_code == 422
    assert [e["field"] for e in response.json["errors"]] == [field]
    assert User.select().count() == 0


def test_a_72_byte_password_is_accepted_and_works(client, make_user, login):
    user = make_user(password="é" * 36)

    assert login(user)["token_type"] == "Bearer"


@pytest.mark.parametrize(
    "body",
    [
        {"email": "not-an-email", "password": "correct horse"},
        {"email": "a@example.com"},
        {"email": "a@example.com", "password": "correct horse", "admin": True},
        ["a@example.com", "correct horse"],
    ],
)
def test_register_rejects_malformed_bodies(client, body):
    response = client.post("/auth/register", json=body)

    assert response.status_code == 422
    assert response.json["errors"]


def test_login_answers_bearer_tokens(client, user):
    response = client.post(
        "/auth/login", json={"email": user["email"].upper(), "password": user["password"]}
    )

    assert response.status_code == 200
    assert response.json["token_type"] == "Bearer"
    assert response.json["expires_in"] == 900
    assert response.json["access_token"] != response.json["refresh_token"]


@pytest.mark.parametrize(
    "credentials",
    [
        {"email": "nobody@example.com", "password": "correct horse battery"},
        {"email": "USER", "password": "wrong password"},
        {"email": "USER", "password": "x" * 100},
        {"email": "nobody@example.com", "password": "x" * 100},
    ],
)
def test_failed_logins_look_the_same_whatever_failed(client, user, credentials):
    email = user["email"] if credentials["email"] == "USER" else credentials["email"]

    response = client.post(
        "/auth/login", json={"email": email, "password": credentials["password"]}
    )

    assert response.status_code == 401
    assert response.json["detail"] == "The email or password is wrong."
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_me_returns_the_signed_in_user(client, user, auth_headers):
    response = client.get("/auth/me", headers=auth_headers)

    assert response.status_code == 200
    assert response.json["id"] == user["id"]


def test_refresh_rotates_and_a_refresh_token_works_once(client, user, login):
    first = login(user)

    rotated = client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    reused = client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})

    assert rotated.status_code == 200
    assert rotated.json["refresh_token"] != first["refresh_token"]
    assert reused.status_code == 401


def test_reusing_a_refresh_token_revokes_the_rotated_one_too(client, user, login):
    first = login(user)
    rotated = client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]}).json
    client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})

    response = client.post("/auth/refresh", json={"refresh_token": rotated["refresh_token"]})

    assert response.status_code == 401
    assert RefreshToken.select().where(RefreshToken.used_at.is_null()).count() == 0


def test_logout_revokes_the_refresh_token(client, user, login):
    session = login(user)

    logout = client.post("/auth/logout", json={"refresh_token": session["refresh_token"]})
    refresh = client.post("/auth/refresh", json={"refresh_token": session["refresh_token"]})

    assert logout.status_code == 204
    assert refresh.status_code == 401


def test_an_access_token_is_not_a_refresh_token(client, user, login):
    session = login(user)

    response = client.post("/auth/refresh", json={"refresh_token": session["access_token"]})

    assert response.status_code == 401
    assert "refresh token is required" in response.json["detail"]


def test_a_refresh_token_is_not_an_access_token(client, user, login):
    session = login(user)

    response = client.get(
        "/auth/me", headers={"Authorization": f"Bearer {session['refresh_token']}"}
    )

    assert response.status_code == 401
    assert "access token is required" in response.json["detail"]


def test_a_disabled_account_cannot_log_in_or_refresh(client, user, login):
    session = login(user)
    User.update(is_active=False).execute()

    relogin = client.post(
        "/auth/login", json={"email": user["email"], "password": user["password"]}
    )
    refresh = client.post("/auth/refresh", json={"refresh_token": session["refresh_token"]})

    assert relogin.status_code == 401
    assert refresh.status_code == 401
