"""Create the service clients of the client-credentials grant."""

import peewee as pw
from peewee_migrate import Migrator


class TimestampTZ(pw.DateTimeField):
    field_type = "TIMESTAMPTZ"


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    @migrator.create_model
    class ServiceClient(pw.Model):
        id = pw.UUIDField(primary_key=True)
        name = pw.CharField(max_length=100)
        secret_hash = pw.CharField(max_length=64)
        scopes = pw.CharField(max_length=255)
        created_at = TimestampTZ()
        revoked_at = TimestampTZ(null=True)

        class Meta:
            legacy_table_names = False
            table_name = "service_clients"


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.remove_model("service_clients")
