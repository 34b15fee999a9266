"""Source credentials through /api/integrations: stored encrypted, never shown."""

from __future__ import annotations

import pytest

from service.db import db
from service.integrations import Vault
from service.models import Integration
from tests.conftest import INTEGRATIONS_KEY

TOGGL = {"api_token": "toggl-secret-token", "workspace_id": 1234567}
TEMPO = {
    "api_token": "tempo-secret-token",
    "timezone": "Europe/Berlin",
    "jira_site": "https://example.atlassian.net/",
    "jira_email": "me@example.com",
    "jira_token": "jira-secret-token",
}


def stored_ciphertexts() -> list[str]:
    with db.connection_context():
        query = Integration.select(
            Integration.token_ciphertext, Integration.jira_token_ciphertext
        ).tuples()
        return [value for row in query for value in row if value]


def test_a_toggl_token_is_stored_encrypted_and_never_answered(client, auth_headers):
    response = client.put("/api/integrations/toggl", json=TOGGL, headers=auth_headers)

    assert response.status_code == 200
    assert response.json["source"] == "toggl"
    assert response.json["workspace_id"] == "1234567"
    assert "secret" not in response.get_data(as_text=True)
    ciphertexts = stored_ciphertexts()
    assert len(ciphertexts) == 1
    assert "toggl-secret-token" not in ciphertexts[0]


def test_a_token_is_stored_without_the_whitespace_around_it(client, auth_headers):
    body = {**TEMPO, "api_token": "  padded-token\n", "jira_token": "\tjira "}

    assert client.put("/api/integrations/tempo", json=body, headers=auth_headers).status_code == 200

    vault = Vault(INTEGRATIONS_KEY)
    assert sorted(vault.decrypt(text) for text in stored_ciphertexts()) == ["jira", "padded-token"]


def test_listing_shows_each_source_without_tokens(client, auth_headers):
    client.put("/api/integrations/toggl", json=TOGGL, headers=auth_headers)
    client.put("/api/integrations/tempo", json=TEMPO, headers=auth_headers)

    response = client.get("/api/integrations", headers=auth_headers)

    assert response.status_code == 200
    assert [item["source"] for item in response.json["items"]] == ["tempo", "toggl"]
    assert response.json["items"][0]["jira_site"] == "https://example.atlassian.net"
    assert response.json["items"][0]["has_jira_token"] is True
    assert "secret" not in response.get_data(as_text=True)


def test_putting_again_replaces_the_credentials(client, auth_headers):
    client.put("/api/integrations/toggl", json=TOGGL, headers=auth_headers)

    client.put("/api/integrations/toggl", json={"api_token": "new"}, headers=auth_headers)

    response = client.get("/api/integrations/toggl", headers=auth_headers)
    assert response.json["workspace_id"] is None
    assert len(stored_ciphertexts()) == 1


def test_deleting_forgets_the_credentials(client, auth_headers):
    client.put("/api/integrations/toggl", json=TOGGL, headers=auth_headers)

    response = client.delete("/api/integrations/toggl", headers=auth_headers)

    assert response.status_code == 204
    assert client.get("/api/integrations/toggl", headers=auth_headers).status_code == 404
    assert client.delete("/api/integrations/toggl", headers=auth_headers).status_code == 404


def test_another_users_integration_is_invisible(client, auth_headers, make_user, headers_for):
    client.put("/api/integrations/toggl", json=TOGGL, headers=auth_headers)

    response = client.get("/api/integrations", headers=headers_for(make_user()))

    assert response.json["items"] == []


@pytest.mark.parametrize(
    ("source", "body", "field"),
    [
        ("toggl", {}, "api_token"),
        ("toggl", {"api_token": "  "}, "api_token"),
        ("toggl", {"api_token": " " + "t" * 1024}, "api_token"),
        ("tempo", {"api_token": "t", "jira_token": "j" * 1024 + "\n"}, "jira_token"),
        ("toggl", {"api_token": "t", "workspace_id": "abc"}, "workspace_id"),
        ("toggl", {"api_token": "t", "colour": "red"}, "colour"),
        ("tempo", {"api_token": "t", "timezone": "Mars/Olympus"}, "timezone"),
        ("tempo", {"api_token": "t", "jira_site": "https://x.example"}, None),
        ("tempo", {"api_token": "t", "jira_site": "ftp://x", "jira_token": "j"}, "jira_site"),
        (
            "tempo",
            {"api_token": "t", "jira_site": "http://x\u0000", "jira_token": "j"},
            "jira_site",
        ),
        ("tempo", {"api_token": "t", "timezone": "UTC\u0000"}, "timezone"),
    ],
)
def test_bad_credentials_are_422(client, auth_headers, source, body, field):
    response = client.put(f"/api/integrations/{source}", json=body, headers=auth_headers)

    assert response.status_code == 422
    assert response.json["errors"][0]["field"] == field


def test_an_unknown_source_is_404(client, auth_headers):
    response = client.put("/api/integrations/jira", json=TOGGL, headers=auth_headers)

    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/integrations"),
        ("put", "/api/integrations/toggl"),
        ("post", "/api/sync/toggl"),
    ],
)
def test_without_an_integrations_key_integrations_are_disabled(
    make_app, database_url, method, path
):
    client = make_app(database_url, INTEGRATIONS_KEY="").test_client()
    account = {"email": "nokey@example.com", "password": "correct horse"}
    client.post("/auth/register", json=account)
    token = client.post("/auth/login", json=account).json["access_token"]

    response = getattr(client, method)(
        path, json=TOGGL, headers={"Authorization": f"Bearer {token}"}
    )

    assert response.status_code == 503
    assert "INTEGRATIONS_KEY" in response.json["detail"]
    assert stored_ciphertexts() == []


def test_a_tempo_account_id_is_stored_and_shown_without_jira(client, auth_headers):
    body = {"api_token": "tempo-secret-token", "account_id": "557058:f58131cb-b67d-43c7"}

    stored = client.put("/api/integrations/tempo", json=body, headers=auth_headers)
    shown = client.get("/api/integrations/tempo", headers=auth_headers)

    assert stored.status_code == 200
    assert shown.json["account_id"] == "557058:f58131cb-b67d-43c7"
    assert shown.json["jira_site"] is None


def test_a_body_that_repeats_a_key_is_refused_and_nothing_is_stored(client, auth_headers):
    body = '{"api_token": "first", "api_token": "second", "workspace_id": 1}'

    response = client.put(
        "/api/integrations/toggl",
        data=body,
        headers={**auth_headers, "Content-Type": "application/json"},
    )

    assert response.status_code == 400
    assert client.get("/api/integrations/toggl", headers=auth_headers).status_code == 404


def test_a_tempo_integration_without_its_owner_says_which_field_is_missing(client, auth_headers):
    response = client.put(
        "/api/integrations/tempo", json={"api_token": "tempo-token"}, headers=auth_headers
    )

    assert response.status_code == 422
    [problem] = response.json["errors"]
    assert problem["message"].startswith("account_id (whose worklogs to read) is required")
