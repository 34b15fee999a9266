"""Rate limits on sign-in routes, in memory and in Redis, and the failed-login lockout."""

from __future__ import annotations

import time
import uuid

import pytest
import redis

from service.config import ConfigError
from service.config import Rate
from service.config import parse_rates
from service.ratelimit import STORE_RETRY_SECONDS
from service.ratelimit import FallingBack
from service.ratelimit import MemoryCounters
from service.ratelimit import Window
from service.ratelimit import open_counters
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

    assert before < int(response.headers["X-RateLimit-Reset"]) <= before + 61


@pytest.mark.parametrize(
    ("text", "rates"),
    [
        ("10 per minute", (Rate(10, 60),)),
        ("10/minute", (Rate(10, 60),)),
        ("100 per 5 minutes", (Rate(100, 300),)),
        ("5 per second; 100 per hour", (Rate(5, 1), Rate(100, 3600))),
        ("5/second, 100/hour", (Rate(5, 1), Rate(100, 3600))),
        ("2 PER DAY", (Rate(2, 86400),)),
    ],
)
def test_rates_read_as_the_settings_table_says(text, rates):
    assert parse_rates(text) == rates


@pytest.mark.parametrize(
    "value", ["10 per fortnight", "0 per minute", "10 per 0 minutes", "10 per minute;", "10"]
)
def test_a_rate_that_allows_nothing_or_reads_as_nothing_is_a_config_error(
    make_app, database_url, value
):
    with pytest.raises(ConfigError, match="RATE_LIMIT_PER_ACCOUNT"):
        make_app(database_url, RATE_LIMIT_PER_ACCOUNT=value)


@pytest.mark.parametrize(
    "uri", ["memcached://127.0.0.1:11211", "redis://127.0.0.1:six", "redis://127.0.0.1:99999"]
)
def test_a_store_other_than_memory_or_a_redis_url_is_a_config_error(make_app, database_url, uri):
    with pytest.raises(ConfigError, match="RATE_LIMIT_STORAGE_URI"):
        make_app(database_url, RATE_LIMIT_STORAGE_URI=uri)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_a_window_runs_from_its_first_hit_and_the_next_from_the_next_hit():
    clock = Clock(1000.0)
    counters = MemoryCounters(clock=clock)

    first = counters.hit("k", 60)
    clock.now = 1059.0
    second = counters.hit("k", 60)
    clock.now = 1070.0
    third = counters.hit("k", 60)

    assert [first, second, third] == [Window(1, 1060.0), Window(2, 1060.0), Window(1, 1130.0)]
    assert counters.peek("unknown") == Window(0, 1070.0)


def test_ended_windows_are_dropped_as_the_table_grows():
    clock = Clock(0.0)
    counters = MemoryCounters(prune_at=10, clock=clock)
    for i in range(9):
        counters.hit(f"old-{i}", 1)
    clock.now = 5.0

    counters.hit("new", 60)

    assert counters.tracked_keys() == 1
    assert counters.peek("new").hits == 1


def test_a_redis_window_always_has_an_end(redis_storage):
    counters = open_counters(REDIS_URL)
    key = f"{redis_storage['RATE_LIMIT_KEY_PREFIX']}:window"
    connection = redis.Redis.from_url(REDIS_URL)
    connection.set(key, 7)

    window = counters.hit(key, 60)

    assert window.hits == 8
    assert 0 < connection.pttl(key) <= 60_000
    assert counters.peek(key).hits == 8
    counters.clear(key)
    assert counters.peek(key).hits == 0
    connection.close()


class FlakyStore:
    """A shared store that is down until the test brings it up."""

    errors = (ConnectionError,)

    def __init__(self) -> None:
        self.up = False
        self.counters = MemoryCounters()

    def hit(self, key: str, seconds: int) -> Window:
        if not self.up:
            raise ConnectionError("store down")
        return self.counters.hit(key, seconds)


def test_counting_goes_back_to_the_store_a_few_seconds_after_it_failed():
    store, memory, clock = FlakyStore(), MemoryCounters(), Clock(0.0)
    counters = FallingBack(store, memory, clock=clock)
    counters.hit("k", 60)
    store.up = True

    clock.now = STORE_RETRY_SECONDS - 0.1
    counters.hit("k", 60)
    clock.now = STORE_RETRY_SECONDS
    counters.hit("k", 60)

    assert (memory.peek("k").hits, store.counters.peek("k").hits) == (2, 1)
