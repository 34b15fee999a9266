"""The time-tracker service: create_app() is the only place the pieces are wired."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask

from service.config import load_config
from service.db import init_db
from service.errors import register_error_handlers
from service.json_provider import OrjsonProvider
from service.security import Passwords
from service.security import Tokens


def create_app(overrides: Mapping[str, Any] | None = None) -> Flask:
    """Build the application; OVERRIDES win over the environment (tests use them)."""
    app = Flask(__name__, instance_relative_config=False)
    configure(app, overrides)
    configure_logging(app)
    init_db(app)
    init_security(app)
    register_error_handlers(app)
    register_blueprints(app)
    register_commands(app)
    return app


def configure(app: Flask, overrides: Mapping[str, Any] | None) -> None:
    """Load the settings once, from the environment and the overrides."""
    from service.migrate import known_migrations
    from service.migrate import migrations_dir

    app.config.update(load_config(overrides))
    app.json = OrjsonProvider(app)
    app.extensions["migrations"] = known_migrations(migrations_dir())


def configure_logging(app: Flask) -> None:
    """Send the service's logs to stdout at LOG_LEVEL."""
    logging.basicConfig(level=app.config["LOG_LEVEL"], format="%(levelname)s %(name)s %(message)s")
    logging.getLogger("service").setLevel(app.config["LOG_LEVEL"])


def init_security(app: Flask) -> None:
    """Set up password hashing and token signing from the settings."""
    app.extensions["passwords"] = Passwords(app.config["BCRYPT_ROUNDS"])
    app.extensions["tokens"] = Tokens(
        app.config["JWT_SECRET"],
        issuer=app.config["JWT_ISSUER"],
        audience=app.config["JWT_AUDIENCE"],
        access_ttl=app.config["ACCESS_TOKEN_TTL"],
        refresh_ttl=app.config["REFRESH_TOKEN_TTL"],
    )


def register_blueprints(app: Flask) -> None:
    """Register the health probes first, then the protected API."""
    # Imported here, not at the top, so `python -m service.migrate` can run without
    # the package having imported service.migrate already (runpy warns about that).
    from service.api import auth
    from service.api import entries
    from service.api import health

    app.register_blueprint(health.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(auth.me_bp)
    app.register_blueprint(entries.bp)


def register_commands(app: Flask) -> None:
    """Add `flask migrate` (the locked runner) to the CLI."""
    from service.cli import migrate_command

    app.cli.add_command(migrate_command)
