"""The time-tracker service: create_app() is the only place the pieces are wired."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from service import logs
from service.accounts import RESET
from service.api_limit import ApiLimit
from service.config import load_config
from service.db import init_db
from service.errors import register_error_handlers
from service.hardening import init_hardening
from service.keys import KeyRing
from service.observability import init_observability
from service.permissions import ACCESS
from service.permissions import REFRESH
from service.permissions import SERVICE
from service.security import Passwords
from service.security import Tokens


def create_app(overrides: Mapping[str, Any] | None = None) -> Flask:
    """Build the application; OVERRIDES win over the environment (tests use them)."""
    app = Flask(__name__, static_folder=None)
    configure(app, overrides)
    configure_logging(app)
    init_db(app)
    init_jobs(app)
    init_security(app)
    init_api_limit(app)
    init_observability(app)
    register_error_handlers(app)
    register_blueprints(app)
    init_hardening(app)
    register_commands(app)
    return app


def configure(app: Flask, overrides: Mapping[str, Any] | None) -> None:
    """Load the settings once, from the environment and the overrides."""
    from service.migrate import known_migrations
    from service.migrate import migrations_dir

    app.config.update(load_config(overrides))
    app.json.sort_keys = False  # answers keep their response models' field order
    app.json.ensure_ascii = False  # UTF-8 text as it is, as PostgreSQL writes it
    app.extensions["migrations"] = known_migrations(migrations_dir())


def configure_logging(app: Flask) -> None:
    """Send every log line to stdout (JSON unless LOG_FORMAT=text) at LOG_LEVEL."""
    logs.configure(app.config["LOG_LEVEL"], app.config["LOG_FORMAT"])


def init_jobs(app: Flask) -> None:
    """Open the job queue of JOBS_URL (Redis connects on first use, SQLite makes its file)."""
    from service.jobs import JobQueue

    app.extensions["jobs"] = JobQueue(app.config)


def init_security(app: Flask) -> None:
    """Set up password hashing, and token signing with the key ring, from the settings."""
    app.extensions["passwords"] = Passwords(app.config["BCRYPT_ROUNDS"])
    app.extensions["tokens"] = Tokens(
        KeyRing.from_config(app.config),
        issuer=app.config["JWT_ISSUER"],
        audience=app.config["JWT_AUDIENCE"],
        ttl={
            ACCESS: app.config["ACCESS_TOKEN_TTL"],
            REFRESH: app.config["REFRESH_TOKEN_TTL"],
            SERVICE: app.config["SERVICE_TOKEN_TTL"],
            RESET: app.config["PASSWORD_RESET_TTL"],
        },
    )


def init_api_limit(app: Flask) -> None:
    """Limit each principal's API requests to RATE_LIMIT_API (unless it is off)."""
    if app.config["RATE_LIMIT_API"] is not None:
        app.extensions["api_limit"] = ApiLimit.from_settings(
            app.config["RATE_LIMIT_API"],
            app.config["RATE_LIMIT_STORAGE_URI"],
            app.config["RATE_LIMIT_KEY_PREFIX"],
        )


def register_blueprints(app: Flask) -> None:
    """Register the health probes first, the public keys, then the protected API."""
    # Imported here, not at the top, so `python -m service.migrate` can run without
    # the package having imported service.migrate already (runpy warns about that).
    from service.api import auth
    from service.api import docs
    from service.api import entries
    from service.api import health
    from service.api import imports
    from service.api import integrations
    from service.api import invitations
    from service.api import jobs
    from service.api import jwks
    from service.api import metrics
    from service.api import reports
    from service.api import sync
    from service.api import teams
    from service.api import timer
    from service.api import tokens
    from service.api import users

    app.register_blueprint(health.bp)
    app.register_blueprint(jwks.bp)
    app.register_blueprint(docs.bp)
    if app.config["METRICS_ENABLED"]:
        app.register_blueprint(metrics.bp)
    app.register_blueprint(auth.bp)
    auth.limit_sign_in(app)
    app.register_blueprint(auth.me_bp)
    app.register_blueprint(entries.bp)
    app.register_blueprint(timer.bp)
    app.register_blueprint(reports.bp)
    app.register_blueprint(imports.bp)
    app.register_blueprint(integrations.bp)
    app.register_blueprint(sync.bp)
    app.register_blueprint(jobs.bp)
    app.register_blueprint(invitations.bp)
    app.register_blueprint(users.bp)
    app.register_blueprint(teams.bp)
    app.register_blueprint(tokens.bp)


def register_commands(app: Flask) -> None:
    """Add `flask migrate` (the locked runner), `flask clients`, `flask sync` and
    `flask users` to the CLI."""
    from service.cli import clients_command
    from service.cli import migrate_command
    from service.cli import sync_command
    from service.cli import users_command

    app.cli.add_command(migrate_command)
    app.cli.add_command(sync_command)
    app.cli.add_command(clients_command)
    app.cli.add_command(users_command)
