"""The locked migration runner: idempotent, serialised across processes, all-or-nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import peewee
import pytest

from service.migrate import applied_migrations
from service.migrate import known_migrations
from service.migrate import migrate
from service.migrate import migrations_dir
from service.migrate import open_database
from service.migrate import pending_migrations
from service.models import MODELS

REPO = Path(__file__).resolve().parent.parent

FAILING_MIGRATION = """
import peewee as pw


def migrate(migrator, database, *, fake=False):
    @migrator.create_model
    class Half(pw.Model):
        name = pw.CharField()

        class Meta:
            table_name = "half_done"

    migrator.sql("SELECT * FROM no_such_table")
"""


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database_url(request, tmp_path):
    """An empty database of each kind, not migrated."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.db'}"
    return request.getfixturevalue("fresh_postgres_database")()


def run_cli(url: str, *args: str) -> subprocess.CompletedProcess:
    """Run `python -m service.migrate` with DATABASE_URL=URL."""
    env = {**os.environ, "DATABASE_URL": url}
    return subprocess.run(
        [sys.executable, "-m", "service.migrate", *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_running_twice_applies_each_migration_once(empty_database_url):
    database = open_database(empty_database_url)

    first = migrate(database)
    second = migrate(database)

    assert first == known_migrations(migrations_dir())
    assert second == []
    with database.connection_context():
        assert applied_migrations(database) == first


def test_check_reports_pending_then_clean_without_changing_anything(empty_database_url):
    pending = run_cli(empty_database_url, "--check")
    database = open_database(empty_database_url)
    with database.connection_context():
        tables_after_check = database.get_tables()
    applied = run_cli(empty_database_url)
    clean = run_cli(empty_database_url, "--check")

    assert pending.returncode == 1
    assert "001_initial" in pending.stdout
    assert tables_after_check == []
    assert applied.returncode == 0
    assert clean.returncode == 0
    assert "no pending migrations" in clean.stdout


def test_four_runners_at_once_migrate_once(fresh_postgres_database):
    url = fresh_postgres_database()
    env = {**os.environ, "DATABASE_URL": url}
    runners = [
        subprocess.Popen(
            [sys.executable, "-m", "service.migrate"],
            env=env,
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(4)
    ]
    outputs = [runner.communicate(timeout=60)[0] for runner in runners]

    assert [runner.returncode for runner in runners] == [0, 0, 0, 0], outputs
    assert sum("applied migrations: 001_initial" in out for out in outputs) == 1
    database = open_database(url)
    with database.connection_context():
        assert applied_migrations(database) == known_migrations(migrations_dir())


def test_a_failing_migration_leaves_no_partial_schema_on_postgresql(
    fresh_postgres_database, tmp_path
):
    directory = tmp_path / "migrations"
    directory.mkdir()
    (directory / "001_half.py").write_text(FAILING_MIGRATION)
    database = open_database(fresh_postgres_database())

    with pytest.raises(peewee.ProgrammingError):
        migrate(database, directory)

    with database.connection_context():
        assert "half_done" not in database.get_tables()
        assert pending_migrations(database, directory) == ["001_half"]


def describe_schema(database: peewee.Database) -> dict:
    """Everything about the tables that a schema change could alter, history excluded."""
    tables = sorted(t for t in database.get_tables() if t != "migratehistory")
    schema: dict = {}
    for table in tables:
        schema[table] = {
            "columns": sorted(
                (c.name, c.data_type, c.null, c.primary_key) for c in database.get_columns(table)
            ),
            "indexes": sorted(
                (i.name, tuple(i.columns), i.unique) for i in database.get_indexes(table)
            ),
            "foreign_keys": sorted(
                (f.column, f.dest_table, f.dest_column) for f in database.get_foreign_keys(table)
            ),
            "definition": table_definition(database, table),
        }
    return schema


def table_definition(database: peewee.Database, table: str) -> list:
    """Constraint definitions (PostgreSQL) or the CREATE TABLE text (SQLite)."""
    if isinstance(database, peewee.PostgresqlDatabase):
        cursor = database.execute_sql(
            "SELECT contype, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = %s::regclass ORDER BY 2",
            (table,),
        )
        return [tuple(row) for row in cursor.fetchall()]
    cursor = database.execute_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
    )
    return [row[0] for row in cursor.fetchall()]


@pytest.fixture(params=["sqlite", "postgresql"])
def two_empty_database_urls(request, tmp_path):
    """Two empty databases of one kind."""
    if request.param == "sqlite":
        return [f"sqlite:///{tmp_path / name}" for name in ("a.db", "b.db")]
    create = request.getfixturevalue("fresh_postgres_database")
    return [create(), create()]


def test_migrations_build_exactly_the_schema_the_models_describe(two_empty_database_urls):
    migrated = open_database(two_empty_database_urls[0])
    from_models = open_database(two_empty_database_urls[1])
    migrate(migrated)
    with from_models.connection_context(), from_models.bind_ctx(MODELS):
        from_models.create_tables(MODELS)

    with migrated.connection_context(), from_models.connection_context():
        assert describe_schema(migrated) == describe_schema(from_models)
        assert set(describe_schema(migrated)) == {m._meta.table_name for m in MODELS}
