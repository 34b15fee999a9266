"""Flask CLI commands: `flask --app wsgi migrate [--check]`, `clients ...` and `sync ...`."""

from __future__ import annotations

import uuid

import click
from flask import current_app
from flask.cli import with_appcontext

from service import clients
from service import integrations
from service import jobs
from service import sync
from service.db import db
from service.errors import APIError
from service.migrate import run
from service.models import SUCCEEDED
from service.models import Job
from service.models import User


@click.command("migrate")
@click.option("--check", is_flag=True, help="Exit 1 when migrations are pending; change nothing.")
@with_appcontext
def migrate_command(check: bool) -> None:
    """Apply pending migrations under the migration lock."""
    raise SystemExit(run(current_app.config["DATABASE_URL"], check=check))


@click.group("clients")
def clients_command() -> None:
    """Create, list and revoke service clients (client-credentials grant)."""


@clients_command.command("create")
@click.argument("name")
@click.option("--scopes", required=True, help="Comma-separated, e.g. entries:read,entries:write")
@with_appcontext
def create_client_command(name: str, scopes: str) -> None:
    """Create a client and print its id and secret; the secret is shown only this once."""
    wanted = [scope.strip() for scope in scopes.split(",") if scope.strip()]
    with db.connection_context():
        try:
            new = clients.create_client(name, wanted)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--scopes/NAME") from None
    click.echo(f"client_id: {new.client.id}")
    click.echo(f"client_secret: {new.secret}")
    click.echo(f"scopes: {new.client.scopes}")
    click.echo("Store the secret now: only its hash is kept.", err=True)


@clients_command.command("list")
@with_appcontext
def list_clients_command() -> None:
    """Print every client: id, name, scopes, created and revoked times."""
    with db.connection_context():
        rows = clients.list_clients()
    for client in rows:
        revoked = client.revoked_at.isoformat() if client.revoked_at else "active"
        created = client.created_at.isoformat()
        click.echo(f"{client.id}\t{client.name}\t{client.scopes}\t{created}\t{revoked}")


@clients_command.command("revoke")
@click.argument("client_id", type=click.UUID)
@with_appcontext
def revoke_client_command(client_id: uuid.UUID) -> None:
    """Revoke a client: its secret and its unexpired tokens stop working at once."""
    with db.connection_context():
        revoked = clients.revoke_client(client_id)
    if not revoked:
        raise click.ClickException(f"no active client {client_id}")
    click.echo(f"revoked {client_id}")


@click.command("sync")
@click.argument("source", type=click.Choice(sync.SOURCES))
@click.option("--all-users", is_flag=True, help="Sync every user who stored credentials.")
@click.option("--user", "emails", multiple=True, help="Sync this user (email); repeatable.")
@with_appcontext
def sync_command(source: str, all_users: bool, emails: tuple[str, ...]) -> None:
    """Pull entries from SOURCE for the users named, here and now, each as a job."""
    if all_users == bool(emails):
        raise click.UsageError("name users with --user EMAIL, or pass --all-users")
    try:
        integrations.vault(current_app.config["INTEGRATIONS_KEY"])
    except APIError as exc:
        raise click.ClickException(exc.detail) from None
    failures = 0
    with db.connection_context():
        users = sync.users_with(source) if all_users else accounts_by_email(emails)
        for user_id in users:
            job = run_inline(user_id, source)
            if job.state != SUCCEEDED:
                failures += 1
                detail = job.error or f"job {job.id} is {job.state} in another process"
                click.echo(f"{source} {user_id}: failed ({job.state}) {detail}", err=True)
                continue
            counts = ", ".join(f"{k} {v}" for k, v in job.counts.items())
            click.echo(f"{source} {user_id}: ok ({counts})")
    raise SystemExit(1 if failures else 0)


def run_inline(user_id: uuid.UUID, source: str) -> Job:
    """Run the user's SOURCE job in this process: a new one, or the one queued already."""
    job, _ = jobs.submit(user_id, source, jobs.SCRIPTED)
    jobs.run(job.id, current_app.config)
    return Job.get_by_id(job.id)


def accounts_by_email(emails: tuple[str, ...]) -> list[uuid.UUID]:
    """Return the ids of the users with these emails; an unknown email is a usage error."""
    found = {
        u.email: u.id for u in User.select().where(User.email.in_([e.lower() for e in emails]))
    }
    missing = [e for e in emails if e.lower() not in found]
    if missing:
        raise click.UsageError(f"no user with email {', '.join(missing)}")
    return [found[e.lower()] for e in emails]
