"""`flask users ...`: the first admin from a shell, roles, deactivation and password resets."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from service.models import User
from tests.conftest import JOBS_URL
from tests.conftest import PASSWORD
from tests.conftest import TEST_SECRET

REPO = Path(__file__).resolve().parent.parent
ADMIN = "root@example.com"


@pytest.fixture
def cli(app):
    """Run `flask users ARGS` in-process with INPUT on stdin; return the click result."""

    def run(*args: str, input: str | None = None):
        return app.test_cli_runner().invoke(args=["users", *args], input=input)

    return run


def sign_in(client, email: str, password: str):
    return client.post("/auth/login", json={"email": email, "password": password})


def test_create_reads_the_password_from_stdin(cli, client):
    result = cli(
        "create", "Root@Example.com", "--role", "admin", "--password-stdin", input=PASSWORD + "\n"
    )

    assert result.exit_code == 0, result.output
    created, user_id, email, role = result.stdout.split()
    assert (created, email, role) == ("created", ADMIN, "admin")
    assert User.get_by_id(uuid.UUID(user_id)).role == "admin"
    assert sign_in(client, ADMIN, PASSWORD).status_code == 200


def test_create_generates_a_password_and_prints_it_once(cli, client):
    result = cli("create", ADMIN, "--generate")

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].endswith(f" {ADMIN} member")
    password = lines[1].removeprefix("password: ")
    assert len(password) >= 32
    assert "shown only this once" in result.stderr
    assert sign_in(client, ADMIN, password).status_code == 200


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (
            ("create", ADMIN, "--password-stdin"),
            "short\n",
            "password String should have at least 8",
        ),
        (("create", ADMIN, "--password-stdin"), "é" * 37 + "\n", "must be 8 to 72 bytes long"),
        (("create", "not-an-email", "--generate"), None, "email value is not a valid email"),
        (("create", ADMIN, "--role", "owner", "--generate"), None, "'owner' is not one of"),
        (("create", ADMIN, "--generate", "--password-stdin"), None, "not both"),
        (("create", ADMIN), None, "stdin is not a terminal"),
    ],
)
def test_create_refuses_what_sign_up_would(cli, args, stdin, message):
    result = cli(*args, input=stdin)

    assert result.exit_code == 2
    assert message in result.output
    assert User.select().count() == 0


def test_create_refuses_an_existing_email(cli, make_user):
    make_user(email=ADMIN)

    result = cli("create", ADMIN.upper(), "--generate")

    assert result.exit_code == 1
    assert f"Error: A user with the email {ADMIN} exists already." in result.output
    assert "password:" not in result.output
    assert User.select().count() == 1


def test_list_shows_every_account(cli, make_user):
    ada = make_user(email="ada@example.com", role="admin")
    bob = make_user(email="bob@example.com")
    cli("deactivate", "bob@example.com")

    result = cli("list")

    rows = [line.split("\t") for line in result.stdout.splitlines()]
    assert [row[:4] for row in rows] == [
        [ada["id"], "ada@example.com", "admin", "active"],
        [bob["id"], "bob@example.com", "member", "inactive"],
    ]
    assert rows[0][4] == ada["created_at"].replace("Z", "+00:00")


def test_a_demotion_applies_from_the_next_request(cli, client, make_user, headers_for):
    lead = make_user(role="manager")
    headers = headers_for(lead)
    allowed = client.get("/api/invitations", headers=headers)

    result = cli("set-role", lead["email"], "member")
    refused = client.get("/api/invitations", headers=headers)

    assert result.stdout == f"{lead['email']} is now member\n"
    assert allowed.status_code == 200
    assert refused.status_code == 403


def test_a_promotion_applies_from_the_next_sign_in(cli, client, user, headers_for):
    before = headers_for(user)

    cli("set-role", user["email"], "admin")

    assert client.get("/api/invitations", headers=before).status_code == 403
    assert client.get("/api/invitations", headers=headers_for(user)).status_code == 200


@pytest.mark.parametrize(
    "args",
    [
        ("set-role", "nobody@example.com", "admin"),
        ("deactivate", "nobody@example.com"),
        ("reactivate", "nobody@example.com"),
        ("reset-password", "nobody@example.com"),
    ],
)
def test_an_unknown_email_is_exit_1(cli, args):
    result = cli(*args)

    assert result.exit_code == 1
    assert "no user with email nobody@example.com" in result.output


def test_deactivating_twice_says_so(cli, user):
    cli("deactivate", user["email"])

    again = cli("deactivate", user["email"])

    assert again.exit_code == 0
    assert again.stdout == f"{user['email']} was already inactive\n"


def test_reset_password_prints_a_token_that_works_once(cli, client, user):
    result = cli("reset-password", user["email"])
    token = result.stdout.strip()

    reset = client.post(
        "/auth/password/reset", json={"token": token, "password": "fresh passphrase"}
    )
    again = client.post(
        "/auth/password/reset", json={"token": token, "password": "other passphrase"}
    )

    assert result.exit_code == 0
    assert "it works once, until" in result.stderr
    assert reset.status_code == 204
    assert again.status_code == 401
    assert sign_in(client, user["email"], "fresh passphrase").status_code == 200


def shell_env(database_url: str) -> dict[str, str]:
    """The environment of an operator's shell on a production host."""
    kept = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "JWT_"))}
    return {
        **kept,
        "APP_ENV": "production",
        "DATABASE_URL": database_url,
        "JWT_SECRET": TEST_SECRET,
        "JOBS_URL": JOBS_URL,
        "BCRYPT_ROUNDS": "4",
    }


def flask(database_url: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", *args],
        input=stdin,
        env=shell_env(database_url),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_first_admin_from_a_shell_signs_in(database_url, client):
    created = flask(
        database_url,
        "users",
        "create",
        ADMIN,
        "--role",
        "admin",
        "--password-stdin",
        stdin=PASSWORD,
    )
    listed = flask(database_url, "users", "list")

    assert created.returncode == 0, created.stderr
    assert created.stdout.startswith("created ")
    assert listed.stdout.split("\t")[1:4] == [ADMIN, "admin", "active"]
    session = sign_in(client, ADMIN, PASSWORD).json
    me = client.get("/auth/me", headers={"Authorization": f"Bearer {session['access_token']}"})
    assert me.json["role"] == "admin"


def test_the_prompt_asks_twice_on_a_terminal(database_url, client):
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi", "users", "create", ADMIN],
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        env=shell_env(database_url),
        cwd=REPO,
    )
    os.close(terminal)
    seen = read_until(controller, b"Password: ")
    os.write(controller, PASSWORD.encode() + b"\n")
    seen += read_until(controller, b"Repeat for confirmation: ")
    os.write(controller, PASSWORD.encode() + b"\n")
    seen += read_until(controller, b"member")

    assert process.wait(timeout=60) == 0
    os.close(controller)
    assert PASSWORD.encode() not in seen
    assert sign_in(client, ADMIN, PASSWORD).status_code == 200


def read_until(fd: int, marker: bytes) -> bytes:
    """Read the terminal's output until MARKER appears (or it closes, or stays silent)."""
    seen = b""
    while marker not in seen:
        if not select.select([fd], [], [], 30)[0]:
            break
        try:
            chunk = os.read(fd, 1024)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    return seen
