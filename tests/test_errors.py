"""Every error, ours or Flask's, answers in one problem+json shape and reveals nothing."""

from __future__ import annotations

import pytest

PROBLEM_KEYS = {"type", "title", "status", "detail"}


def test_unknown_urls_are_404_problems(client):
    response = client.get("/no/such/thing")

    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    assert set(response.json) >= PROBLEM_KEYS


def test_wrong_methods_are_405_problems_that_keep_allow(client):
    response = client.delete("/health")

    assert response.status_code == 405
    assert response.mimetype == "application/problem+json"
    assert set(response.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS"}


def test_oversized_bodies_are_413_problems(make_app, database_url, user):
    client = make_app(database_url, MAX_CONTENT_LENGTH=2048).test_client()

    response = client.post("/auth/register", data="x" * 4096, content_type="application/json")

    assert response.status_code == 413
    assert response.mimetype == "application/problem+json"


@pytest.mark.parametrize("body", ["{", "not json", '{"email": "a@example.com",}', ""])
def test_malformed_json_is_a_400_problem(client, body):
    response = client.post("/auth/register", data=body, content_type="application/json")

    assert response.status_code == 400
    assert response.json["status"] == 400


def test_unexpected_errors_are_500_problems_that_reveal_nothing(app, client, caplog):
    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internals: password=hunter2")

    response = client.get("/boom")

    assert response.status_code == 500
    assert response.json["detail"] == "An unexpected error occurred."
    assert "hunter2" not in response.get_data(as_text=True)
    assert "secret internals" in caplog.text
