"""Compare gunicorn layouts on the entries list at 32 connections, alone and beside a slow
request (127.0.0.1 only, bounded).

    .venv/bin/python -m bench.gunicorn_workers [--layouts gthread:4x1 sync:4 ...]
                                               [--rounds 5] [--seconds 3]

A layout may carry gunicorn flags after commas, for the measurement only, such as those
the service's settings do not offer: `gthread:2x4,--reuse-port`,
`gthread:2x4,--worker-connections=17` (passed in GUNICORN_CMD_ARGS, which gunicorn reads
after the conf file). `--keep-alive=N` becomes the KEEPALIVE setting instead, because the
conf file derives each worker's connection limit from it: `gthread:2x4,--keep-alive=5`
is the layout this service ran by default until 30 Nov 2026.

Each layout serves the service as `make bench` does (`wsgi:app`, `gunicorn.conf.py`, the
image's settings) from the bench database, which is seeded first when missing. Rounds
interleave the layouts, and a run in which one worker did all the work or a worker was
recycled is run again, as in `make bench`. "Beside a report": one more connection asks for
the report over the full range, by project and week, again as soon as each answer
arrives, while wrk measures the list; real traffic mixes such slow requests in (a report,
an import, a sync waiting on Toggl, a 0.27 s sign-in). Needs wrk and a local PostgreSQL.
"""

from __future__ import annotations

import argparse
import http.client
import re
import statistics
import threading
import time
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from urllib.parse import urlsplit

import orjson

from bench.run import LIST_PATH
from bench.run import REPORT_PATH
from bench.run import REPORT_QUERY
from bench.run import RESULTS
from bench.run import add_shared_args
from bench.run import check_tools
from bench.run import compile_service
from bench.run import login
from bench.run import prepare_database
from bench.run import run_line
from bench.run import service_env
from bench.run import undisturbed_run
from bench.servers import ROOT
from bench.servers import Server

LAYOUT = re.compile(
    r"(?P<kind>gthread|sync|gevent):(?P<workers>[1-9]\d*)(x(?P<threads>[1-9]\d*))?"
    r"(?P<flags>(,--[a-z][a-z-]*(=[\w.:-]+)?)*)"
)
ALONE = "alone"
BESIDE_REPORT = "beside a report"
KEEP_ALIVE_FLAG = "--keep-alive"
# After a failed request the slow connection waits this long, then connects again.
RECONNECT_PAUSE_SECONDS = 0.1


@dataclass(frozen=True)
class Layout:
    """A gunicorn worker class with its process and thread counts, and any extra flags."""

    worker_class: str
    workers: int
    threads: int
    flags: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """Name the layout as the tables do: `gthread 2 x 4`, then its flags."""
        return " ".join((f"{self.worker_class} {self.workers} x {self.threads}", *self.flags))

    def env(self) -> dict[str, str]:
        """Return the settings that give the service this layout."""
        settings = {
            "WORKER_CLASS": self.worker_class,
            "WEB_CONCURRENCY": str(self.workers),
            "THREADS": str(self.threads),
        }
        flags = []
        for flag in self.flags:
            name, _, value = flag.partition("=")
            if name == KEEP_ALIVE_FLAG:
                settings["KEEPALIVE"] = value
            else:
                flags.append(flag)
        return settings | {"GUNICORN_CMD_ARGS": " ".join(flags)}


def parse_layout(text: str) -> Layout:
    """Read CLASS:WORKERSxTHREADS[,--FLAG[=VALUE]...] (`gthread:2x4`, `sync:2`,
    `gthread:2x4,--reuse-port`); only gthread has threads."""
    match = LAYOUT.fullmatch(text)
    if match is None:
        raise argparse.ArgumentTypeError(
            f"{text!r}: write CLASS:WORKERSxTHREADS[,--FLAG[=VALUE]...], as gthread:2x4"
            " or gthread:2x4,--reuse-port"
        )
    threads = int(match["threads"] or 1)
    if match["kind"] != "gthread" and threads != 1:
        raise argparse.ArgumentTypeError(f"{text!r}: only gthread workers run threads")
    flags = tuple(match["flags"].split(",")[1:])
    return Layout(match["kind"], int(match["workers"]), threads, flags)


