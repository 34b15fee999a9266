"""Pull the caller's entries from Toggl or Tempo (`/api/sync`), JWT required."""

from __future__ import annotations

from flask import Blueprint
from flask import current_app
from flask import jsonify
from flask import request

from service import integrations
from service import sync
from service.db import use_database
from service.schemas import SyncRequest
from service.schemas import sync_state_json
from service.security import current_user_id
from service.security import require_auth
from service.sync.pull import SyncSettings

bp = Blueprint("sync", __name__, url_prefix="/api/sync")
require_auth(bp)
use_database(bp)


@bp.before_request
def _require_key() -> None:
    integrations.vault(current_app.config["INTEGRATIONS_KEY"])


@bp.post("/<source>")
def run_sync(source: str):
    """Pull and upsert the caller's entries from a source; optional `from`/`to` days."""
    source = integrations.known_source(source)
    body = SyncRequest.model_validate_json(request.get_data() or b"{}")
    outcome = sync.run_sync(
        current_user_id(),
        source,
        SyncSettings.from_config(current_app.config),
        integrations.vault(current_app.config["INTEGRATIONS_KEY"]),
        start=body.from_,
        end=body.to,
    )
    return jsonify(outcome)


@bp.get("/status")
def sync_status():
    """Show each source's last run, cursor, counts and last error."""
    items = sync.status(current_user_id())
    return jsonify(items=[sync_state_json(*item) for item in items])
