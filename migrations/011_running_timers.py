"""Let an entry run: its duration is null until the timer stops; one running entry per user.

The duration's check passes a null as it is. SQLite cannot drop NOT NULL in place:
peewee-migrate rebuilds the table (rows copied, indexes recreated), writing the column as
the model does.
"""

import peewee as pw
from peewee_migrate import Migrator

DURATION = pw.DoubleField(null=True, constraints=[pw.Check("duration > 0 AND duration <= 24")])


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    if isinstance(database, pw.SqliteDatabase):
        migrator.change_fields("time_entries", duration=DURATION)
    else:
        migrator.drop_not_null("time_entries", "duration")
    migrator.sql(
        "CREATE UNIQUE INDEX time_entries_one_running ON time_entries (user_id) "
        "WHERE duration IS NULL"
    )


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.sql("DROP INDEX time_entries_one_running")
    migrator.sql("DELETE FROM time_entries WHERE duration IS NULL")
    migrator.add_not_null("time_entries", "duration")
