"""Soak: a bounded run of mixed reads, writes and bulk upserts against gunicorn + PostgreSQL.

    .venv/bin/python -m bench.soak [--seconds 60] [--clients 6] [--workers 2] [--threads 4]

Creates a fresh database on TEST_DATABASE_URL's server (dropped afterwards), migrates it,
serves the app with the repository's gunicorn.conf.py on 127.0.0.1 and drives it from
CLIENTS threads. Reports answers by status, every 5xx, each worker's RSS over time and the
database's pg_stat_activity counts; exits 1 on any 5xx or transport error.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path

import requests

from service.migrate import migrate
from service.migrate import open_database
from tests.conftest import TEST_DATABASE_URL
from tests.conftest import admin_execute
from tests.conftest import with_database
from tests.faults import pg_rows
from tests.faults import sign_up
from tests.servers import Server
from tests.servers import launching
from tests.servers import serve_under_gunicorn
from tests.servers import worker_pids

BULK_SIZE = 200
START = datetime(2026, 1, 1, tzinfo=UTC)


def entry(n: int) -> dict:
    return {
        "date": (START + timedelta(minutes=15 * n)).isoformat(),
        "duration": round(random.uniform(0.25, 8), 2),
        "project": random.choice(["Apollo", "Gemini", "Mercury"]),
    }


class Client:
    """One simulated API client: its own user, session and recently seen entries."""

    def __init__(self, server: Server, statuses: Counter, lock: threading.Lock) -> None:
        self.server = server
        self.session = requests.Session()
        self.session.headers.update(sign_up(server))
        self.statuses = statuses
        self.lock = lock
        self.ids: list[str] = []
        self.source = f"soak{uuid.uuid4().hex[:8]}"

    def call(self, name: str, method: str, path: str, **kwargs) -> requests.Response | None:
        try:
            response = self.session.request(method, self.server.url(path), timeout=30, **kwargs)
        except requests.RequestException as exc:
            with self.lock:
                self.statuses[(name, type(exc).__name__)] += 1
            return None
        with self.lock:
            self.statuses[(name, response.status_code)] += 1
        return response

    def list_page(self) -> None:
        self.call("list", "GET", "/api/entries?limit=50")

    def read_one(self) -> None:
        if self.ids:
            self.call("get", "GET", f"/api/entries/{random.choice(self.ids)}")

    def create(self) -> None:
        response = self.call("create", "POST", "/api/entries", json=entry(random.randrange(9999)))
        if response is not None and response.status_code == 201:
            self.ids = [*self.ids[-50:], response.json()["id"]]

    def patch(self) -> None:
        if not self.ids:
            return
        path = f"/api/entries/{random.choice(self.ids)}"
        current = self.call("get", "GET", path)
        if current is not None and current.status_code == 200:
            headers = {"If-Match": current.headers["ETag"]}
            self.call("patch", "PATCH", path, json={"duration": 1.5}, headers=headers)

    def bulk(self) -> None:
        first = random.randrange(0, 2000, BULK_SIZE)
        items = [
            {**entry(n), "source": self.source, "external_id": str(n)}
            for n in range(first, first + BULK_SIZE)
        ]
        self.call("bulk", "PUT", "/api/entries/bulk", json={"entries": items})

    def health(self) -> None:
        self.call("readyz", "GET", "/readyz")

    def run(self, deadline: float) -> None:
        mix: list[tuple[Callable[[], None], int]] = [
            (self.list_page, 35),
            (self.read_one, 15),
            (self.create, 20),
            (self.patch, 10),
            (self.bulk, 15),
            (self.health, 5),
        ]
        actions, weights = zip(*mix, strict=True)
        while time.monotonic() < deadline:
            random.choices(actions, weights)[0]()


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def connections(url: str) -> dict[str, int]:
    sql = (
        "SELECT coalesce(state, 'none'), count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND pid <> pg_backend_pid() GROUP BY 1"
    )
    return dict(pg_rows(url, sql))


def sample(server: Server, url: str, at: float) -> dict:
    return {
        "t": round(at),
        "rss_kib": {pid: rss_kib(pid) for pid in worker_pids(server)},
        "pg_stat_activity": connections(url),
    }


def soak(url: str, args: argparse.Namespace, log_dir: Path) -> dict:
    with launching(log_dir) as launch:
        server = serve_under_gunicorn(
            launch, url, workers=args.workers, threads=args.threads, LOG_LEVEL="WARNING"
        )
        statuses: Counter = Counter()
        lock = threading.Lock()
        clients = [Client(server, statuses, lock) for _ in range(args.clients)]
        started = time.monotonic()
        samples = [sample(server, url, 0)]
        deadline = started + args.seconds
        threads = [threading.Thread(target=c.run, args=(deadline,)) for c in clients]
        for thread in threads:
            thread.start()
        while time.monotonic() < deadline:
            time.sleep(min(10, max(0.0, deadline - time.monotonic())))
            samples.append(sample(server, url, time.monotonic() - started))
        for thread in threads:
            thread.join()
        samples.append(sample(server, url, time.monotonic() - started))
        return {"statuses": statuses, "samples": samples, "seconds": time.monotonic() - started}


def report(result: dict) -> int:
    statuses: Counter = result["statuses"]
    total = sum(statuses.values())
    failures = {k: v for k, v in statuses.items() if not isinstance(k[1], int) or k[1] >= 500}
    print(f"requests: {total} in {result['seconds']:.0f} s ({total / result['seconds']:.0f}/s)")
    for (name, status), count in sorted(statuses.items(), key=str):
        print(f"  {name:7} {status}: {count}")
    print(f"5xx or transport errors: {sum(failures.values())} {failures or ''}")
    for point in result["samples"]:
        rss = ", ".join(f"{pid}: {kib / 1024:.1f} MiB" for pid, kib in point["rss_kib"].items())
        activity = json.dumps(point["pg_stat_activity"], sort_keys=True)
        print(f"  t={point['t']:>3}s  worker RSS {rss}  pg_stat_activity {activity}")
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, soak a fresh database, print the report."""
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--clients", type=int, default=6)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args(argv)
    name = f"tt_soak_{uuid.uuid4().hex[:12]}"
    admin_execute(f'CREATE DATABASE "{name}"')
    try:
        url = with_database(TEST_DATABASE_URL, name)
        migrate(open_database(url))
        with tempfile.TemporaryDirectory() as tmp:
            result = soak(url, args, Path(tmp))
        return report(result)
    finally:
        admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    sys.exit(main())
