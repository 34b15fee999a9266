"""Compare gunicorn worker classes on /health and the entries list (127.0.0.1 only, bounded).

    .venv/bin/python -m bench.gunicorn_workers [--seconds 10] [--connections 16]

Needs wrk (Debian package) and a local PostgreSQL; gevent is measured only if importable
(`pip install gevent` into the venv for the run; it is not a dependency of the service).
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import shutil
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg2

from service import create_app
from service.migrate import migrate
from service.migrate import open_database
from tests.conftest import PASSWORD
from tests.conftest import TEST_DATABASE_URL
from tests.conftest import settings
from tests.conftest import with_database
from tests.servers import ROOT
from tests.servers import Server
from tests.servers import answers
from tests.servers import free_port
from tests.servers import server_env
from tests.servers import wait_for

ENTRIES = 50


def admin(sql: str) -> None:
    conn = psycopg2.connect(TEST_DATABASE_URL, connect_timeout=3)
    conn.autocommit = True
    with conn.cursor() as cursor:
        cursor.execute(sql)
    conn.close()


def seed(url: str) -> str:
    """Create a user with ENTRIES entries; return an access token."""
    client = create_app(settings(url, TESTING=False)).test_client()
    email = f"bench-{uuid.uuid4().hex[:8]}@example.com"
    client.post("/auth/register", json={"email": email, "password": PASSWORD})
    token = client.post("/auth/login", json={"email": email, "password": PASSWORD}).json
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    items = [
        {
            "source": "bench",
            "external_id": str(i),
            "date": f"2026-11-{1 + i % 28:02d}T09:00:00Z",
            "duration": 1.25,
            "project": "Apollo",
        }
        for i in range(ENTRIES)
    ]
    assert (
        client.put("/api/entries/bulk", json={"entries": items}, headers=headers).status_code < 300
    )
    return token["access_token"]


def wrk(url: str, seconds: int, connections: int, token: str | None) -> tuple[float, str, str]:
    """Run wrk; return requests/s, mean latency and non-2xx count."""
    args = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    if token:
        args[1:1] = ["-H", f"Authorization: Bearer {token}"]
    out = subprocess.run(
        args, capture_output=True, text=True, check=True, timeout=seconds + 30
    ).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    latency = re.search(r"Latency\s+(\S+)", out).group(1)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rate, latency, errors.group(1) if errors else "0"


def measure(worker_class: str, url: str, token: str, args: argparse.Namespace) -> list[str]:
    port = free_port()
    env = server_env(
        url, port, WORKER_CLASS=worker_class, WEB_CONCURRENCY=2, THREADS=4, MAX_REQUESTS=0
    )
    with (Path("/tmp") / f"bench-{worker_class}.log").open("w") as log:
        process = subprocess.Popen(
            ["gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = Server(process, Path(log.name), port)
    try:
        wait_for(lambda: answers(server, "/readyz"), 30, "gunicorn")
        rows = []
        for path, auth in (("/health", None), ("/api/entries?limit=50", token)):
            rate, latency, errors = wrk(server.url(path), args.seconds, args.connections, auth)
            rows.append(f"| {worker_class} | {path} | {rate:.0f} | {latency} | {errors} |")
        return rows
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is missing: apt-get install -y wrk")
    name = f"tt_bench_{uuid.uuid4().hex[:8]}"
    admin(f'CREATE DATABASE "{name}"')
    try:
        url = with_database(TEST_DATABASE_URL, name)
        migrate(open_database(url))
        token = seed(url)
        classes = ["sync", "gthread"] + (["gevent"] if importlib.util.find_spec("gevent") else [])
        print("| worker | path | req/s | mean latency | non-2xx |\n|---|---|---|---|---|")
        for worker_class in classes:
            print("\n".join(measure(worker_class, url, token, args)), flush=True)
    finally:
        admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
