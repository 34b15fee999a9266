"""The public verification keys (`/.well-known/jwks.json`): public, no database."""

from __future__ import annotations

from flask import Blueprint
from flask import current_app
from flask import jsonify

from service.openapi import documented
from service.schemas.responses import JwkSet

bp = Blueprint("jwks", __name__)


@bp.get("/.well-known/jwks.json")
@documented({200: JwkSet})
def jwks():
    """Publish the Ed25519 public keys tokens are verified with, by kid."""
    response = jsonify(current_app.extensions["tokens"].keys.jwks())
    response.headers["Cache-Control"] = "public, max-age=300"
    return response
