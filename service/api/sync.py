"""Pull the caller's entries from Toggl or Tempo (`/api/sync`), JWT required."""

from __future__ import annotations

from flask import Blueprint
from flask import current_app
from flask import jsonify
from flask import request
from flask import url_for

from service import integrations
from service import sync
from service.db import use_database
from service.models import utcnow
from service.openapi import documented
from service.schemas.json_body import parse_json_body
from service.schemas.requests import SyncRequest
from service.schemas.responses import Job
from service.schemas.responses import SyncStatusList
from service.schemas.responses import dump
from service.security import current_user_id
from service.security import require_auth

bp = Blueprint("sync", __name__, url_prefix="/api/sync")
require_auth(bp)
use_database(bp)


@bp.before_request
def _require_key() -> None:
    integrations.vault(current_app.config["INTEGRATIONS_KEY"])


@bp.get("/status")
@documented({200: SyncStatusList})
def sync_status():
    """Show each source's last run, cursor, counts and last error."""
    return jsonify(dump(SyncStatusList, {"items": sync.status(current_user_id())}))


def sync_request() -> SyncRequest:
    """Read the optional body of a sync; its days lie within SYNC_HISTORY_DAYS of today."""
    if not request.get_data(cache=True):
        return SyncRequest()
    today = utcnow().date()
    context = {"today": today, "history_days": current_app.config["SYNC_HISTORY_DAYS"]}
    return parse_json_body(SyncRequest, context)


def add_sync_route(source: str) -> None:
    """Route POST /api/sync/SOURCE (a fixed path per source)."""

    def run_sync():
        body = sync_request()
        queue = current_app.extensions["jobs"]
        job = queue.request(current_user_id(), source, body.from_, body.to)
        response = jsonify(dump(Job, job))
        response.status_code = 202
        response.headers["Location"] = url_for("jobs.get_job", job_id=job.id)
        return response

    run_sync.__doc__ = (
        f"Queue a pull of the caller's entries from {sync.LABELS[source]} and answer its job "
        "(`Location`); optional `from`/`to` days (at most SYNC_HISTORY_DAYS back) re-read "
        "that range. While a job of this source is queued or running, answer that one."
    )
    declare = documented({202: Job}, body=SyncRequest, body_required=False, errors=(404,))
    bp.add_url_rule(f"/{source}", f"run_{source}", declare(run_sync), methods=["POST"])


add_sync_route("toggl")
add_sync_route("tempo")
