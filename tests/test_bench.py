"""The bench reruns a wrk run that measured the machine's accident, not the app, and a
reused bench database is measured at its seeded size."""

from __future__ import annotations

import psycopg2
import psycopg2.extensions
import pytest

from bench import seed
from bench.busy_livez import percentile
from bench.busy_livez import recent_entries
from bench.busy_livez import row as busy_row
from bench.run import disturbance
from bench.run import gunicorn_layout
from bench.run import import_row
from bench.run import import_runs
from bench.run import schedule
from bench.run import selected
from service.migrate import migrate
from service.migrate import open_database


@pytest.mark.parametrize(
    ("before", "after", "connections", "expected"),
    [
        ({1: 0.0, 2: 0.0}, {1: 2.6, 2: 2.8}, 32, None),
        ({1: 0.0, 2: 0.0}, {1: 3.2, 2: 0.1}, 32, "lopsided"),
        ({1: 0.0, 2: 0.0}, {1: 3.2, 3: 0.9}, 32, "recycled"),
        ({1: 0.0, 2: 0.0}, {1: 3.2}, 32, "recycled"),
        ({1: 0.0, 2: 0.0}, {1: 3.0, 2: 0.0}, 1, None),
        ({1: 0.0}, {1: 3.0}, 32, None),
    ],
    ids=[
        "balanced",
        "one-worker-did-it-all",
        "worker-replaced",
        "worker-gone",
        "one-conn",
        "one-worker",
    ],
)
def test_a_run_is_disturbed_when_a_worker_was_recycled_or_one_worker_took_every_connection(
    before, after, connections, expected
):
    assert disturbance(before, after, connections) == expected


@pytest.fixture
def blocking_psycopg2():
    """psycopg2 as the bench scripts run it: COPY is refused while an app's pool has put
    psycopg2 in its green mode, which is process-wide."""
    previous = psycopg2.extensions.get_wait_callback()
    psycopg2.extensions.set_wait_callback(None)
    yield
    psycopg2.extensions.set_wait_callback(previous)


@pytest.mark.usefixtures("blocking_psycopg2")
def test_a_reused_bench_database_drops_what_earlier_runs_added(fresh_postgres_database):
    url = fresh_postgres_database()
    migrate(open_database(url))
    users = seed.insert_users(url, 2)
    seed.seed_entries(url, users, 10)
    seed.copy_entries(url, seed.copy_lines(users[1]["id"], "bench", "run-", 5, 60.0))

    removed = seed.remove_run_entries(url)
    removed_again = seed.remove_run_entries(url)

    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT source, count(*) FROM time_entries GROUP BY source")
            left = dict(cursor.fetchall())
    finally:
        conn.close()
    assert (removed, removed_again) == (5, 0)
    assert left == {"seed": 10}


def test_each_figure_and_its_ceilings_take_turns_running_first_and_the_report_comes_last():
    names = ["livez", "bare_wsgi", "bare_flask", "health", "select1", "entries"]
    names += ["psycopg_list", "report"]

    runs = schedule(names, repeats=2)

    first, second = ([name for repeat, name in runs if repeat == r] for r in (0, 1))
    assert first[:3] == ["livez", "bare_wsgi", "bare_flask"]
    assert second[:3] == ["bare_flask", "bare_wsgi", "livez"]
    assert second.index("select1") < second.index("health")
    assert runs[-2:] == [(0, "report"), (1, "report")]
    assert sorted(runs) == sorted((r, name) for r in (0, 1) for name in names)


def test_a_skipped_target_leaves_the_rest_of_its_schedule_alone():
    runs = schedule(["livez", "bare_flask", "entries"], repeats=1)

    assert runs == [(0, "livez"), (0, "bare_flask"), (0, "entries")]


def test_each_import_repeat_keeps_its_own_timings_and_a_repeat_cut_short_is_dropped():
    output = (
        "file: 100000 rows, 13.2 MB\n"
        "first import: 2.61 s wall (1.90 s CPU in this process), status 200\n"
        "same file again: 2.05 s wall (1.95 s CPU in this process), status 200\n"
        "COPY of the same rows: 1.41 s into the emptied table\n"
        "first import: 3.05 s wall (2.09 s CPU in this process), status 200\n"
        "same file again: 2.10 s wall (2.00 s CPU in this process), status 200\n"
        "COPY of the same rows: 1.92 s into the emptied table\n"
        "first import: 2.80 s wall (2.01 s CPU in this process), status 200\n"
    )

    assert import_runs(output) == [
        {"seconds": 2.61, "again_seconds": 2.05, "copy_seconds": 1.41},
        {"seconds": 3.05, "again_seconds": 2.10, "copy_seconds": 1.92},
    ]


def test_the_import_row_compares_each_repeat_with_its_own_copy_of_the_same_rows():
    runs = [
        {"seconds": 2.0, "again_seconds": 1.5, "copy_seconds": 1.0},
        {"seconds": 3.0, "again_seconds": 1.7, "copy_seconds": 1.25},
        {"seconds": 5.0, "again_seconds": 1.9, "copy_seconds": 2.0},
    ]

    row = import_row({"runs": runs})

    assert (row.figure, row.ceiling, row.ratio) == (3.0, 1.25, 2.4)
    assert (row.spread, row.target, row.passed) == ("2.00-2.50", "<= 2x COPY", False)
    assert row.note == "median of 3; the same file again 1.70 s"


