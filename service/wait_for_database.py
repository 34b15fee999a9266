"""Wait, a bounded time, until DATABASE_URL answers (`python -m service.wait_for_database`)."""

from __future__ import annotations

import sys
import time

import peewee

from service.config import ConfigError
from service.config import database_url
from service.config import server_settings
from service.db import make_database

RETRY_DELAY = 1.0


def database_answers(url: str) -> str | None:
    """Run SELECT 1 on a fresh connection; return None on success, else the error."""
    database = make_database(url, pooled=False, connect_timeout=2)
    try:
        with database.connection_context():
            database.execute_sql("SELECT 1")
    except peewee.PeeweeException as exc:
        return f"{exc.__class__.__name__}: {' '.join(str(exc).split())}"
    return None


def wait(url: str, timeout: float) -> str | None:
    """Retry until the database answers or TIMEOUT seconds pass; return the last error."""
    deadline = time.monotonic() + timeout
    error = database_answers(url)
    if error is not None:
        print(f"wait-for-database: not yet ({error}); retrying", flush=True)
    while error is not None and time.monotonic() + RETRY_DELAY <= deadline:
        time.sleep(RETRY_DELAY)
        error = database_answers(url)
    return error


def main() -> int:
    """Wait for the settings' database; exit 1 with a clear message if it never answers."""
    try:
        timeout = server_settings()["DB_WAIT_TIMEOUT"]
        url = database_url()
        error = wait(url, timeout)
    except (ConfigError, ValueError) as exc:
        print(f"wait-for-database: {exc}", file=sys.stderr)
        return 2
    if error is not None:
        print(f"wait-for-database: no answer after {timeout} s: {error}", file=sys.stderr)
        return 1
    print("wait-for-database: database answers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
