"""Create users, refresh tokens and time entries."""

import peewee as pw
from peewee_migrate import Migrator


class TimestampTZ(pw.DateTimeField):
    field_type = "TIMESTAMPTZ"


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    @migrator.create_model
    class User(pw.Model):
        id = pw.UUIDField(primary_key=True)
        email = pw.CharField(max_length=254, unique=True)
        password_hash = pw.CharField(max_length=60)
        is_active = pw.BooleanField(default=True)
        created_at = TimestampTZ()

        class Meta:
            legacy_table_names = False
            table_name = "users"

    @migrator.create_model
    class RefreshToken(pw.Model):
        jti = pw.UUIDField(primary_key=True)
        user = pw.ForeignKeyField(User, on_delete="CASCADE")
        expires_at = TimestampTZ()
        used_at = TimestampTZ(null=True)
        created_at = TimestampTZ()

        class Meta:
            legacy_table_names = False
            table_name = "refresh_tokens"

    @migrator.create_model
    class TimeEntry(pw.Model):
        id = pw.UUIDField(primary_key=True)
        user = pw.ForeignKeyField(User, on_delete="CASCADE", index=False)
        source = pw.CharField(max_length=32, default="manual")
        external_id = pw.CharField(max_length=255, null=True)
        date = TimestampTZ()
        duration = pw.DoubleField(constraints=[pw.Check("duration > 0 AND duration <= 24")])
        project = pw.CharField(max_length=255, null=True)
        description = pw.TextField(null=True)
        created_at = TimestampTZ()
        updated_at = TimestampTZ()

        class Meta:
            legacy_table_names = False
            table_name = "time_entries"
            indexes = (
                (("user", "source", "external_id"), True),
                (("user", "date"), False),
                (("date",), False),
            )


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.remove_model("time_entries")
    migrator.remove_model("refresh_tokens")
    migrator.remove_model("users")
