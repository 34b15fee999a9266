"""Add jobs: each sync asked for or due, its state and outcome; one active per user and source."""

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
    @migrator.create_model
    class Job(pw.Model):
        id = pw.UUIDField(primary_key=True)
        user = pw.ForeignKeyField(User, on_delete="CASCADE", index=False)
        source = pw.CharField(max_length=32)
        kind = pw.CharField(max_length=16)
        state = pw.CharField(max_length=16)
        from_day = pw.DateField(null=True)
        to_day = pw.DateField(null=True)
        created = pw.IntegerField(default=0)
        updated = pw.IntegerField(default=0)
        unchanged = pw.IntegerField(default=0)
        deleted = pw.IntegerField(default=0)
        skipped = pw.IntegerField(default=0)
        error = pw.TextField(null=True)
        attempts = pw.IntegerField(default=0)
        created_at = TimestampTZ()
        woken_at = TimestampTZ(null=True)
        started_at = TimestampTZ(null=True)
        heartbeat_at = TimestampTZ(null=True)
        finished_at = TimestampTZ(null=True)

        class Meta:
            legacy_table_names = False
            table_name = "jobs"
            indexes = ((("user", "source", "created_at"), False),)

    # At most one queued or running job per user and source; the sweep's scans use it too.
    migrator.sql(
        "CREATE UNIQUE INDEX jobs_one_active ON jobs (user_id, source) "
        "WHERE state IN ('queued', 'running')"
    )


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.remove_model("jobs")
