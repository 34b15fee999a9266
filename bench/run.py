"""`make bench`: seed PostgreSQL, serve the service and its ceilings, measure, print, save.

Every figure is paired with a ceiling measured in the same run, interleaved repeat by
repeat, so the ratios hold on a shared, noisy machine. docs/benchmarks.md has the method.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC
from datetime import datetime
from pathlib import Path

import orjson

from bench import busy_livez
from bench import seed
from bench import table
from bench.load import put_all
from bench.load import wrk
from bench.servers import ROOT
from bench.servers import Server
from bench.servers import service_env
from service.config import ConfigError
from service.config import server_settings

RESULTS = ROOT / "bench" / "results"
IMPORT_LINE = re.compile(
    r"^(first import|same file again|COPY of the same rows): ([0-9.]+) s", re.MULTILINE
)
REPORT_PATH = "/api/reports/summary?from=2024-01-01T00:00:00Z&to=2027-01-01T00:00:00Z"
REPORT_QUERY = "&group_by=project,week"
ORG_REPORT_QUERY = "&all=true&group_by=user,month"
WEEK = f"from={seed.WEEK_FROM.isoformat()}&to={seed.WEEK_TO.isoformat()}".replace("+", "%2B")
LIST_PATH = f"/api/entries?{WEEK}&limit=50"
BULK_BATCH = 1000
# A run where one worker used more than this share of the workers' CPU is run again.
LOPSIDED_SHARE = 0.9
# On a fast machine lopsided runs are common (wrk's connections land where the kernel
# puts them), so a disturbed run gets several more tries before it is kept as it is.
DISTURBED_RERUNS = 5
# Each figure and the ceilings it is divided by, measured back to back.
PAIRED = (
    ("livez", "bare_wsgi", "bare_flask"),
    ("health", "select1"),
    ("entries", "psycopg_list"),
    ("team_entries", "psycopg_team_list"),
)
# The measures besides the wrk targets, which --only may also name.
STEPS = ("import", "bulk", "busy")
# The team whose list is measured (not the first user's: its people hold even shares).
LISTED_TEAM = 1


def add_shared_args(parser: argparse.ArgumentParser) -> None:
    """Add the seed's and wrk's knobs, shared with the other bench scripts."""
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--database", default="tt_bench")
    parser.add_argument("--entries", type=int, default=2_000_000)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=3, help="length of each wrk run")
    parser.add_argument("--connections", type=int, default=32)


def parse_args() -> argparse.Namespace:
    """Read the bench's knobs (the defaults are what `make bench` runs)."""
    parser = argparse.ArgumentParser(description=__doc__)
    add_shared_args(parser)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--bulk-rows", type=int, default=100_000)
    parser.add_argument("--bulk-concurrency", type=int, default=2)
    parser.add_argument("--reuse", action="store_true", help="keep an already seeded database")
    parser.add_argument(
        "--only",
        type=lambda text: text.split(","),
        help="comma-separated wrk targets (with their ceilings) and steps (import, bulk, busy) "
        "to run, e.g. org_report,team_entries; default: all",
    )
    return parser.parse_args()


def prepare_database(args: argparse.Namespace) -> tuple[str, list[dict], float | None]:
    """Return the bench database URL and its users, seeding it unless --reuse finds it."""
    url = seed.with_database(args.admin_url, args.database)
    if args.reuse:
        users = seed.existing_users(url)
        if users:
            removed = seed.remove_run_entries(url)
            print(f"  reusing the seed; removed {removed:,} entries earlier runs added", flush=True)
            return url, users, None
    url = seed.recreate_database(args.admin_url, args.database)
    users = seed.insert_users(url, args.users)
    started = time.perf_counter()
    seed.seed_entries(url, users, args.entries)
    return url, users, time.perf_counter() - started


