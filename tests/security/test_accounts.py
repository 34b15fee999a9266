"""Account safety: register and login tell nobody which emails exist; passwords never logged."""

from __future__ import annotations

import logging

from tests.conftest import PASSWORD


def test_login_failures_look_the_same_for_known_and_unknown_emails(client, user):
    known = client.post("/auth/login", json={"email": user["email"], "password": "wrong one"})
    unknown = client.post(
        "/auth/login", json={"email": "nobody@example.com", "password": "wrong one"}
    )

    assert known.status_code == unknown.status_code == 401
    assert known.json == unknown.json
    assert known.headers["WWW-Authenticate"] == unknown.headers["WWW-Authenticate"]


def test_passwords_are_never_logged(client, caplog):
    secret = "a very secret passphrase 42"
    caplog.set_level(logging.DEBUG)
    body = {"email": "ann@example.com", "password": secret}

    client.post("/auth/register", json=body)
    client.post("/auth/register", json=body)
    client.post("/auth/login", json=body)
    client.post("/auth/login", json={**body, "password": secret + "!"})
    client.post("/auth/login", json={**body, "password": secret * 100})
    client.post("/auth/token", data={"client_id": "x", "client_secret": secret})

    assert caplog.records
    assert secret not in caplog.text
    assert PASSWORD not in caplog.text
