"""Pull the caller's entries from Toggl or Tempo (`/api/sync`), JWT required."""

from __future__ import annotations

from flask import Blueprint
from flask import current_app
from flask import jsonify
from flask import request

from service import integrations
from service import sync
from service.db import use_database
from service.openapi import documented
from service.schemas import SyncOutcome
from service.schemas import SyncRequest
from service.schemas import SyncStatusList
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


@bp.get("/status")
@documented({200: SyncStatusList})
def sync_status():
    """Show each source's last run, cursor, counts and last error."""
    items = sync.status(current_user_id())
    return jsonify(items=[sync_state_json(*item) for item in items])


def add_sync_route(source: str) -> None:
    """Route POST /api/sync/SOURCE (a fixed path per source)."""

    def run_sync():
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

    run_sync.__doc__ = (
        f"Pull and upsert the caller's entries from {sync.LABELS[source]}; "
        "optional `from`/`to` days re-read that range."
    )
    declare = documented({200: SyncOutcome}, body=SyncRequest, errors=(404, 409, 502))
    bp.add_url_rule(f"/{source}", f"run_{source}", declare(run_sync), methods=["POST"])


add_sync_route("toggl")
add_sync_route("tempo")