def start_servers(url: str, first_user: str, log_dir: Path) -> dict[str, Server]:
    """Start the service and every ceiling under the same gunicorn config."""
    # gunicorn.conf.py checks the app's settings before it serves anything, ceilings too.
    settings = {"JWT_SECRET": secrets.token_urlsafe(48)}
    ceiling_env = {**settings, "BENCH_DATABASE_URL": url}
    servers = {
        "service": (
            Server("service", "wsgi:app", service_env(url, log_dir / "prometheus")),
            "/livez",
        ),
        "bare_wsgi": (Server("bare_wsgi", "bench.ceilings.bare_wsgi:app", settings), "/livez"),
        "bare_flask": (Server("bare_flask", "bench.ceilings.bare_flask:app", settings), "/livez"),
        "select1": (
            Server("select1", "bench.ceilings.flask_select1:app", ceiling_env),
            "/health",
        ),
        "psycopg_list": (
            Server("psycopg_list", "bench.ceilings.psycopg_list:app", ceiling_env),
            f"{LIST_PATH}&user={first_user}",
        ),
    }
    started = {}
    try:
        for name, (server, probe) in servers.items():
            server.start(probe, log_dir)
            started[name] = server
    except Exception:
        for server in started.values():
            server.stop()
        raise
    return started


def login(base_url: str, user: dict) -> str:
    """Log USER in over HTTP and return the access token."""
    body = json.dumps({"email": user["email"], "password": user["password"]}).encode()
    request = urllib.request.Request(
        base_url + "/auth/login", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())["access_token"]


def http_status(url: str, token: str) -> int:
    """Return the status of one GET with the token."""
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def http_targets(servers: dict[str, Server], users: list[dict], tokens: dict) -> dict[str, dict]:
    """Name every wrk target: URL, token and connections (None: the run's default).

    TOKENS holds the first user's ("admin") and the listed team's manager's ("manager").
    """
    service, token = servers["service"], tokens["admin"]
    team = listed_team(users)["team"]
    return {
        "livez": {"server": service, "path": "/livez"},
        "bare_wsgi": {"server": servers["bare_wsgi"], "path": "/livez"},
        "bare_flask": {"server": servers["bare_flask"], "path": "/livez"},
        "health": {"server": service, "path": "/health"},
        "select1": {"server": servers["select1"], "path": "/health"},
        "entries": {"server": service, "path": LIST_PATH, "token": token},
        "psycopg_list": {
            "server": servers["psycopg_list"],
            "path": f"{LIST_PATH}&user={users[0]['id']}",
        },
        "team_entries": {
            "server": service,
            "path": f"{LIST_PATH}&team={team}",
            "token": tokens["manager"],
        },
        "psycopg_team_list": {
            "server": servers["psycopg_list"],
            "path": f"{LIST_PATH}&team={team}",
        },
        "report": {
            "server": service,
            "path": REPORT_PATH + REPORT_QUERY,
            "token": token,
            "connections": 1,
        },
        "org_report": {
            "server": service,
            "path": REPORT_PATH + ORG_REPORT_QUERY,
            "token": token,
            "connections": 1,
        },
    }


def listed_team(users: list[dict]) -> dict:
    """Return the manager of the team whose list is measured (their `team` names it)."""
    team = users[LISTED_TEAM * seed.TEAM_SIZE]["team"]
    return next(u for u in users if u["team"] == team and u["role"] == "manager")


def selected(targets: dict[str, dict], only: list[str] | None) -> dict[str, dict]:
    """Keep the targets ONLY names and the ceilings they are paired with (all without ONLY)."""
    if not only:
        return targets
    wanted = set(only)
    for group in PAIRED:
        if wanted & set(group):
            wanted |= set(group)
    return {name: target for name, target in targets.items() if name in wanted}


def runs_step(args: argparse.Namespace, step: str) -> bool:
    """Tell whether the run includes STEP (import, bulk, busy)."""
    return not args.only or step in args.only


