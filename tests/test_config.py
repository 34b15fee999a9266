"""Settings: read once from the environment, overrides win, bad secrets stop start-up."""

from __future__ import annotations

import pytest

from service.config import ConfigError
from service.config import load_config

SECRET = "x" * 32


def test_defaults_are_documented_values():
    config = load_config(env={"JWT_SECRET": SECRET})

    assert config["APP_ENV"] == "production"
    assert config["ACCESS_TOKEN_TTL"] == 900
    assert config["REFRESH_TOKEN_TTL"] == 30 * 24 * 3600
    assert config["BCRYPT_ROUNDS"] == 12
    assert config["PORT"] == 8000
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
