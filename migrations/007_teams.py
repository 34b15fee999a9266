"""Add roles, teams, invitations and personal access tokens; entries record who changed them.

Existing people become members: the new columns' database defaults fill their rows.
"""

import peewee as pw
from peewee_migrate import Migrator


class TimestampTZ(pw.DateTimeField):
    field_type = "TIMESTAMPTZ"


class User(pw.Model):
    id = pw.UUIDField(primary_key=True)

    class Meta:
        legacy_table_names = False
        table_name = "users"


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.sql(
        "ALTER TABLE users ADD COLUMN \"role\" VARCHAR(16) NOT NULL DEFAULT 'member' "
        "CHECK (role IN ('admin', 'manager', 'member'))"
    )
    migrator.sql('ALTER TABLE users ADD COLUMN "display_name" VARCHAR(100)')
    migrator.sql('ALTER TABLE users ADD COLUMN "token_version" INTEGER NOT NULL DEFAULT 0')
    migrator.add_fields("time_entries", updated_by=pw.UUIDField(null=True))

    @migrator.create_model
    class Team(pw.Model):
        id = pw.UUIDField(primary_key=True)
        name = pw.CharField(max_length=100, unique=True)
        created_at = TimestampTZ()

        class Meta:
            legacy_table_names = False
            table_name = "teams"

    @migrator.create_model
    class Membership(pw.Model):
        team = pw.ForeignKeyField(Team, on_delete="CASCADE", index=False)
        user = pw.ForeignKeyField(User, on_delete="CASCADE")
        is_manager = pw.BooleanField()
        created_at = TimestampTZ()

        class Meta:
            legacy_table_names = False
            table_name = "memberships"
            primary_key = pw.CompositeKey("team", "user")

    @migrator.create_model
    class Invitation(pw.Model):
        id = pw.UUIDField(primary_key=True)
        token_hash = pw.CharField(max_length=64, unique=True)
        email = pw.CharField(max_length=254)
        role = pw.CharField(max_length=16)
        team_ids = pw.TextField()
        invited_by = pw.ForeignKeyField(User, on_delete="CASCADE", index=False)
        created_at = TimestampTZ()
        expires_at = TimestampTZ()
        used_at = TimestampTZ(null=True)

        class Meta:
            legacy_table_names = False
            table_name = "invitations"

    @migrator.create_model
    class PersonalToken(pw.Model):
        id = pw.UUIDField(primary_key=True)
        user = pw.ForeignKeyField(User, on_delete="CASCADE")
        name = pw.CharField(max_length=100)
        token_hash = pw.CharField(max_length=64, unique=True)
        scopes = pw.CharField(max_length=255)
        created_at = TimestampTZ()
        expires_at = TimestampTZ(null=True)
        revoked_at = TimestampTZ(null=True)

        class Meta:
            legacy_table_names = False
            table_name = "personal_tokens"


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.remove_model("personal_tokens")
    migrator.remove_model("invitations")
    migrator.remove_model("memberships")
    migrator.remove_model("teams")
    migrator.remove_fields("time_entries", "updated_by")
    migrator.remove_fields("users", "role", "display_name", "token_version")
