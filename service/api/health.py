"""Probes: public, never rate-limited, and answering even when the database is gone."""

from __future__ import annotations

import logging
from datetime import UTC
from datetime import datetime

import peewee
from flask import Blueprint
from flask import current_app
from flask import jsonify

from service import lifecycle
from service.db import db
from service.db import request_connection
from service.migrate import applied_migrations
from service.openapi import documented
from service.schemas.responses import Alive
from service.schemas.responses import Healthy
from service.schemas.responses import Ready
from service.schemas.responses import Unhealthy
from service.schemas.responses import Unready

log = logging.getLogger(__name__)

bp = Blueprint("health", __name__)


def _database_ok() -> bool:
    """Run SELECT 1 on a pooled connection; connect and statement timeouts bound it."""
    try:
        with request_connection():
            db.execute_sql("SELECT 1")
    except peewee.PeeweeException as exc:
        log.warning("health check: database failed: %s", exc.__class__.__name__)
        return False
    return True


@bp.get("/livez")
@documented({200: Alive})
def livez():
    """Answer 200 while the process can serve requests; the database is not consulted."""
    return jsonify(status="alive")


@bp.get("/health")
@documented({200: Healthy, 503: Unhealthy})
def health():
    """Report whether the database answers, with the time of the check."""
    if not _database_ok():
        return jsonify(status="unhealthy", error="Database connection failed"), 503
    return jsonify(status="healthy", timestamp=datetime.now(UTC).isoformat())


@bp.get("/readyz")
@documented({200: Ready, 503: Unready})
def readyz():
    """Answer 200 only when not shutting down, the database answers and nothing is pending."""
    if lifecycle.draining.is_set():
        return jsonify(status="unready", failed="draining", detail="shutting down"), 503
    known = current_app.extensions["migrations"]
    try:
        with request_connection():
            pending = sorted(set(known) - set(applied_migrations(db)))
    except peewee.PeeweeException as exc:
        log.warning("readiness check: database failed: %s", exc.__class__.__name__)
        return jsonify(
            status="unready", failed="database", detail="Database connection failed"
        ), 503
    if pending:
        detail = f"pending migrations: {', '.join(pending)}"
        return jsonify(status="unready", failed="migrations", detail=detail), 503
    return jsonify(status="ready")
