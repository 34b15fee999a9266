"""/livez while the service is busy: four syncs against a slow Toggl and two large imports.

    .venv/bin/python -m bench.busy_livez [--admin-url ...]

In a scratch database: the service under gunicorn (the bench's layout), one job worker (its
queue a SQLite file under bench/results/busy/) and a fake Toggl on 127.0.0.1 that answers
each request after SLOW_SECONDS. Four users queue a Toggl sync each while two of them
import a 100,000-row Toggl CSV; meanwhile a probe asks /livez every PROBE_EVERY s on a new
connection, as a kubelet does, until the imports have answered and the jobs have finished.
"""

from __future__ import annotations

import argparse
import http.client
import math
import os
import shutil
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import orjson
import requests
from cryptography.fernet import Fernet

from bench import seed
from bench import table
from bench.import_toggl import admin
from bench.import_toggl import toggl_csv
from bench.servers import IMAGE_ENV
from bench.servers import ROOT
from bench.servers import Server
from bench.servers import service_env

SLOW_SECONDS = 2.0
PROBE_EVERY = 0.02
PROBE_TIMEOUT = 10.0
GIVE_UP_AFTER = 180.0
SYNCS, IMPORTS, IMPORT_ROWS = 4, 2, 100_000
MAX_P99_MS = 50
MEASURE = "/livez p99 ms, 4 syncs + 2 imports running"


def recent_entries(query: dict[str, list[str]]) -> list[dict]:
    """Three finished entries of the last days, of the asked start days if any (v9 shape)."""
    nine = datetime.now(UTC).replace(hour=9, minute=0, second=0, microsecond=0)
    entries = []
    for n in (1, 2, 3):
        start = nine - timedelta(days=n)
        stop = (start + timedelta(hours=1)).isoformat()
        entries.append(
            {"id": n, "workspace_id": 1, "description": f"busy {n}", "start": start.isoformat()}
            | {"stop": stop, "duration": 3600, "at": stop, "server_deleted_at": None}
        )
    if "start_date" in query:
        first, last = query["start_date"][0], query["end_date"][0]
        entries = [e for e in entries if first <= e["start"][:10] < last]
    return entries


class SlowToggl(BaseHTTPRequestHandler):
    """Toggl's `me`, `me/workspaces` (none) and `me/time_entries`, each after SLOW_SECONDS."""

    def do_GET(self) -> None:
        time.sleep(SLOW_SECONDS)
        parts = urlsplit(self.path)
        answers = {"/api/v9/me": lambda: {"id": 1}, "/api/v9/me/workspaces": list}
        answers["/api/v9/me/time_entries"] = lambda: recent_entries(parse_qs(parts.query))
        found = answers.get(parts.path)
        body = orjson.dumps(found() if found else "not found")
        self.send_response(200 if found else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        """Stay quiet."""


def probe(port: int, stop: threading.Event, result: dict) -> None:
    """Ask /livez every PROBE_EVERY s until STOP; keep each latency, count the failures."""
    while not stop.is_set():
        began = time.perf_counter()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=PROBE_TIMEOUT)
        try:
            conn.request("GET", "/livez")
            response = conn.getresponse()
            response.read()
            ok = response.status == 200
        except OSError:
            ok = False
        finally:
            conn.close()
        took = time.perf_counter() - began
        result["latencies_ms"].append(round(took * 1000, 2))
        result["failures"] += not ok
        stop.wait(max(0.0, PROBE_EVERY - took))


def signed_in(base: str, n: int) -> dict[str, str]:
    """Register user N, store a Toggl integration for it; return its auth header."""
    account = {"email": f"busy-{n}@example.com", "password": "correct horse battery"}
    requests.post(f"{base}/auth/register", json=account, timeout=30).raise_for_status()
    answer = requests.post(f"{base}/auth/login", json=account, timeout=30)
    headers = {"Authorization": f"Bearer {answer.json()['access_token']}"}
    body = {"api_token": f"token-{n}"}
    answer = requests.put(f"{base}/api/integrations/toggl", json=body, headers=headers, timeout=30)
    answer.raise_for_status()
    return headers


def upload(base: str, headers: dict[str, str], data: bytes, imports: list[dict]) -> None:
    """POST one import; keep its status (0: no answer), rows created and seconds."""
    began, files = time.monotonic(), {"file": ("toggl.csv", data, "text/csv")}
    try:
        answer = requests.post(
            f"{base}/api/imports", files=files, headers=headers, timeout=GIVE_UP_AFTER
        )
        status, created = answer.status_code, answer.json().get("created")
    except (requests.RequestException, ValueError):
        status, created = 0, None
    imports.append({"status": status, "created": created, "seconds": time.monotonic() - began})


