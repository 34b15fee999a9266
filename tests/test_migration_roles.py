"""Upgrading past migration 007: the people of an earlier version become members."""

from __future__ import annotations

from service.migrate import migrate


def test_users_from_before_roles_become_active_members_at_version_0(database_before):
    database = database_before("007")

    applied = migrate(database)

    assert applied[0] == "007_teams"
    with database.connection_context():
        row = database.execute_sql(
            "SELECT email, role, display_name, token_version, is_active FROM users"
        ).fetchall()
    assert [tuple(r) for r in row] == [("early@example.com", "member", None, 0, True)]
