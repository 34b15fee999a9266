"""Rate limits on sign-in routes, in memory and in Redis, and the failed-login lockout."""

from __future__ import annotations

import socket
import time
import uuid

import pytest
import redis

from service.config import ConfigError
from tests.conftest import PASSWORD

REDIS_URL = "redis://127.0.0.1:6379"


@pytest.fixture
def redis_storage() -> dict[str, str]:
    """Limiter settings for the local Redis, under a key prefix of this test's own."""
    connection = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        connection.ping()
    except redis.ConnectionError as exc:
        pytest.skip(f"Redis unreachable at {REDIS_URL}: {exc}")
    prefix = f"tt-test-{uuid.uuid4().hex[:12]}"
    yield {"RATE_LIMIT_STORAGE_URI": REDIS_URL, "RATE_LIMIT_KEY_PREFIX": prefix}
    keys = list(connection.scan_iter(f"*{prefix}*"))
    if keys:
        connection.delete(*keys)
    connection.close()


@pytest.fixture(params=["memory", "redis"])
def storage(request) -> dict[str, str]:
    """Limiter settings for in-process memory and for the local Redis."""
    if request.param == "memory":
        return {"RATE_LIMIT_STORAGE_URI": "memory://"}
    return request.getfixturevalue("redis_storage")


@pytest.fixture
def limited_client(make_app, database_url, storage):
    """A client of an app that allows 3 sign-in requests per address and 2 per account."""
    app = make_app(
        database_url,
        RATE_LIMIT_PER_ADDRESS="3 per minute",
        RATE_LIMIT_PER_ACCOUNT="2 per minute",
        **storage,
    )
    return app.test_client()


def credentials(name: str) -> dict[str, str]:
    return {"email": f"{name}@example.com", "password": PASSWORD}


def test_per_account_limit_is_429_problem_with_retry_after(limited_client):
    for _ in range(2):
        limited_client.post("/auth/login", json=credentials("ann"))

    response = limited_client.post("/auth/login", json=credentials("ann"))

    assert response.status_code == 429
    assert response.mimetype == "application/problem+json"
    assert response.json["status"] == 429
    assert 0 < int(response.headers["Retry-After"]) <= 60


def test_per_address_limit_covers_every_account(limited_client):
    for name in ("ann", "bob", "cid"):
        assert limited_client.post("/auth/register", json=credentials(name)).status_code == 201

    response = limited_client.post("/auth/register", json=credentials("dan"))

    assert response.status_code == 429


def test_token_requests_are_limited_per_client(limited_client):
    form = {"grant_type": "client_credentials", "client_id": "c1", "client_secret": "s"}
    for _ in range(2):
        assert limited_client.post("/auth/token", data=form).status_code == 401

    response = limited_client.post("/auth/token", data=form)

    assert response.status_code == 429


def test_probes_and_the_api_are_not_limited(limited_client):
    for _ in range(5):
        limited_client.post("/auth/login", json=credentials("ann"))

    statuses = {limited_client.get(path).status_code for path in ("/livez", "/health") * 5}

    assert statuses == {200}


def test_only_sign_in_answers_carry_the_limit_headers(limited_client):
    signed_in = limited_client.post("/auth/login", json=credentials("ann"))
    probed = limited_client.get("/livez")

    assert signed_in.headers["X-RateLimit-Limit"] in {"2", "3"}
    assert int(signed_in.headers["X-RateLimit-Remaining"]) < 3
    assert "X-RateLimit-Limit" not in probed.headers


@pytest.fixture
def lockout_client(make_app, database_url, storage):
    """A client of an app that locks an account after 3 failed sign-ins."""
    return make_app(database_url, LOGIN_LOCKOUT_ATTEMPTS=3, **storage).test_client()


def test_lockout_refuses_even_the_right_password(lockout_client):
    lockout_client.post("/auth/register", json=credentials("ann"))
    wrong = {**credentials("ann"), "password": "wrong password"}
    for _ in range(3):
        assert lockout_client.post("/auth/login", json=wrong).status_code == 401

    response = lockout_client.post("/auth/login", json=credentials("ann"))

    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0
    assert "failed sign-ins" in response.json["detail"]


def test_lockout_looks_the_same_for_unknown_accounts(lockout_client):
    lockout_client.post("/auth/register", json=credentials("ann"))
    answers = {}
    for name in ("ann", "nobody"):
        wrong = {**credentials(name), "password": "wrong password"}
        answers[name] = [lockout_client.post("/auth/login", json=wrong) for _ in range(4)]

    def shape(responses):
        return [(r.status_code, r.json["detail"]) for r in responses]

    assert shape(answers["ann"]) == shape(answers["nobody"])
    assert [r.status_code for r in answers["ann"]] == [401, 401, 401, 429]


def test_a_successful_sign_in_clears_the_failures(lockout_client):
    lockout_client.post("/auth/register", json=credentials("ann"))
    wrong = {**credentials("ann"), "password": "wrong password"}
    for _ in range(2):
        lockout_client.post("/auth/login", json=wrong)
    assert lockout_client.post("/auth/login", json=credentials("ann")).status_code == 200

    statuses = [lockout_client.post("/auth/login", json=wrong).status_code for _ in range(3)]

    assert statuses == [401, 401, 401]


def test_counters_live_in_redis_under_the_key_prefix(make_app, database_url, redis_storage):
    client = make_app(database_url, **redis_storage).test_client()

    client.post("/auth/login", json=credentials("ann"))

    connection = redis.Redis.from_url(REDIS_URL)
    keys = [
        key.decode() for key in connection.scan_iter(f"*{redis_storage['RATE_LIMIT_KEY_PREFIX']}*")
    ]
    connection.close()
    assert any("login-failures" in key for key in keys)
    assert any("auth.login" in key for key in keys)
    assert not any("ann@example.com" in key for key in keys)


