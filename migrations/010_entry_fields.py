"""Entries keep whether they are billable, their tags, client and task (issue 28).

Earlier entries get the defaults the columns declare: not billable, no tags, no client or
task. Tags are a JSON array in canonical order (jsonb on PostgreSQL, JSON text on SQLite).
"""

import peewee as pw
from peewee_migrate import Migrator

COLUMNS = ("billable", "tags", "client", "task")


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    boolean = "BOOLEAN" if isinstance(database, pw.PostgresqlDatabase) else "INTEGER"
    migrator.sql(f'ALTER TABLE time_entries ADD COLUMN "billable" {boolean} NOT NULL DEFAULT FALSE')
    migrator.sql("ALTER TABLE time_entries ADD COLUMN \"tags\" JSONB NOT NULL DEFAULT '[]'")
    migrator.sql('ALTER TABLE time_entries ADD COLUMN "client" VARCHAR(255)')
    migrator.sql('ALTER TABLE time_entries ADD COLUMN "task" VARCHAR(255)')


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.remove_fields("time_entries", *COLUMNS)
