"""The published contract: `GET /openapi.json`, public, generated from the routes."""

from __future__ import annotations

from flask import Blueprint
from flask import current_app
from flask import jsonify

from service.openapi import build_spec
from service.openapi import documented

bp = Blueprint("docs", __name__)


@bp.get("/openapi.json")
@documented({200: {"application/json": {"type": "object"}}})
def openapi():
    """Return the OpenAPI 3.1 description of this service."""
    spec = current_app.extensions.get("openapi")
    if spec is None:
        spec = current_app.extensions["openapi"] = build_spec(current_app)
    return jsonify(spec)
