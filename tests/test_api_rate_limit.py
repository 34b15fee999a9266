"""The per-principal API limit (RATE_LIMIT_API): per person, personal token and service."""

from __future__ import annotations

import pytest

from service.config import ConfigError
from service.config import load_config
from tests.conftest import settings
from tests.test_health import closed_port
from tests.test_ratelimit import redis_storage  # noqa: F401 (a fixture)
from tests.test_ratelimit import storage  # noqa: F401 (a fixture)


@pytest.fixture
def limited(make_app, database_url, storage):  # noqa: F811 (the fixture imported above)
    """An app allowing each principal 3 API requests a minute, and its client."""
    app = make_app(database_url, RATE_LIMIT_API="3 per minute", **storage)
    return app.test_client()


def sign_up(client, email: str) -> dict[str, str]:
    """Register EMAIL and return the headers of its sign-in."""
    account = {"email": email, "password": "correct horse battery"}
    assert client.post("/auth/register", json=account).status_code == 201
    token = client.post("/auth/login", json=account).json["access_token"]
    return {"Authorization": f"Bearer {token}"}


def test_the_request_past_the_limit_is_a_429_with_retry_after(limited):
    ann, bob = sign_up(limited, "ann@example.com"), sign_up(limited, "bob@example.com")
    answers = [limited.get("/api/entries", headers=ann).status_code for _ in range(3)]

    refused = limited.get("/api/reports/summary", headers=ann)

    assert answers == [200, 200, 200]
    assert refused.status_code == 429
    assert refused.mimetype == "application/problem+json"
    assert refused.json["detail"] == (
        "Too many requests for this token; retry after the number of seconds in Retry-After."
    )
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    assert refused.headers["X-RateLimit-Limit"] == "3"
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    assert limited.get("/api/entries", headers=bob).status_code == 200


def test_a_personal_token_has_a_count_of_its_own(limited):
    ann = sign_up(limited, "ann@example.com")
    body = {"name": "script", "scopes": ["entries:read"]}
    token = limited.post("/api/tokens", json=body, headers=ann).json["token"]
    for _ in range(2):
        limited.get("/api/entries", headers=ann)

    by_token = [
        limited.get("/api/entries", headers={"Authorization": f"Bearer {token}"}).status_code
        for _ in range(4)
    ]

    assert by_token == [200, 200, 200, 429]
    assert limited.get("/api/entries", headers=ann).status_code == 429


def test_a_service_client_is_limited_per_client(limited, make_client, service_token):
    robot = make_client("users:read")
    tokens = [service_token(robot), service_token(robot)]

    answers = [
        limited.get("/api/users", headers={"Authorization": f"Bearer {token}"}).status_code
        for token in tokens * 2
    ]

    assert answers == [200, 200, 200, 429]


def test_probes_docs_metrics_and_sign_in_are_not_counted(limited):
    ann = sign_up(limited, "ann@example.com")
    for path in ("/livez", "/health", "/readyz", "/metrics", "/openapi.json") * 2:
        limited.get(path)

    answers = [limited.get("/api/entries", headers=ann).status_code for _ in range(3)]

    assert answers == [200, 200, 200]


def test_a_refused_token_is_not_counted(limited):
    ann = sign_up(limited, "ann@example.com")
    for _ in range(5):
        limited.get("/api/entries", headers={"Authorization": "Bearer not-a-token"})

    assert limited.get("/api/entries", headers=ann).status_code == 200


def test_off_switches_the_limit_off(make_app, database_url):
    client = make_app(database_url, RATE_LIMIT_API="off").test_client()
    ann = sign_up(client, "ann@example.com")

    answers = {client.get("/api/entries", headers=ann).status_code for _ in range(20)}

    assert answers == {200}


def test_with_the_store_down_each_process_counts_in_memory(make_app, database_url):
    down = f"redis://127.0.0.1:{closed_port()}"
    client = make_app(
        database_url, RATE_LIMIT_API="2 per minute", RATE_LIMIT_STORAGE_URI=down
    ).test_client()
    ann = sign_up(client, "ann@example.com")

    answers = [client.get("/api/entries", headers=ann).status_code for _ in range(3)]

    assert answers == [200, 200, 429]


@pytest.mark.parametrize("value", ["lots", "0 per minute"])
def test_a_bad_rate_stops_the_start(value):
    with pytest.raises(ConfigError, match="RATE_LIMIT_API"):
        load_config(settings("sqlite:///unused.db", RATE_LIMIT_API=value), env={})


def test_the_default_is_600_a_minute():
    overrides = settings("sqlite:///unused.db")
    del overrides["RATE_LIMIT_API"]

    assert load_config(overrides, env={})["RATE_LIMIT_API"] == "600 per minute"