def load(base: str, port: int) -> dict:
    """Queue the syncs, start the imports, probe until all are done (or GIVE_UP_AFTER)."""
    users = [signed_in(base, n) for n in range(SYNCS)]
    data = toggl_csv(IMPORT_ROWS, email="")
    result: dict = {"latencies_ms": [], "failures": 0, "imports": [], "jobs": []}
    stop = threading.Event()
    prober = threading.Thread(target=probe, args=(port, stop, result))
    prober.start()
    began = time.monotonic()
    try:
        jobs = {}
        for headers in users:
            answer = requests.post(f"{base}/api/sync/toggl", headers=headers, timeout=30)
            answer.raise_for_status()
            jobs[answer.json()["id"]] = headers
        for headers in users[:IMPORTS]:
            args = (base, headers, data, result["imports"])
            threading.Thread(target=upload, args=args, daemon=True).start()
        while jobs or len(result["imports"]) < IMPORTS:
            if time.monotonic() - began > GIVE_UP_AFTER:
                result["gave_up"] = True
                break
            time.sleep(0.5)
            for job_id, headers in list(jobs.items()):
                job = requests.get(f"{base}/api/jobs/{job_id}", headers=headers, timeout=30).json()
                if job["state"] in ("succeeded", "failed"):
                    result["jobs"].append({key: job[key] for key in ("state", "counts", "error")})
                    del jobs[job_id]
    finally:
        result["seconds"] = time.monotonic() - began
        stop.set()
        prober.join()
    return result


def measure(admin_url: str, results: Path) -> dict:
    """Serve a scratch database with a worker beside a slow fake Toggl, load it, clean up."""
    folder = results / "busy"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    name = f"tt_busy_{uuid.uuid4().hex[:10]}"
    admin(admin_url, f'CREATE DATABASE "{name}"')
    fake = ThreadingHTTPServer(("127.0.0.1", 0), SlowToggl)
    threading.Thread(target=fake.serve_forever, daemon=True).start()
    env = service_env(seed.with_database(admin_url, name), folder / "prometheus") | {
        "INTEGRATIONS_KEY": Fernet.generate_key().decode(),
        "JOBS_URL": f"sqlite:///{folder / 'jobs.db'}",
        "TOGGL_API_URL": f"http://127.0.0.1:{fake.server_port}",
        # Its users sign themselves up.
        "REGISTRATION": "open",
    }
    full_env = {**os.environ, **IMAGE_ENV, **env}
    service, worker = Server("service", "wsgi:app", env), None
    try:
        command = [sys.executable, "-m", "service.migrate"]
        subprocess.run(command, cwd=ROOT, env=full_env, check=True, capture_output=True)
        service.start("/livez", folder)
        worker = subprocess.Popen(
            [sys.executable, "-m", "service.worker"],
            cwd=ROOT,
            env=full_env,
            stdout=subprocess.DEVNULL,
            stderr=(folder / "worker.log").open("wb"),
        )
        return load(service.url, service.port)
    except (OSError, RuntimeError, LookupError, ValueError, subprocess.SubprocessError) as exc:
        return {"skipped": f"{type(exc).__name__}: {exc}"[:300]}
    finally:
        if worker is not None:
            worker.terminate()
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
        service.stop()
        fake.shutdown()
        fake.server_close()
        admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def percentile(values: list[float], share: float) -> float:
    """Return the nearest-rank percentile: the least value with SHARE % of VALUES at or below."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share / 100 * len(ordered)) - 1)]


def row(result: dict) -> table.Row:
    """Hold the probes' p99 to MAX_P99_MS; a failed probe, import or sync fails the row."""
    if "skipped" in result:
        return table.skipped_row(MEASURE, result["skipped"])
    latencies = result["latencies_ms"]
    p99 = percentile(latencies, 99)
    problems = [
        f"an import answered {i['status']}" for i in result["imports"] if i["status"] != 200
    ]
    problems += [
        f"a sync failed: {j['error']}" for j in result["jobs"] if j["state"] != "succeeded"
    ]
    if result.get("gave_up"):
        problems.append(f"gave up after {GIVE_UP_AFTER:.0f} s")
    if result["failures"]:
        problems.append(f"{result['failures']} probes failed")
    note = f"max {max(latencies):,.0f} ms; {len(latencies)} probes in {result['seconds']:.0f} s"
    passed = p99 <= MAX_P99_MS and not problems
    return table.Row(
        MEASURE, p99, target=f"<= {MAX_P99_MS}", passed=passed, note="; ".join([note, *problems])
    )


def main() -> None:
    """Measure once and print the row."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    results = ROOT / "bench" / "results"
    result = measure(args.admin_url, results)
    print(orjson.dumps({k: v for k, v in result.items() if k != "latencies_ms"}).decode())
    print(table.render([row(result)]))


if __name__ == "__main__":
    main()