def test_the_import_row_passes_at_twice_copy_and_names_why_it_was_skipped():
    runs = [{"seconds": 2.0, "again_seconds": 1.0, "copy_seconds": 1.0}]

    assert import_row({"runs": runs}).passed is True
    skipped = import_row({"skipped": "bench/import_toggl.py failed: boom"})
    assert (skipped.passed, skipped.note) == (None, "skipped: bench/import_toggl.py failed: boom")


def test_the_bench_names_the_layout_its_servers_run_and_stops_on_one_gunicorn_would_change(
    monkeypatch,
):
    for name in ("WORKER_CLASS", "WEB_CONCURRENCY", "THREADS", "KEEPALIVE", "GUNICORN_CMD_ARGS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WORKER_CLASS", "sync")
    monkeypatch.setenv("KEEPALIVE", "5")

    assert gunicorn_layout() == {
        "WORKER_CLASS": "sync",
        "WEB_CONCURRENCY": 4,
        "THREADS": 1,
        "KEEPALIVE": 5,
        "GUNICORN_CMD_ARGS": "",
    }

    monkeypatch.setenv("GUNICORN_CMD_ARGS", "--reuse-port ")
    assert gunicorn_layout()["GUNICORN_CMD_ARGS"] == "--reuse-port"

    monkeypatch.setenv("THREADS", "4")
    with pytest.raises(SystemExit, match="THREADS must be 1 with WORKER_CLASS=sync"):
        gunicorn_layout()


def test_the_p99_is_the_nearest_rank_so_one_slow_probe_in_a_hundred_does_not_count():
    probes = [5.0] * 99 + [900.0]

    assert percentile(probes, 99) == 5.0
    assert percentile([*probes, 800.0], 99) == 800.0
    assert percentile([7.0], 99) == 7.0


def busy_result(**changes):
    result = {
        "latencies_ms": [4.0] * 197 + [30.0, 60.0, 70.0],
        "failures": 0,
        "imports": [{"status": 200, "created": 100000, "seconds": 6.5}] * 2,
        "jobs": [{"state": "succeeded", "counts": {}, "error": None}] * 4,
        "seconds": 10.6,
    }
    return result | changes


def test_the_busy_livez_row_holds_the_p99_to_50_ms_and_names_the_max_and_the_load():
    row = busy_row(busy_result())

    assert (row.figure, row.target, row.passed) == (30.0, "<= 50", True)
    assert row.note == "max 70 ms; 200 probes in 11 s"
    assert busy_row(busy_result(latencies_ms=[4.0] * 97 + [51.0, 52.0, 53.0])).passed is False


def test_the_busy_livez_row_fails_when_a_probe_import_or_sync_failed_or_it_gave_up():
    row = busy_row(
        busy_result(
            failures=2,
            imports=[{"status": 413, "created": None, "seconds": 0.1}],
            jobs=[{"state": "failed", "counts": {}, "error": "Toggl timed out"}],
            gave_up=True,
        )
    )

    assert row.passed is False
    assert row.note == (
        "max 70 ms; 200 probes in 11 s; an import answered 413; a sync failed: Toggl timed out; "
        "gave up after 180 s; 2 probes failed"
    )
    skipped = busy_row({"skipped": "RuntimeError: service exited"})
    assert (skipped.passed, skipped.note) == (None, "skipped: RuntimeError: service exited")


def test_the_slow_toggl_answers_each_window_with_only_its_own_days():
    everything = recent_entries({})
    first = everything[-1]["start"][:10]

    assert len(everything) == 3
    assert all(e["stop"] and e["duration"] == 3600 for e in everything)
    assert recent_entries({"start_date": ["2000-01-01"], "end_date": [first]}) == []
    assert len(recent_entries({"start_date": [first], "end_date": ["2999-01-01"]})) == 3


def test_the_first_bench_user_keeps_its_share_and_the_others_split_the_rest():
    shares = seed.shares(2_000_000, 50)

    assert shares[0] == seed.FIRST_USER_ENTRIES
    assert sum(shares) == 2_000_000
    assert max(shares[1:]) - min(shares[1:]) <= 1
    assert seed.shares(11, 2) == [6, 5]


def test_the_bench_users_make_teams_each_with_a_manager_and_the_first_is_an_admin():
    roles = [seed.role_of(n) for n in range(2 * seed.TEAM_SIZE)]

    assert roles[0] == "admin"
    assert [n for n, role in enumerate(roles) if role == "manager"] == [1, seed.TEAM_SIZE + 1]


def test_only_runs_the_named_targets_with_their_ceilings():
    targets = {name: {} for name in ("livez", "bare_wsgi", "team_entries", "psycopg_team_list")}
    targets["org_report"] = {}

    assert set(selected(targets, ["team_entries", "org_report"])) == {
        "team_entries",
        "psycopg_team_list",
        "org_report",
    }
    assert selected(targets, None) == targets
