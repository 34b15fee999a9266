"""Apply pending peewee-migrate migrations, one runner at a time (`python -m service.migrate`)."""

from __future__ import annotations

import argparse
import contextlib
import logging
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import peewee

from service.config import database_url
from service.db import is_postgres
from service.db import make_database

log = logging.getLogger(__name__)

HISTORY_TABLE = "migratehistory"
# Any fixed 64-bit number shared by every replica; it names this service's migration lock.
ADVISORY_LOCK_KEY = 0x7469_6D65_7472_6B72
MIGRATION_FILE = re.compile(r"^\d{3}_[^.]+\.py$")


def migrations_dir() -> Path:
    """Return the migrations/ folder beside the package, or under the working directory."""
    beside_package = Path(__file__).resolve().parent.parent / "migrations"
    return beside_package if beside_package.is_dir() else Path.cwd() / "migrations"


def known_migrations(directory: Path) -> list[str]:
    """List the migration names in DIRECTORY, in the order they apply."""
    return sorted(p.stem for p in directory.iterdir() if MIGRATION_FILE.match(p.name))


def applied_migrations(database: peewee.Database) -> list[str]:
    """Read the names already applied, creating nothing (a missing table means none)."""
    if not database.table_exists(HISTORY_TABLE):
        return []
    cursor = database.execute_sql(f'SELECT name FROM "{HISTORY_TABLE}" ORDER BY id')  # noqa: S608
    return [row[0] for row in cursor.fetchall()]


def pending_migrations(database: peewee.Database, directory: Path | None = None) -> list[str]:
    """Return the migrations not yet applied, without changing anything."""
    done = set(applied_migrations(database))
    return [name for name in known_migrations(directory or migrations_dir()) if name not in done]


@contextlib.contextmanager
def migration_lock(database: peewee.Database) -> Iterator[None]:
    """Hold PostgreSQL's session-level advisory lock so replicas migrate one at a time."""
    if not is_postgres(database):
        yield
        return
    database.execute_sql("SELECT pg_advisory_lock(%s)", (ADVISORY_LOCK_KEY,))
    try:
        yield
    finally:
        database.execute_sql("SELECT pg_advisory_unlock(%s)", (ADVISORY_LOCK_KEY,))


def migrate(database: peewee.Database, directory: Path | None = None) -> list[str]:
    """Apply every pending migration under the lock and return the names applied."""
    directory = directory or migrations_dir()
    with database.connection_context(), migration_lock(database):
        if not pending_migrations(database, directory):
            return []
        # Imported only to migrate: the serving workers read the history table themselves
        # and so do not load peewee-migrate at all.
        from peewee_migrate import Router

        router = Router(database, migrate_dir=directory, migrate_table=HISTORY_TABLE, logger=log)
        return router.run()


def open_database(url: str, statement_timeout_ms: int = 0) -> peewee.Database:
    """Open an unpooled connection target for the runner (one session keeps the lock)."""
    return make_database(url, pooled=False, statement_timeout_ms=statement_timeout_ms)


def run(url: str, *, check: bool = False) -> int:
    """Apply the migrations (or only report pending ones) and return the exit status."""
    database = open_database(url)
    if check:
        with database.connection_context():
            pending = pending_migrations(database)
        print(f"pending migrations: {', '.join(pending)}" if pending else "no pending migrations")
        return 1 if pending else 0
    applied = migrate(database)
    print(f"applied migrations: {', '.join(applied)}" if applied else "no pending migrations")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run."""
    parser = argparse.ArgumentParser(prog="python -m service.migrate", description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 if migrations are pending")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    return run(database_url(), check=args.check)


if __name__ == "__main__":
    sys.exit(main())