def measure_http(targets: dict[str, dict], args: argparse.Namespace) -> dict[str, list[dict]]:
    """Warm every target up, then run wrk on each, interleaved, --repeats times.

    A disturbed run is kept in the JSON and run again, at most DISTURBED_RERUNS times, for
    the service and the ceilings alike: one in which one worker did nearly all the work
    (wrk's connections all landed on it) measures the kernel's accept order, one in which
    a worker was recycled (MAX_REQUESTS) measures a worker's start, not the app.
    """
    runs: dict[str, list[dict]] = {name: [] for name in targets}
    for target in targets.values():
        wrk(url_of(target), seconds=1, connections=4, token=target.get("token"))
    for repeat, name in schedule(list(targets), args.repeats):
        result = undisturbed_run(targets[name], args)
        runs[name].append(result)
        print(f"  repeat {repeat + 1} {name:13} {run_line(result)}", flush=True)
    return runs


def run_line(result: dict) -> str:
    """Describe one wrk run on one line: rate, latencies and why it was run again."""
    reruns = f"  (reruns: {', '.join(result['reruns'])})" if result["reruns"] else ""
    return (
        f"{result['rps']:9.1f} req/s  p50 {result['p50_ms']:7.2f}  p90 {result['p90_ms']:7.2f}"
        f"  p99 {result['p99_ms']:7.2f} ms{reruns}"
    )


def schedule(names: list[str], repeats: int) -> list[tuple[int, str]]:
    """Return (repeat, target) in the order the runs happen.

    A figure and its ceilings run back to back, the figure first in even repeats and last
    in odd ones: the first run after another group's load is the slower, so figure and
    ceiling pay for it equally often. Targets without a ceiling (the report) run after
    every pair, so their load precedes no pair.
    """
    groups = [[name for name in group if name in names] for group in PAIRED]
    paired = {name for group in groups for name in group}
    order = [
        (repeat, name)
        for repeat in range(repeats)
        for group in groups
        for name in (group if repeat % 2 == 0 else group[::-1])
    ]
    alone = [name for name in names if name not in paired]
    return order + [(repeat, name) for repeat in range(repeats) for name in alone]


def url_of(target: dict) -> str:
    """Return the full URL of a wrk target."""
    return target["server"].url + target["path"]


def undisturbed_run(target: dict, args: argparse.Namespace) -> dict:
    """Run wrk on TARGET; run it again while the run was disturbed (see above)."""
    server, connections = target["server"], target.get("connections") or args.connections
    disturbed: list[dict] = []
    while True:
        before = server.worker_cpu_seconds()
        result = wrk(
            url_of(target), seconds=args.seconds, connections=connections, token=target.get("token")
        )
        after = server.worker_cpu_seconds()
        result["worker_cpu_s"] = [round(seconds, 2) for seconds in cpu_used(before, after)]
        result["disturbance"] = disturbance(before, after, connections)
        if result["disturbance"] is None or len(disturbed) == DISTURBED_RERUNS:
            result["reruns"] = [run["disturbance"] for run in disturbed]
            result["disturbed_runs"] = disturbed
            return result
        disturbed.append(result)


def cpu_used(before: dict[int, float], after: dict[int, float]) -> list[float]:
    """Return the CPU seconds each worker present at both readings used in between."""
    return [after[pid] - before[pid] for pid in before if pid in after]


def disturbance(before: dict[int, float], after: dict[int, float], connections: int) -> str | None:
    """Name what disturbed a run: a worker recycled, one worker doing it all, or None."""
    if set(before) != set(after):
        return "recycled"
    used = cpu_used(before, after)
    if connections > 1 and len(used) > 1 and max(used) > LOPSIDED_SHARE * sum(used):
        return "lopsided"
    return None


def bulk_bodies(prefix: str, rows: int, bump: float = 0.0) -> list[bytes]:
    """Build PUT bodies of BULK_BATCH entries keyed bench/PREFIX<n>; BUMP changes durations."""
    step = seed.SEED_DAYS * 86400 / rows
    bodies = []
    for start in range(0, rows, BULK_BATCH):
        items = []
        for n in range(start, min(start + BULK_BATCH, rows)):
            e = seed.entry(n, step)
            items.append(
                {
                    "date": e["date"].isoformat().replace("+00:00", "Z"),
                    "duration": e["duration"] + bump,
                    "project": e["project"],
                    "description": e["description"],
                    "source": "bench",
                    "external_id": f"{prefix}{n}",
                }
            )
        bodies.append(orjson.dumps({"entries": items}))
    return bodies


