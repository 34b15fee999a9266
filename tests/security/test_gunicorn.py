"""gunicorn refuses oversized request lines and headers before the application sees them."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from service.migrate import migrate
from service.migrate import open_database
from tests.conftest import TEST_SECRET

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def status_line(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request)
        return sock.recv(200).split(b"\r\n")[0]


@pytest.fixture(scope="module")
def gunicorn_port(tmp_path_factory):
    """Run the app under gunicorn with the project's config; yield its port."""
    url = f"sqlite:///{tmp_path_factory.mktemp('gunicorn') / 'app.db'}"
    migrate(open_database(url))
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "JWT_SECRET": TEST_SECRET,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "WEB_CONCURRENCY": "1",
    }
    command = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"]
    server = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if status_line(port, b"GET /livez HTTP/1.1\r\nHost: t\r\n\r\n").endswith(b"200 OK"):
                break
        except OSError:
            time.sleep(0.2)
    yield port
    server.terminate()
    server.wait(timeout=10)


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET /livez HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n", b"431"),
        (b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: t\r\n\r\n", b"414"),
        (
            b"GET /livez HTTP/1.1\r\nHost: t\r\n"
            + b"".join(b"X-%d: y\r\n" % i for i in range(60))
            + b"\r\n",
            b"431",
        ),
        (b"GET /livez HTTP/1.1\r\nHost: t\r\n\r\n", b"200"),
    ],
)
def test_request_line_and_header_limits(gunicorn_port, request_bytes, status):
    assert status_line(gunicorn_port, request_bytes).split(b" ")[1] == status
