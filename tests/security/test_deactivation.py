"""Deactivation takes effect at once: the next request of every token of the account is 401,
its sign-in is refused like a wrong password, and its data stays."""

from __future__ import annotations

import pytest

from service.models import TimeEntry
from tests.conftest import PASSWORD


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def users_cli(app):
    """Run `flask users ...` against the test database; assert it succeeded."""

    def run(*args: str) -> str:
        result = app.test_cli_runner().invoke(args=["users", *args])
        assert result.exit_code == 0, result.output
        return result.stdout

    return run


def test_a_deactivated_users_tokens_stop_at_once_and_their_data_stays(
    client, user, login, make_entry, users_cli
):
    session = login(user)
    entry = make_entry(headers=bearer(session["access_token"]))

    said = users_cli("deactivate", user["email"])
    access = client.get("/api/entries", headers=bearer(session["access_token"]))
    refresh = client.post("/auth/refresh", json={"refresh_token": session["refresh_token"]})

    assert said == f"{user['email']} is now inactive\n"
    assert access.status_code == 401
    assert access.json["detail"] == "The account is not active."
    assert refresh.status_code == 401
    assert refresh.json["detail"] == "The account is not active."
    assert [str(e.id) for e in TimeEntry.select()] == [entry["id"]]


def test_a_deactivated_users_sign_in_fails_like_a_wrong_password(client, user, users_cli):
    wrong = client.post("/auth/login", json={"email": user["email"], "password": "not it"})
    users_cli("deactivate", user["email"])

    refused = client.post("/auth/login", json={"email": user["email"], "password": PASSWORD})

    assert refused.status_code == wrong.status_code == 401
    assert refused.json == wrong.json


def test_reactivation_lets_them_sign_in_but_old_tokens_stay_dead(client, user, login, users_cli):
    old = login(user)
    users_cli("deactivate", user["email"])

    said = users_cli("reactivate", user["email"])
    fresh = login(user)
    stale_access = client.get("/auth/me", headers=bearer(old["access_token"]))
    stale_refresh = client.post("/auth/refresh", json={"refresh_token": old["refresh_token"]})

    assert said == f"{user['email']} is now active\n"
    assert client.get("/auth/me", headers=bearer(fresh["access_token"])).status_code == 200
    assert stale_access.status_code == 401
    assert stale_access.json["detail"] == (
        "The token was revoked: the password changed or the account was off."
    )
    assert stale_refresh.status_code == 401
    assert stale_refresh.json["detail"] == (
        "The session ended: the password changed or the account was off."
    )
    assert (
        client.post("/auth/refresh", json={"refresh_token": fresh["refresh_token"]}).status_code
        == 200
    )


def test_an_inactive_user_gets_no_reset_token(app, user, users_cli):
    users_cli("deactivate", user["email"])

    result = app.test_cli_runner().invoke(args=["users", "reset-password", user["email"]])

    assert result.exit_code == 1
    assert f"{user['email']} is inactive: reactivate it first" in result.output


def test_a_reset_token_from_before_a_deactivation_stays_dead(client, user, users_cli):
    token = users_cli("reset-password", user["email"]).strip()
    users_cli("deactivate", user["email"])
    users_cli("reactivate", user["email"])

    response = client.post("/auth/password/reset", json={"token": token, "password": "x" * 12})

    assert response.status_code == 401
    assert response.json["detail"] == (
        "The reset token was used already, or the account changed since."
    )


def test_the_password_change_ends_the_old_access_token(client, user, login):
    old = login(user)
    body = {"current_password": PASSWORD, "new_password": "another fine passphrase"}

    changed = client.post("/auth/password", json=body, headers=bearer(old["access_token"]))
    stale = client.get("/api/entries", headers=bearer(old["access_token"]))
    fresh = client.get("/api/entries", headers=bearer(changed.json["access_token"]))

    assert changed.status_code == 200
    assert stale.status_code == 401
    assert fresh.status_code == 200