def measure_bulk(url: str, service: Server, users, token, args, run_id) -> dict[str, list]:
    """Per repeat: COPY the rows (ceiling), PUT them as new keys, then PUT them changed."""
    runs: dict[str, list] = {"copy": [], "bulk_new": [], "bulk_existing": []}
    step = seed.SEED_DAYS * 86400 / args.bulk_rows
    for repeat in range(args.repeats):
        prefix = f"{run_id}-{repeat}-"
        lines = seed.copy_lines(users[1]["id"], "copy", prefix, args.bulk_rows, step)
        runs["copy"].append({"rows_per_s": args.bulk_rows / seed.copy_entries(url, lines)})
        for name, bump in (("bulk_new", 0.0), ("bulk_existing", 0.25)):
            bodies = bulk_bodies(prefix, args.bulk_rows, bump)
            answer = put_all(service.url, "/api/entries/bulk", token, bodies, args.bulk_concurrency)
            answer["rows_per_s"] = args.bulk_rows / answer["seconds"]
            runs[name].append(answer)
            print(
                f"  repeat {repeat + 1} {name:13} {answer['rows_per_s']:9.0f} rows/s  "
                f"(created {answer['created']}, updated {answer['updated']}, "
                f"failures {len(answer['failures'])}); COPY "
                f"{runs['copy'][-1]['rows_per_s']:.0f} rows/s",
                flush=True,
            )
    return runs


def measure_import(admin_url: str, repeats: int) -> dict:
    """Run bench/import_toggl.py: 100,000 Toggl CSV rows end to end, and COPY of them.

    The script imports into a scratch database through the app in-process, REPEATS times;
    each repeat prints "first import: <seconds> s wall ...", "same file again: ..." and
    "COPY of the same rows: ...". Every repeat is kept.
    """
    command = [sys.executable, "-m", "bench.import_toggl", "--admin-url", admin_url]
    command += ["--repeats", str(repeats)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900)
    runs = import_runs(done.stdout)
    if done.returncode != 0 or len(runs) < repeats:
        return {"skipped": f"bench/import_toggl.py failed: {done.stderr.strip()[-300:]}"}
    return {"runs": runs, "output": done.stdout}


def import_runs(output: str) -> list[dict[str, float]]:
    """Read the repeats the import script printed, each with its three timings."""
    names = {
        "first import": "seconds",
        "same file again": "again_seconds",
        "COPY of the same rows": "copy_seconds",
    }
    runs: list[dict[str, float]] = []
    for label, seconds in IMPORT_LINE.findall(output):
        if label == "first import":
            runs.append({})
        runs[-1][names[label]] = float(seconds)
    return [run for run in runs if len(run) == len(names)]


IMPORT_MEASURE = "Toggl CSV import 100k rows s vs COPY"
# The bound on a summary's p50, on one connection.
REPORT_MAX_MS = 300
# The target: an import takes at most twice as long as COPY of the same rows.
IMPORT_MAX_COPY_RATIO = 2


def import_row(imported: dict) -> table.Row:
    """Compare each repeat's import time with its own COPY of the same rows.

    Lower is better here, so the ratio is import seconds over COPY seconds, the median of
    the per-repeat ratios, and it passes at IMPORT_MAX_COPY_RATIO or below.
    """
    if "skipped" in imported:
        return table.skipped_row(IMPORT_MEASURE, imported["skipped"])
    runs = imported["runs"]
    ratios = [run["seconds"] / run["copy_seconds"] for run in runs]
    ratio = statistics.median(ratios)
    again = statistics.median(run["again_seconds"] for run in runs)
    return table.Row(
        IMPORT_MEASURE,
        statistics.median(run["seconds"] for run in runs),
        statistics.median(run["copy_seconds"] for run in runs),
        ratio,
        f"{min(ratios):.2f}-{max(ratios):.2f}",
        f"<= {IMPORT_MAX_COPY_RATIO}x COPY",
        ratio <= IMPORT_MAX_COPY_RATIO,
        f"median of {len(runs)}; the same file again {again:.2f} s",
    )


