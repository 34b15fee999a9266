"""Index time entries on (date, id): organisation-wide and team lists walk it newest first.

An admin's `all=true` page or a team's page without a date range would otherwise sort every
matching entry to return fifty; one user's reads keep using (user, date).
"""

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.add_index("time_entries", "date", "id")


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.drop_index("time_entries", "date", "id")
