"""Flask CLI commands: `flask --app wsgi migrate [--check]`, `clients ...`, `sync ...` and
`users ...`."""

from __future__ import annotations

import secrets
import sys
import uuid

import click
from flask import current_app
from flask.cli import with_appcontext
from pydantic import ValidationError

from service import accounts
from service import clients
from service import integrations
from service import jobs
from service import sync
from service.db import db
from service.errors import APIError
from service.errors import validation_errors
from service.migrate import run
from service.models import MEMBER
from service.models import ROLES
from service.models import SUCCEEDED
from service.models import Job
from service.models import User
from service.schemas.requests import Registration

# A generated password: 24 random bytes, 32 URL-safe characters.
GENERATED_PASSWORD_BYTES = 24


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


@click.group("users")
def users_command() -> None:
    """Create people's accounts (the first admin comes from here), set roles, turn them off."""


@users_command.command("create")
@click.argument("email")
@click.option("--role", type=click.Choice(ROLES), default=MEMBER, show_default=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from one line of stdin.")
@click.option("--generate", is_flag=True, help="Generate a strong password and print it once.")
@with_appcontext
def create_user_command(email: str, role: str, password_stdin: bool, generate: bool) -> None:
    """Create an account; the password comes from a prompt, stdin, or is generated."""
    password = read_password(password_stdin, generate)
    try:
        account = Registration.model_validate({"email": email, "password": password})
    except ValidationError as exc:
        problems = "; ".join(f"{e['field']} {e['message']}" for e in validation_errors(exc))
        raise click.BadParameter(problems, param_hint="EMAIL/password") from None
    with db.connection_context():
        try:
            user = accounts.create_user(
                account.email, account.password, role, current_app.extensions["passwords"]
            )
        except APIError as exc:
            raise click.ClickException(exc.detail) from None
    click.echo(f"created {user.id} {user.email} {user.role}")
    if generate:
        click.echo(f"password: {password}")
        click.echo("Store the password now: it is shown only this once.", err=True)


def read_password(from_stdin: bool, generate: bool) -> str:
    """Return the new password: generated, one line of stdin, or typed twice at a prompt."""
    if from_stdin and generate:
        raise click.UsageError("pass --password-stdin or --generate, not both")
    if generate:
        return secrets.token_urlsafe(GENERATED_PASSWORD_BYTES)
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise click.UsageError("stdin is not a terminal: pass --password-stdin or --generate")
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


@users_command.command("list")
@with_appcontext
def list_users_command() -> None:
    """Print every account: id, email, role, active or inactive, created."""
    with db.connection_context():
        rows = list(User.select().order_by(User.created_at, User.email))
    for user in rows:
        state = "active" if user.is_active else "inactive"
        click.echo(f"{user.id}\t{user.email}\t{user.role}\t{state}\t{user.created_at.isoformat()}")


@users_command.command("set-role")
@click.argument("email")
@click.argument("role", type=click.Choice(ROLES))
@with_appcontext
def set_role_command(email: str, role: str) -> None:
    """Give the account ROLE: less applies from its next request, more from its next sign-in."""
    with db.connection_context():
        accounts.set_role(account_id(email), role)
    click.echo(f"{email.lower()} is now {role}")


@users_command.command("deactivate")
@click.argument("email")
@with_appcontext
def deactivate_command(email: str) -> None:
    """Turn the account off: sign-in refused, every token of it refused at once; data kept."""
    with db.connection_context():
        changed = accounts.deactivate(account_id(email))
    click.echo(f"{email.lower()} {'is now' if changed else 'was already'} inactive")


@users_command.command("reactivate")
@click.argument("email")
@with_appcontext
def reactivate_command(email: str) -> None:
    """Turn the account back on; tokens issued before it was off stay revoked."""
    with db.connection_context():
        changed = accounts.reactivate(account_id(email))
    click.echo(f"{email.lower()} {'is now' if changed else 'was already'} active")


@users_command.command("reset-password")
@click.argument("email")
@with_appcontext
def reset_password_command(email: str) -> None:
    """Print a one-time token for POST /auth/password/reset (valid PASSWORD_RESET_TTL s)."""
    with db.connection_context():
        user = User.get_by_id(account_id(email))
    if not user.is_active:
        raise click.ClickException(f"{user.email} is inactive: reactivate it first")
    issued = accounts.issue_reset_token(user, current_app.extensions["tokens"])
    click.echo(issued.token)
    click.echo(
        f"Pass it on privately; it works once, until {issued.expires_at.isoformat()}.", err=True
    )


def account_id(email: str) -> uuid.UUID:
    """Return the id of the account with EMAIL; exit 1 when there is none."""
    user = User.get_or_none(User.email == email.lower())
    if user is None:
        raise click.ClickException(f"no user with email {email.lower()}")
    return user.id