def build_rows(
    http: dict, bulk: dict | None, imported: dict | None, rss: dict, skips: dict, busy: dict | None
) -> list[table.Row]:
    """Compare every figure that ran with its ceiling or bound, in the order of the table."""
    rows = []
    if "livez" in http:
        rows += [
            table.ratio_row("/livez req/s vs bare Flask", http, "livez", "bare_flask", "rps", 0.9),
            table.ratio_row("/livez req/s vs bare WSGI", http, "livez", "bare_wsgi", "rps"),
        ]
    if "health" in http:
        rows.append(
            table.ratio_row(
                "/health req/s vs Flask+pool SELECT 1", http, "health", "select1", "rps", 0.9
            )
        )
    if "entries" in http:
        rows += list_rows(http)
    if "team_entries" in http:
        rows.append(
            table.ratio_row(
                "GET /api/entries?team= req/s vs psycopg2+dicts",
                http,
                "team_entries",
                "psycopg_team_list",
                "rps",
                0.8,
            )
        )
    for name, measure, entries in (
        ("report", "report summary p50 ms (1 conn)", http.get("report_entries")),
        ("org_report", "org-wide summary by user,month p50 ms (1 conn)", http.get("org_entries")),
    ):
        if name in http or name in skips:
            rows.append(report_row(measure, http.get(name), skips.get(name), entries))
    if bulk is not None:
        rows += [
            table.ratio_row(
                "bulk PUT new keys rows/s vs COPY", bulk, "bulk_new", "copy", "rows_per_s", 0.45
            ),
            table.ratio_row(
                "bulk PUT existing keys rows/s vs COPY",
                bulk,
                "bulk_existing",
                "copy",
                "rows_per_s",
                0.45,
            ),
        ]
    if imported is not None:
        rows.append(import_row(imported))
    rows.append(
        table.limit_row(
            "worker RSS MiB after the run (max)",
            max(rss["end"]),
            60,
            note=f"at start {max(rss['start'])}",
        )
    )
    if busy is not None:
        rows.append(busy_livez.row(busy))
    return rows


def list_rows(http: dict) -> list[table.Row]:
    """The single-user list against its ceiling, and its p99."""
    entries_p99 = statistics.median(run["p99_ms"] for run in http["entries"])
    ceiling_p99 = statistics.median(run["p99_ms"] for run in http["psycopg_list"])
    return [
        table.ratio_row(
            "GET /api/entries req/s vs psycopg2+dicts", http, "entries", "psycopg_list", "rps", 0.8
        ),
        table.limit_row(
            f"GET /api/entries p99 ms @{http['connections']}",
            entries_p99,
            30,
            note=f"psycopg2 ceiling p99 {ceiling_p99:.0f} ms",
        ),
    ]


def report_row(measure: str, runs: list[dict] | None, skip: str | None, entries: int) -> table.Row:
    """Hold a report's p50 on one connection to REPORT_MAX_MS; a run that finished no
    request fails it."""
    if skip:
        return table.skipped_row(measure, skip)
    finished = [run for run in runs if run["requests"]]
    if len(finished) < len(runs):
        note = "a run finished no request within the 5 s wrk timeout"
        return table.Row(measure, None, target=f"<= {REPORT_MAX_MS}", passed=False, note=note)
    p50 = statistics.median(run["p50_ms"] for run in finished)
    return table.limit_row(measure, p50, REPORT_MAX_MS, note=f"over {entries:,} entries")