@dataclass
class Repeating:
    """Ask for one URL over one keep-alive connection, again as each answer arrives.

    A request that fails (the connection dropped, a broken answer) is counted, and the
    next one goes out on a new connection after a short pause.
    """

    url: str
    token: str
    seconds: list[float] = field(default_factory=list)
    failures: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> Repeating:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        parts = urlsplit(self.url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        target = f"{parts.path}?{parts.query}"
        headers = {"Authorization": f"Bearer {self.token}"}
        while not self._stop.is_set():
            started = time.perf_counter()
            try:
                conn.request("GET", target, headers=headers)
                response = conn.getresponse()
                response.read()
            except (OSError, http.client.HTTPException):
                self.failures += 1
                conn.close()
                self._stop.wait(RECONNECT_PAUSE_SECONDS)
                continue
            self.seconds.append(time.perf_counter() - started)
            self.failures += response.status != 200
        conn.close()


def measure(server: Server, token: str, load: str, args) -> dict:
    """Run wrk on the list of SERVER under LOAD; return wrk's figures and the report's."""
    target = {"server": server, "path": LIST_PATH, "token": token}
    if load == ALONE:
        return undisturbed_run(target, args)
    with Repeating(server.url + REPORT_PATH + REPORT_QUERY, token) as report:
        result = undisturbed_run(target, args)
    result["report_p50_ms"] = round(statistics.median(report.seconds or [0.0]) * 1000, 1)
    result["reports"] = len(report.seconds)
    result["report_failures"] = report.failures
    return result


def summary(runs: dict[tuple[str, str], list[dict]]) -> str:
    """Render the medians over the rounds of each layout and load, p99 with its range."""
    lines = [
        "| layout | load | req/s | p50 ms | p90 ms | p99 ms (range) | report p50 ms |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for (name, load), results in runs.items():

        def median(key: str, results: list[dict] = results) -> float:
            return statistics.median(result[key] for result in results)

        p99 = [result["p99_ms"] for result in results]
        report = f"{median('report_p50_ms'):.0f}" if load == BESIDE_REPORT else ""
        lines.append(
            f"| {name} | {load} | {median('rps'):,.0f} | {median('p50_ms'):.1f} "
            f"| {median('p90_ms'):.1f} | {median('p99_ms'):.1f} ({min(p99):.1f}-{max(p99):.1f}) "
            f"| {report} |"
        )
    return "\n".join(lines)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_shared_args(parser)
    parser.add_argument(
        "--layouts",
        nargs="+",
        type=parse_layout,
        default=[parse_layout(text) for text in ("gthread:4x1", "gthread:2x2", "sync:4")],
    )
    parser.add_argument("--rounds", type=int, default=5)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    check_tools()
    compile_service()
    run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    RESULTS.mkdir(parents=True, exist_ok=True)
    args.reuse = True
    url, users, _ = prepare_database(args)
    servers: dict[Layout, Server] = {}
    runs: dict[tuple[str, str], list[dict]] = {
        (layout.name, load): [] for layout in args.layouts for load in (ALONE, BESIDE_REPORT)
    }
    try:
        for layout in args.layouts:
            env = service_env(url, RESULTS / f"prometheus-{len(servers)}") | layout.env()
            server = servers[layout] = Server(f"layout-{len(servers)}", "wsgi:app", env)
            server.start("/livez", RESULTS)
        tokens = {layout: login(server.url, users[0]) for layout, server in servers.items()}
        width = max(len(layout.name) for layout in args.layouts)
        for round_ in range(args.rounds):
            order = args.layouts if round_ % 2 == 0 else args.layouts[::-1]
            for layout in order:
                for load in (ALONE, BESIDE_REPORT):
                    result = measure(servers[layout], tokens[layout], load, args)
                    runs[layout.name, load].append(result)
                    line = f"{layout.name:{width}} {load:16} {run_line(result)}"
                    print(f"  round {round_ + 1} {line}")
    finally:
        for server in servers.values():
            server.stop()
    print()
    print(summary(runs))
    path = RESULTS / f"layouts-{run_id}.json"
    saved = {
        "run": run_id,
        "args": {**vars(args), "layouts": [layout.name for layout in args.layouts]},
        "runs": [{"layout": name, "load": load, "runs": r} for (name, load), r in runs.items()],
    }
    path.write_bytes(orjson.dumps(saved, option=orjson.OPT_INDENT_2))
    print(f"\nsaved {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
