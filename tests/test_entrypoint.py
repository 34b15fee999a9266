"""docker-entrypoint.sh, run by a POSIX sh: wait for the database, migrate, exec gunicorn."""

from __future__ import annotations

import signal
import subprocess

import psycopg2
import pytest

from service.migrate import known_migrations
from service.migrate import migrations_dir
from tests.servers import ROOT
from tests.servers import answers
from tests.servers import free_port
from tests.servers import server_env
from tests.servers import wait_for

ENTRYPOINT = ["sh", str(ROOT / "docker-entrypoint.sh")]
MIGRATIONS = known_migrations(migrations_dir())


def run_entrypoint(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """Run the entrypoint to completion and capture what it printed."""
    return subprocess.run(
        [*ENTRYPOINT, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def empty_sqlite_url(tmp_path) -> str:
    """A SQLite file that no migration has touched."""
    return f"sqlite:///{tmp_path / 'empty.db'}"


def test_arguments_run_instead_of_the_boot_sequence(empty_sqlite_url):
    env = server_env(empty_sqlite_url, free_port())

    result = run_entrypoint("python", "-m", "service.migrate", "--check", env=env)

    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "entrypoint: running python -m service.migrate --check",
        f"pending migrations: {', '.join(MIGRATIONS)}",
    ]


def test_the_flask_cli_runs_through_the_entrypoint_too(empty_sqlite_url):
    """`docker compose run --rm web flask --app wsgi ...`: the first admin, clients, syncs."""
    env = server_env(empty_sqlite_url, free_port())

    result = run_entrypoint("flask", "--app", "wsgi", "migrate", "--check", env=env)

    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "entrypoint: running flask --app wsgi migrate --check",
        f"pending migrations: {', '.join(MIGRATIONS)}",
    ]
    assert "waiting for the database" not in result.stdout


def test_gives_up_on_an_unreachable_database_with_a_clear_message():
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/none"
    env = server_env(url, free_port(), DB_WAIT_TIMEOUT=2)

    result = run_entrypoint(env=env)

    assert result.returncode == 1
    assert "entrypoint: waiting for the database (at most 2 s)" in result.stdout
    assert "wait-for-database: no answer after 2 s: OperationalError" in result.stderr
    assert "starting gunicorn" not in result.stdout


def test_boots_an_empty_database_by_migrating_then_serving(launch, empty_sqlite_url):
    server = launch(ENTRYPOINT, server_env(empty_sqlite_url, free_port()))

    wait_for(lambda: answers(server, "/readyz"), 30, "the server to be ready")
    server.process.send_signal(signal.SIGTERM)

    assert server.process.wait(timeout=20) == 0
    steps = [line for line in server.output().splitlines() if line.startswith("entrypoint:")]
    assert steps == [
        "entrypoint: waiting for the database (at most 10 s)",
        "entrypoint: applying migrations",
        "entrypoint: starting gunicorn",
    ]


def test_migrate_on_start_false_serves_without_migrating(launch, empty_sqlite_url):
    env = server_env(empty_sqlite_url, free_port(), MIGRATE_ON_START="false")
    server = launch(ENTRYPOINT, env)

    wait_for(lambda: answers(server, "/readyz", 503), 30, "the server to answer")

    assert "entrypoint: MIGRATE_ON_START=false: skipping migrations" in server.output()
    assert "applied migrations" not in server.output()


def test_serving_empties_the_metrics_directory_first(launch, empty_sqlite_url, tmp_path):
    metrics = tmp_path / "prometheus"
    metrics.mkdir()
    (metrics / "counter_1234.db").write_text("from the last run")
    env = server_env(empty_sqlite_url, free_port(), PROMETHEUS_MULTIPROC_DIR=metrics)
    server = launch(ENTRYPOINT, env)

    wait_for(lambda: answers(server, "/readyz"), 30, "the server to be ready")

    assert not (metrics / "counter_1234.db").exists()
    assert f"entrypoint: emptying the metrics directory {metrics}" in server.output()


def test_arguments_get_the_metrics_directory_too(empty_sqlite_url, tmp_path):
    metrics = tmp_path / "absent" / "prometheus"
    env = server_env(empty_sqlite_url, free_port(), PROMETHEUS_MULTIPROC_DIR=metrics)

    result = run_entrypoint("python", "-m", "service.migrate", "--check", env=env)

    assert (result.returncode, result.stderr) == (1, "")
    assert metrics.is_dir()


def applied_names(url: str) -> list[str]:
    """Return the migration history of URL's database."""
    conn = psycopg2.connect(url, connect_timeout=3)
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT name FROM migratehistory ORDER BY id")
            return [row[0] for row in cursor.fetchall()]
    finally:
        conn.close()


def test_four_entrypoints_on_one_empty_postgres_database_all_come_up(
    launch, fresh_postgres_database
):
    url = fresh_postgres_database()
    servers = [
        launch(ENTRYPOINT, server_env(url, free_port(), THREADS=2, DB_WAIT_TIMEOUT=30))
        for _ in range(4)
    ]

    for server in servers:
        wait_for(lambda s=server: answers(s, "/readyz"), 60, "every replica to be ready")
        server.process.send_signal(signal.SIGTERM)

    assert [server.process.wait(timeout=20) for server in servers] == [0, 0, 0, 0]
    assert applied_names(url) == MIGRATIONS
    migrated = [f"applied migrations: {', '.join(MIGRATIONS)}" in s.output() for s in servers]
    assert sorted(migrated) == [False, False, False, True]


def test_worker_waits_for_the_database_then_runs_the_job_worker(launch, pg_url, tmp_path):
    env = server_env(pg_url, free_port(), JOBS_URL=f"sqlite:///{tmp_path / 'jobs.db'}")
    worker = launch([*ENTRYPOINT, "worker"], env)
    wait_for(lambda: "consumer started" in worker.output(), 30, "the job worker to start")

    worker.process.send_signal(signal.SIGTERM)

    assert worker.process.wait(timeout=30) == 0
    output = worker.output()
    assert "entrypoint: starting the job worker" in output
    assert "applying migrations" not in output
    assert "Shutting down gracefully" in output