def measure_service(url: str, users: list[dict], args: argparse.Namespace, run_id: str):
    """Serve the service and its ceilings; run wrk, the import and the bulk upserts.

    Return the wrk runs, bulk runs, import runs (None when not run), the workers' RSS and
    why a report target was skipped.
    """
    servers = start_servers(url, users[0]["id"], RESULTS)
    try:
        service = servers["service"]
        tokens = {
            "admin": login(service.url, users[0]),
            "manager": login(service.url, listed_team(users)),
        }
        rss_start = service.worker_rss_mib()
        targets = selected(http_targets(servers, users, tokens), args.only)
        skips = {}
        for name in ("report", "org_report"):
            if name in targets:
                status = http_status(url_of(targets[name]), targets[name]["token"])
                if status != 200:
                    skips[name] = f"/api/reports/summary answered {status}"
                    del targets[name]
        http = measure_http(targets, args)
        http["connections"] = args.connections
        http["report_entries"] = seed.shares(args.entries, len(users))[0]
        http["org_entries"] = args.entries
        # Before the bulk upserts, whose dead rows autovacuum would clean up meanwhile.
        imported = (
            measure_import(args.admin_url, args.repeats) if runs_step(args, "import") else None
        )
        bulk = None
        if runs_step(args, "bulk"):
            bulk = measure_bulk(url, service, users, tokens["admin"], args, run_id)
        rss = {"start": rss_start, "end": service.worker_rss_mib()}
    finally:
        for server in servers.values():
            server.stop()
    return http, bulk, imported, rss, skips


def gunicorn_layout() -> dict[str, object]:
    """Return the worker class, counts and keep-alive every server will run, as the
    settings resolve them from the environment (a layout gunicorn cannot run stops the
    bench here), and the flags GUNICORN_CMD_ARGS adds over the conf file ("" for none)."""
    try:
        settings = server_settings()
    except ConfigError as exc:
        sys.exit(f"bench: {exc}")
    names = ("WORKER_CLASS", "WEB_CONCURRENCY", "THREADS", "KEEPALIVE")
    layout = {name: settings[name] for name in names}
    return layout | {"GUNICORN_CMD_ARGS": os.environ.get("GUNICORN_CMD_ARGS", "").strip()}


def check_tools() -> None:
    """Stop early, with the fix, when wrk is missing."""
    if shutil.which("wrk") is None:
        sys.exit("make bench needs wrk (Debian package): apt-get install -y wrk")


def compile_service() -> None:
    """Byte-compile the service as pip does in the image.

    The editable install leaves it as source; where PYTHONDONTWRITEBYTECODE is set, every
    worker would compile all of it at start and measure more memory than the image's.
    """
    compileall.compile_dir(ROOT / "service", quiet=1)


def stop_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit, so the servers are stopped on the way out."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("bench: terminated"))


def main() -> None:
    """Seed, serve, measure, print the table and save the JSON."""
    args = parse_args()
    stop_on_sigterm()
    check_tools()
    compile_service()
    run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    RESULTS.mkdir(parents=True, exist_ok=True)
    layout = gunicorn_layout()
    print(
        f"bench {run_id}: database {args.database}, {args.entries:,} entries, "
        f"{layout['WORKER_CLASS']} {layout['WEB_CONCURRENCY']} x {layout['THREADS']}, "
        f"keep-alive {layout['KEEPALIVE']} s"
        + (f" {layout['GUNICORN_CMD_ARGS']}" if layout["GUNICORN_CMD_ARGS"] else ""),
        flush=True,
    )
    url, users, seeded = prepare_database(args)
    if seeded is not None:
        print(f"  seeded in {seeded:.1f} s", flush=True)
    http, bulk, imported, rss, skips = measure_service(url, users, args, run_id)
    busy = None
    if runs_step(args, "busy"):
        # On its own service, worker and scratch database, with the bench's servers stopped.
        busy = busy_livez.measure(args.admin_url, RESULTS)
        print(f"  busy /livez: {busy_livez.row(busy).note}", flush=True)
    rows = build_rows(http, bulk, imported, rss, skips, busy)
    print()
    print(table.render(rows))
    result = {
        "run": run_id,
        "args": vars(args),
        "gunicorn": layout,
        "seed_seconds": seeded,
        "rows": [row.__dict__ for row in rows],
        "http": http,
        "bulk": bulk,
        "import": imported,
        "worker_rss_mib": rss,
        "busy_livez": busy,
    }
    path = RESULTS / f"bench-{run_id}.json"
    path.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    print(f"\nsaved {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
