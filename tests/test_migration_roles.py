"""Upgrading past migration 007: the people of an earlier version become members."""

from __future__ import annotations

import shutil
import uuid

import pytest

from service.migrate import known_migrations
from service.migrate import migrate
from service.migrate import migrations_dir
from service.migrate import open_database
from service.models import TIMESTAMP_FORMAT
from service.models import utcnow

BEFORE_ROLES = "006_jobs"


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database_url(request, tmp_path):
    """An empty database of each kind, not migrated."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'upgrade.db'}"
    return request.getfixturevalue("fresh_postgres_database")()


def copy_migrations(names: list[str], folder) -> None:
    folder.mkdir(exist_ok=True)
    for name in names:
        shutil.copy(migrations_dir() / f"{name}.py", folder / f"{name}.py")


def test_users_from_before_roles_become_active_members_at_version_0(empty_database_url, tmp_path):
    names = known_migrations(migrations_dir())
    earlier = names[: names.index(BEFORE_ROLES) + 1]
    folder = tmp_path / "migrations"
    copy_migrations(earlier, folder)
    database = open_database(empty_database_url)
    migrate(database, folder)
    user_id = uuid.uuid4()
    with database.connection_context():
        marks = ", ".join([database.param] * 5)
        database.execute_sql(
            f"INSERT INTO users (id, email, password_hash, is_active, created_at) VALUES ({marks})",
            (
                str(user_id),
                "early@example.com",
                "x" * 60,
                True,
                utcnow().strftime(TIMESTAMP_FORMAT),
            ),
        )

    copy_migrations(names, folder)
    applied = migrate(database, folder)

    assert applied == names[len(earlier) :]
    with database.connection_context():
        row = database.execute_sql(
            "SELECT email, role, display_name, token_version, is_active FROM users"
        ).fetchall()
    assert [tuple(r) for r in row] == [("early@example.com", "member", None, 0, True)]
