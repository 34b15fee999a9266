"""Flask CLI commands: `flask --app wsgi migrate [--check]`."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from service.migrate import run


@click.command("migrate")
@click.option("--check", is_flag=True, help="Exit 1 when migrations are pending; change nothing.")
@with_appcontext
def migrate_command(check: bool) -> None:
    """Apply pending migrations under the migration lock."""
    raise SystemExit(run(current_app.config["DATABASE_URL"], check=check))
