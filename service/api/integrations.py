"""The caller's source credentials (`/api/integrations`), JWT required; tokens never leave."""

from __future__ import annotations

from flask import Blueprint
from flask import current_app
from flask import jsonify

from service import integrations
from service.db import use_database
from service.openapi import documented
from service.schemas.fields import Strict
from service.schemas.json_body import parse_json_body
from service.schemas.requests import TempoIntegrationIn
from service.schemas.requests import TogglIntegrationIn
from service.schemas.responses import IntegrationList
from service.schemas.responses import IntegrationOut
from service.schemas.responses import dump
from service.security import current_user_id
from service.security import require_auth

bp = Blueprint("integrations", __name__, url_prefix="/api/integrations")
require_auth(bp)
use_database(bp)

LABELS = {"toggl": "Toggl Track", "tempo": "Tempo"}


@bp.before_request
def _require_key() -> None:
    integrations.vault(current_app.config["INTEGRATIONS_KEY"])


@bp.get("")
@documented({200: IntegrationList})
def list_integrations():
    """List the caller's integrations, without their tokens."""
    items = integrations.list_integrations(current_user_id())
    return jsonify(dump(IntegrationList, {"items": items}))


def add_source_routes(source: str, schema: type[Strict]) -> None:
    """Route GET, PUT and DELETE of one source's credentials (a fixed path per source)."""
    label = LABELS[source]

    def get_integration():
        return jsonify(
            dump(IntegrationOut, integrations.get_integration(current_user_id(), source))
        )

    def put_integration():
        body = parse_json_body(schema)
        keys = integrations.vault(current_app.config["INTEGRATIONS_KEY"])
        saved = integrations.save_integration(current_user_id(), source, body, keys)
        return jsonify(dump(IntegrationOut, saved))

    def delete_integration():
        integrations.delete_integration(current_user_id(), source)
        return "", 204

    get_integration.__doc__ = f"Return the caller's {label} integration, without its tokens."
    put_integration.__doc__ = f"Store (or replace) the caller's {label} credentials, encrypted."
    delete_integration.__doc__ = f"Forget the caller's {label} credentials."
    routes = (
        ("GET", get_integration, documented({200: IntegrationOut}, errors=(404,))),
        ("PUT", put_integration, documented({200: IntegrationOut}, body=schema)),
        ("DELETE", delete_integration, documented({204: None}, errors=(404,))),
    )
    for method, view, declare in routes:
        endpoint = f"{method.lower()}_{source}"
        bp.add_url_rule(f"/{source}", endpoint, declare(view), methods=[method])


add_source_routes("toggl", TogglIntegrationIn)
add_source_routes("tempo", TempoIntegrationIn)
