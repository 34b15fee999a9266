"""Settings: read once from the environment, overrides win, bad secrets stop start-up."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from service.config import ConfigError
from service.config import database_url
from service.config import load_config
from service.config import server_settings

SECRET = "x" * 32
REPO = Path(__file__).resolve().parent.parent


def test_defaults_are_documented_values():
    config = load_config(env={"JWT_SECRET": SECRET})

    assert config["APP_ENV"] == "production"
    assert config["ACCESS_TOKEN_TTL"] == 900
    assert config["REFRESH_TOKEN_TTL"] == 30 * 24 * 3600
    assert config["BCRYPT_ROUNDS"] == 12
    assert config["PORT"] == 8000
    assert config["DB_POOL_SIZE"] == 1
    assert config["DATABASE_URL"].startswith("sqlite:///")
    assert config["DATABASE_URL"].endswith("instance/time_tracker.db")


def test_overrides_win_over_the_environment():
    config = load_config({"BCRYPT_ROUNDS": 4, "TESTING": True}, env={"JWT_SECRET": SECRET})

    assert config["BCRYPT_ROUNDS"] == 4
    assert config["TESTING"] is True


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "JWT_SECRET"),
        ({"JWT_SECRET": "short"}, "JWT_SECRET must be at least 32 bytes"),
        ({"JWT_SECRET": SECRET, "PORT": "eighty"}, "PORT must be a whole number"),
        ({"JWT_SECRET": SECRET, "BCRYPT_ROUNDS": "2"}, "BCRYPT_ROUNDS must be at least 4"),
        ({"JWT_SECRET": SECRET, "APP_ENV": "staging"}, "APP_ENV must be one of"),
        ({"JWT_SECRET": SECRET, "LOG_LEVEL": "LOUD"}, "LOG_LEVEL must be one of"),
        ({"JWT_SECRET_FILE": "/nonexistent/secret"}, "JWT_SECRET_FILE cannot be read"),
        ({"JWT_SECRET": SECRET, "JOBS_URL": "amqp://queue"}, "JOBS_URL must be a Redis URL"),
        ({"JWT_SECRET": SECRET, "JOBS_URL": "redis://h:0"}, "JOBS_URL must be a URL whose port"),
        ({"JWT_SECRET": SECRET, "SYNC_INTERVAL": "10"}, "SYNC_INTERVAL must be at least 60"),
    ],
)
def test_bad_settings_stop_start_up_with_one_line_naming_the_variable(env, message):
    with pytest.raises(ConfigError) as raised:
        load_config(env=env)

    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_the_secret_file_wins_over_the_variable(tmp_path):
    secret_file = tmp_path / "jwt"
    secret_file.write_text("f" * 40 + "\n")

    config = load_config(env={"JWT_SECRET": SECRET, "JWT_SECRET_FILE": str(secret_file)})

    assert config["JWT_SECRET"] == "f" * 40


def test_development_creates_a_private_secret_once(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    first = load_config(env={"APP_ENV": "development"})["JWT_SECRET"]
    second = load_config(env={"APP_ENV": "development"})["JWT_SECRET"]

    secret_file = tmp_path / "instance" / "jwt_secret"
    assert first == second == secret_file.read_text()
    assert len(first) >= 32
    assert secret_file.stat().st_mode & 0o777 == 0o600


def test_pool_size_follows_the_thread_count():
    config = load_config(env={"JWT_SECRET": SECRET, "WORKER_CLASS": "gthread", "THREADS": "6"})

    assert config["DB_POOL_SIZE"] == 6


def test_threads_for_sync_workers_are_refused_rather_than_turned_into_gthread():
    with pytest.raises(ConfigError, match="THREADS must be 1 with WORKER_CLASS=sync, got 4"):
        server_settings({"WORKER_CLASS": "sync", "THREADS": "4"})


def test_an_explicit_pool_size_wins_over_the_thread_count():
    env = {"JWT_SECRET": SECRET, "WORKER_CLASS": "gthread", "THREADS": "6", "DB_POOL_SIZE": "3"}
    config = load_config(env=env)

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
        "WEB_CONCURRENCY": 4,
        "WORKER_CLASS": "sync",
        "THREADS": 1,
        "WORKER_TIMEOUT": 30,
        "GRACEFUL_TIMEOUT": 25,
        "DRAIN_SECONDS": 3,
        "KEEPALIVE": 0,
        "MAX_REQUESTS": 100_000,
        "MAX_REQUESTS_JITTER": 10_000,
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


def test_a_serving_app_loads_the_sync_client_and_the_migrator_only_when_used(tmp_path):
    script = (
        "import sys\n"
        "from service import create_app\n"
        "create_app()\n"
        "print(sorted({'requests', 'peewee_migrate'} & set(sys.modules)))\n"
    )
    env = {
        **os.environ,
        "JWT_SECRET": SECRET,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'lazy.db'}",
        "PYTHONPATH": str(REPO),
    }
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )

    assert done.stdout.strip() == "[]"


def test_the_job_queue_defaults_to_a_file_beside_a_sqlite_database(tmp_path):
    config = load_config(env={"JWT_SECRET": SECRET, "DATABASE_URL": f"sqlite:///{tmp_path}/t.db"})

    assert config["JOBS_URL"] == f"sqlite:///{tmp_path}/jobs.db"
    assert config["SYNC_INTERVAL"] == 900


def test_production_on_postgresql_needs_the_shared_jobs_url():
    env = {"JWT_SECRET": SECRET, "DATABASE_URL": "postgresql://app@db:5432/tt"}

    with pytest.raises(ConfigError, match="JOBS_URL must be set in production"):
        load_config(env=env)
    assert load_config(env={**env, "JOBS_URL": "redis://redis:6379/0"})["JOBS_URL"] == (
        "redis://redis:6379/0"
    )
