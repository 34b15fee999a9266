"""Real server processes for tests: free ports, their environment, the app under gunicorn."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from gunicorn.app.wsgiapp import WSGIApplication
from gunicorn.config import Config

from tests.conftest import JOBS_URL
from tests.conftest import TEST_SECRET

ROOT = Path(__file__).resolve().parent.parent
# The repo's gunicorn.conf.py, as the image runs it; the app module comes last.
GUNICORN = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py"]
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
        "REGISTRATION": "open",
        "RATE_LIMIT_API": "100000 per minute",
        "HOST": "127.0.0.1",
        "PORT": port,
        "WORKER_CLASS": "gthread",
        "WEB_CONCURRENCY": 1,
        "THREADS": 4,
        "DRAIN_SECONDS": 0,
        "GRACEFUL_TIMEOUT": 15,
        "DB_WAIT_TIMEOUT": 10,
        "JOBS_URL": JOBS_URL,
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


Launch = Callable[[list[str], dict[str, str]], Server]


@contextlib.contextmanager
def launching(log_dir: Path) -> Iterator[Launch]:
    """Start processes from the repository root, output in LOG_DIR; kill those left at exit."""
    servers: list[Server] = []

    def launch(args: list[str], env: dict[str, str]) -> Server:
        log_path = log_dir / f"server-{len(servers)}.log"
        with log_path.open("w") as log:
            process = subprocess.Popen(
                args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, text=True
            )
        servers.append(Server(process, log_path, int(env["PORT"])))
        return servers[-1]

    try:
        yield launch
    finally:
        for server in servers:
            if server.process.poll() is None:
                server.process.kill()
            server.process.wait(timeout=10)


def serve_under_gunicorn(
    launch: Launch,
    database_url: str,
    *,
    workers: int = 2,
    threads: int = 4,
    app: str = "wsgi:app",
    ready: str = "/livez",
    **settings: object,
) -> Server:
    """Start APP under gunicorn with the repo's config and SETTINGS; wait until READY answers."""
    env = server_env(
        database_url, free_port(), WEB_CONCURRENCY=workers, THREADS=threads, **settings
    )
    server = launch([*GUNICORN, app], env)
    wait_for(lambda: answers(server, ready), 30, f"gunicorn to answer {ready}")
    return server


def worker_pids(server: Server) -> list[int]:
    """Return the pids of a gunicorn master's worker processes."""
    pid = server.process.pid
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


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
