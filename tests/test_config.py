"""Settings added for the container: the pool follows THREADS, secrets come from files."""

from __future__ import annotations

import pytest

from service.config import ConfigError
from service.config import database_url
from service.config import load_config
from service.config import server_settings
from tests.conftest import TEST_SECRET


def test_pool_size_follows_the_thread_count():
    config = load_config(env={"JWT_SECRET": TEST_SECRET, "THREADS": "6"})

    assert config["DB_POOL_SIZE"] == 6


def test_an_explicit_pool_size_wins_over_the_thread_count():
    config = load_config(env={"JWT_SECRET": TEST_SECRET, "THREADS": "6", "DB_POOL_SIZE": "3"})

    assert config["DB_POOL_SIZE"] == 3


def test_database_url_is_read_from_its_file(tmp_path):
    secret = tmp_path / "database_url"
    secret.write_text("postgresql://app:p%40ss@db:5432/tt\n")

    url = database_url({"DATABASE_URL_FILE": str(secret), "DATABASE_URL": "sqlite:///ignored.db"})

    assert url == "postgresql://app:p%40ss@db:5432/tt"


def test_a_missing_database_url_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="DATABASE_URL_FILE cannot be read"):
        database_url({"DATABASE_URL_FILE": str(tmp_path / "absent")})


def test_server_defaults():
    assert server_settings({}) == {
        "HOST": "0.0.0.0",
        "PORT": 8000,
        "WEB_CONCURRENCY": 2,
        "WORKER_CLASS": "gthread",
        "THREADS": 4,
        "WORKER_TIMEOUT": 30,
        "GRACEFUL_TIMEOUT": 25,
        "DRAIN_SECONDS": 3,
        "KEEPALIVE": 5,
        "MAX_REQUESTS": 2000,
        "MAX_REQUESTS_JITTER": 200,
        "FORWARDED_ALLOW_IPS": "127.0.0.1,::1",
        "DB_WAIT_TIMEOUT": 30,
    }


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("WEB_CONCURRENCY", "0", "WEB_CONCURRENCY must be at least 1"),
        ("THREADS", "many", "THREADS must be a whole number"),
        ("WORKER_CLASS", "eventlet", "WORKER_CLASS must be one of gevent, gthread, sync"),
        ("DB_WAIT_TIMEOUT", "-1", "DB_WAIT_TIMEOUT must be at least 0"),
    ],
)
def test_bad_server_settings_are_named(name, value, message):
    with pytest.raises(ConfigError, match=message):
        server_settings({name: value})
