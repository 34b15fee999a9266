"""Drop the index on time_entries (date) alone: every query asks for one user's entries.

(user, date) serves the lists, reports and exports; the lone (date) index only cost each
insert, about 0.3 s of a 100,000-row import.
"""

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.drop_index("time_entries", "date")


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.add_index("time_entries", "date")
