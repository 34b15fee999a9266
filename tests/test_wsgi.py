"""Start-up through the app's entry point: gunicorn and the flask CLI, as a user runs them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from service.migrate import migrate
from service.migrate import open_database
from tests.servers import ROOT
from tests.servers import free_port
from tests.servers import server_env

BIN = Path(sys.executable).parent
GUNICORN = [str(BIN / "gunicorn"), "-c", str(ROOT / "gunicorn.conf.py"), "wsgi:app"]
FLASK = [str(BIN / "flask"), "--app", "wsgi"]
COMMANDS = {"gunicorn": GUNICORN, "flask": [*FLASK, "clients", "list"]}
BAD_SETTINGS = [
    ({"PORT": "eighty"}, "PORT must be a whole number"),
    ({"LOG_FORMAT": "xml"}, "LOG_FORMAT must be one of json, text"),
    ({"JWT_SECRET": "short"}, "JWT_SECRET must be at least 32 bytes"),
    ({"APP_ENV": "production", "JWT_SECRET": ""}, "JWT_SECRET (or JWT_SECRET_FILE) must be set"),
]


def run(command: list[str], env: dict[str, str], cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """Run COMMAND to its end and capture what it printed."""
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A migrated SQLite database in a file."""
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    migrate(open_database(url))
    return url


@pytest.mark.parametrize(("bad", "named"), BAD_SETTINGS, ids=lambda v: str(v)[:40])
@pytest.mark.parametrize("command", COMMANDS.values(), ids=COMMANDS.keys())
def test_a_bad_setting_stops_start_up_with_one_line_naming_it(sqlite_url, command, bad, named):
    env = server_env(sqlite_url, free_port(), **bad)

    done = run(command, env)

    [line] = done.stderr.splitlines()
    assert done.returncode != 0
    assert line.startswith(f"configuration error: {named}")
    assert done.stdout == ""


def test_the_cli_runs_with_the_development_settings_and_no_secret(tmp_path, sqlite_url):
    env = server_env(sqlite_url, free_port(), APP_ENV="development", JWT_SECRET="")
    env["PYTHONPATH"] = str(ROOT)
    create = [*FLASK, "clients", "create", "billing", "--scopes", "entries:read"]

    created = run(create, env, tmp_path)
    listed = run([*FLASK, "clients", "list"], env, tmp_path)

    assert created.returncode == 0, created.stderr
    assert created.stdout.startswith("client_id: ")
    assert listed.returncode == 0, listed.stderr
    assert "\tbilling\tentries:read\t" in listed.stdout
    assert (tmp_path / "instance" / "jwt_secret").is_file()
