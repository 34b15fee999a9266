"""The caller's source credentials (`/api/integrations`), JWT required; tokens never leave."""

from __future__ import annotations

from flask import Blueprint
from flask import current_app
from flask import jsonify
from flask import request

from service import integrations
from service.db import use_database
from service.schemas import INTEGRATION_SCHEMAS
from service.schemas import integration_json
from service.security import current_user_id
from service.security import require_auth

bp = Blueprint("integrations", __name__, url_prefix="/api/integrations")
require_auth(bp)
use_database(bp)


@bp.before_request
def _require_key() -> None:
    integrations.vault(current_app.config["INTEGRATIONS_KEY"])


@bp.get("")
def list_integrations():
    """List the caller's integrations, without their tokens."""
    items = integrations.list_integrations(current_user_id())
    return jsonify(items=[integration_json(i) for i in items])


@bp.get("/<source>")
def get_integration(source: str):
    """Return one of the caller's integrations, without its tokens."""
    source = integrations.known_source(source)
    return jsonify(integration_json(integrations.get_integration(current_user_id(), source)))


@bp.put("/<source>")
def put_integration(source: str):
    """Store (or replace) the caller's credentials for a source, encrypted."""
    source = integrations.known_source(source)
    body = INTEGRATION_SCHEMAS[source].model_validate_json(request.get_data())
    keys = integrations.vault(current_app.config["INTEGRATIONS_KEY"])
    saved = integrations.save_integration(current_user_id(), source, body, keys)
    return jsonify(integration_json(saved))


@bp.delete("/<source>")
def delete_integration(source: str):
    """Forget the caller's credentials for a source."""
    integrations.delete_integration(current_user_id(), integrations.known_source(source))
    return "", 204
