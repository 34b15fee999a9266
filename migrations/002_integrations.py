"""Store each user's encrypted source credentials and the state of their syncs."""

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
    class Integration(pw.Model):
        id = pw.UUIDField(primary_key=True)
        user = pw.ForeignKeyField(User, on_delete="CASCADE", index=False)
        source = pw.CharField(max_length=32)
        token_ciphertext = pw.TextField()
        workspace_id = pw.CharField(max_length=64, null=True)
        timezone = pw.CharField(max_length=64, default="UTC")
        jira_site = pw.CharField(max_length=255, null=True)
        jira_email = pw.CharField(max_length=254, null=True)
        jira_token_ciphertext = pw.TextField(null=True)
        created_at = TimestampTZ()
        updated_at = TimestampTZ()

        class Meta:
            legacy_table_names = False
            table_name = "integrations"
            indexes = ((("user", "source"), True),)

    @migrator.create_model
    class SyncState(pw.Model):
        id = pw.UUIDField(primary_key=True)
        user = pw.ForeignKeyField(User, on_delete="CASCADE", index=False)
        source = pw.CharField(max_length=32)
        running_since = TimestampTZ(null=True)
        last_started_at = TimestampTZ(null=True)
        last_finished_at = TimestampTZ(null=True)
        last_status = pw.CharField(max_length=16, null=True)
        last_error = pw.TextField(null=True)
        cursor = pw.CharField(max_length=64, null=True)
        created = pw.IntegerField(default=0)
        updated = pw.IntegerField(default=0)
        unchanged = pw.IntegerField(default=0)
        deleted = pw.IntegerField(default=0)
        skipped = pw.IntegerField(default=0)

        class Meta:
            legacy_table_names = False
            table_name = "sync_states"
            indexes = ((("user", "source"), True),)


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.remove_model("sync_states")
    migrator.remove_model("integrations")
