"""Replicas booting together: four migrate-then-serve processes start at the same moment
against one empty PostgreSQL database."""

from __future__ import annotations

import pytest

from service.migrate import applied_migrations
from service.migrate import known_migrations
from service.migrate import migrations_dir
from service.migrate import open_database

pytestmark = pytest.mark.faults

REPLICAS = 4


def test_four_replicas_booting_at_once_migrate_once_and_all_become_ready(
    serve, fresh_postgres_database
):
    url = fresh_postgres_database()

    replicas = [
        serve(url, workers=1, threads=2, migrate_first=True, wait=False) for _ in range(REPLICAS)
    ]
    for replica in replicas:
        replica.wait_ready("/readyz")

    database = open_database(url)
    with database.connection_context():
        history = applied_migrations(database)
    logs = [replica.log() for replica in replicas]
    assert [replica.process.poll() for replica in replicas] == [None] * REPLICAS
    assert history == known_migrations(migrations_dir())
    assert sum("applied migrations:" in log for log in logs) == 1
    assert sum("no pending migrations" in log for log in logs) == REPLICAS - 1