@pytest.mark.parametrize("name", ["RATE_LIMIT_PER_ADDRESS", "RATE_LIMIT_PER_ACCOUNT"])
def test_a_bad_rate_is_a_config_error(make_app, database_url, name):
    with pytest.raises(ConfigError, match=name):
        make_app(database_url, **{name: "lots"})


def test_sign_in_survives_a_dead_limit_store(make_app, database_url):
    client = make_app(database_url, RATE_LIMIT_STORAGE_URI="redis://127.0.0.1:1").test_client()
    client.post("/auth/register", json=credentials("ann"))

    response = client.post("/auth/login", json=credentials("ann"))

    assert response.status_code == 200


def test_a_spoofed_forwarded_for_does_not_escape_the_address_limit(limited_client):
    answers = [
        limited_client.post(
            "/auth/login",
            json=credentials(name),
            headers={"X-Forwarded-For": f"203.0.113.{i}"},
        ).status_code
        for i, name in enumerate(("ann", "bob", "cid", "dan"))
    ]

    assert answers == [401, 401, 401, 429]


def test_behind_a_trusted_proxy_each_client_address_is_limited_alone(make_app, database_url):
    client = make_app(
        database_url, TRUSTED_PROXY_COUNT=1, RATE_LIMIT_PER_ADDRESS="1 per minute"
    ).test_client()

    def login(address: str, name: str) -> int:
        headers = {"X-Forwarded-For": address}
        return client.post("/auth/login", json=credentials(name), headers=headers).status_code

    assert [login("203.0.113.1", "ann"), login("203.0.113.2", "bob")] == [401, 401]
    assert login("203.0.113.1", "cid") == 429


def test_limits_still_hold_in_memory_while_the_store_is_down(make_app, database_url):
    client = make_app(
        database_url,
        RATE_LIMIT_STORAGE_URI="redis://127.0.0.1:1",
        RATE_LIMIT_PER_ACCOUNT="2 per minute",
    ).test_client()

    statuses = [client.post("/auth/login", json=credentials("ann")).status_code for _ in range(3)]

    assert statuses == [401, 401, 429]


def test_a_sign_in_answer_says_when_its_window_resets(limited_client):
    before = time.time()

    response = limited_client.post("/auth/login", json=credentials("ann"))

    # The reset is a whole second rounded up, so it can be up to 1 s past the window end.
    assert before < int(response.headers["X-RateLimit-Reset"]) <= before + 62


@pytest.mark.parametrize(
    "value", ["10 per fortnight", "0 per minute", "10 per minute;", "10", "lots"]
)
def test_a_rate_that_allows_nothing_or_reads_as_nothing_is_a_config_error(
    make_app, database_url, value
):
    with pytest.raises(ConfigError, match="RATE_LIMIT_PER_ACCOUNT"):
        make_app(database_url, RATE_LIMIT_PER_ACCOUNT=value)


@pytest.mark.parametrize(
    "uri",
    [
        "memcached://127.0.0.1:11211",
        "unix:///run/redis.sock",
        "redis://127.0.0.1:six",
        "redis://127.0.0.1:99999",
    ],
)
def test_a_store_other_than_memory_or_a_redis_url_is_a_config_error(make_app, database_url, uri):
    with pytest.raises(ConfigError, match="RATE_LIMIT_STORAGE_URI"):
        make_app(database_url, RATE_LIMIT_STORAGE_URI=uri)


@pytest.mark.parametrize(
    "value", ["10 per minute", "10/minute", "100 per 5 minutes", "5/second, 100/hour", "2 PER DAY"]
)
def test_rates_in_the_documented_forms_are_accepted(make_app, database_url, value):
    app = make_app(database_url, RATE_LIMIT_PER_ACCOUNT=value)

    assert app.config["RATE_LIMIT_PER_ACCOUNT"] == value


def test_two_apps_on_one_redis_share_the_limits_and_the_lockout(
    make_app, database_url, redis_storage
):
    first, second = (
        make_app(
            database_url,
            RATE_LIMIT_PER_ACCOUNT="3 per minute",
            LOGIN_LOCKOUT_ATTEMPTS=2,
            **redis_storage,
        ).test_client()
        for _ in range(2)
    )
    first.post("/auth/register", json=credentials("ann"))
    wrong = {**credentials("ann"), "password": "wrong password"}

    answers = [first.post("/auth/login", json=wrong), second.post("/auth/login", json=wrong)]
    locked = second.post("/auth/login", json=credentials("ann"))
    limited = first.post("/auth/login", json=credentials("ann"))

    assert [r.status_code for r in answers] == [401, 401]
    assert locked.status_code == 429 and "failed sign-ins" in locked.json["detail"]
    assert limited.status_code == 429 and limited.json["detail"].startswith("Too many requests")


def test_a_hung_limit_store_delays_a_sign_in_by_a_bounded_time(make_app, database_url):
    with socket.create_server(("127.0.0.1", 0), backlog=8) as silent:
        port = silent.getsockname()[1]
        client = make_app(
            database_url, RATE_LIMIT_STORAGE_URI=f"redis://127.0.0.1:{port}"
        ).test_client()
        client.post("/auth/register", json=credentials("ann"))
        started = time.monotonic()

        response = client.post("/auth/login", json=credentials("ann"))

    assert response.status_code == 200
    assert time.monotonic() - started < 5
