"""Real server processes for tests: free ports, their environment, polling until they answer."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from gunicorn.app.wsgiapp import WSGIApplication
from gunicorn.config import Config

from tests.conftest import TEST_SECRET

ROOT = Path(__file__).resolve().parent.parent
LAYOUT_SETTINGS = ("WORKER_CLASS", "WEB_CONCURRENCY", "THREADS", "KEEPALIVE", "GUNICORN_CMD_ARGS")


def read_by_gunicorn(monkeypatch: pytest.MonkeyPatch, **env: str) -> Config:
    """gunicorn's settings as it reads gunicorn.conf.py, given ENV over the defaults."""
    for name in LAYOUT_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("JWT_SECRET", TEST_SECRET)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr("sys.argv", ["gunicorn", "-c", str(ROOT / "gunicorn.conf.py"), "wsgi:app"])
    return WSGIApplication("%(prog)s [OPTIONS] [APP_MODULE]").cfg


def free_port() -> int:
    """Return a local port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_env(database_url: str, port: int, **extra: object) -> dict[str, str]:
    """The environment of a server under test: this venv first, 127.0.0.1, small and quick.

    One gthread worker with 4 threads serves a test's concurrent requests in one process;
    tests/test_gunicorn_conf.py runs the default sync workers.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "JWT_"))}
    settings = {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        "DATABASE_URL": database_url,
        "JWT_SECRET": TEST_SECRET,
        "BCRYPT_ROUNDS": 4,
        "HOST": "127.0.0.1",
        "PORT": port,
        "WORKER_CLASS": "gthread",
        "WEB_CONCURRENCY": 1,
        "THREADS": 4,
        "DRAIN_SECONDS": 0,
        "GRACEFUL_TIMEOUT": 15,
        "DB_WAIT_TIMEOUT": 10,
        **extra,
    }
    env.update({k: str(v) for k, v in settings.items()})
    return env


@dataclass
class Server:
    """A process started by a test, with its output in a file."""

    process: subprocess.Popen
    log_path: Path
    port: int

    def url(self, path: str) -> str:
        """Return the URL of PATH on this server."""
        return f"http://127.0.0.1:{self.port}{path}"

    def output(self) -> str:
        """Return everything the process printed so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll CONDITION every 0.1 s until it holds; fail after TIMEOUT seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)


def answers(server: Server, path: str, status: int = 200) -> bool:
    """Tell whether the server answers PATH with STATUS now; fail fast if it died."""
    if server.process.poll() is not None:
        raise AssertionError(f"server exited {server.process.returncode}:\n{server.output()}")
    try:
        return requests.get(server.url(path), timeout=5).status_code == status
    except (requests.ConnectionError, requests.Timeout):
        return False
