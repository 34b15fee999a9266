"""Load generators: wrk for request rates and latencies, a bounded Python driver for bulk PUTs."""

from __future__ import annotations

import http.client
import json
import os
import queue
import subprocess
import threading
import time
from pathlib import Path

WRK_SCRIPT = Path(__file__).resolve().parent / "wrk.lua"
MARKER = "BENCH_JSON "


def wrk(url: str, *, seconds: int, connections: int, token: str | None = None) -> dict:
    """Run wrk against URL; return requests/s, p50/p99 in ms and the error counts."""
    env = {**os.environ, "BENCH_TOKEN": token or ""}
    command = [
        "wrk",
        f"-t{min(2, connections)}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "5s",
        "-s",
        str(WRK_SCRIPT),
        url,
    ]
    output = subprocess.run(
        command, env=env, capture_output=True, text=True, check=True, timeout=seconds + 30
    ).stdout
    for line in output.splitlines():
        if line.startswith(MARKER):
            return json.loads(line[len(MARKER) :])
    raise RuntimeError(f"wrk printed no summary:\n{output}")


def put_all(base_url: str, path: str, token: str, bodies: list[bytes], concurrency: int) -> dict:
    """PUT every body once from CONCURRENCY keep-alive connections; return seconds and answers."""
    pending: queue.Queue[bytes] = queue.Queue()
    for body in bodies:
        pending.put(body)
    answers: list[dict] = []
    failures: list[str] = []
    host, port = base_url.removeprefix("http://").split(":")
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def send() -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=60)
        while True:
            try:
                body = pending.get_nowait()
            except queue.Empty:
                break
            conn.request("PUT", path, body=body, headers=headers)
            response = conn.getresponse()
            payload = response.read()
            if response.status != 200:
                failures.append(f"{response.status}: {payload[:200]!r}")
                conn.close()
                conn = http.client.HTTPConnection(host, int(port), timeout=60)
                continue
            answers.append(json.loads(payload))
        conn.close()

    threads = [threading.Thread(target=send) for _ in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    totals = {key: sum(a.get(key, 0) for a in answers) for key in ("created", "updated")}
    return {"seconds": seconds, "failures": failures, **totals}
