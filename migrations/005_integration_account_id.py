"""Add integrations.account_id: the Atlassian account whose Tempo worklogs a sync reads."""

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.add_fields("integrations", account_id=pw.CharField(max_length=64, null=True))


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.remove_fields("integrations", "account_id")
