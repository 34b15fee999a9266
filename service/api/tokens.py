"""Personal access tokens (`/api/tokens`): made, listed and revoked from a sign-in only."""

from __future__ import annotations

import uuid

from flask import Blueprint
from flask import jsonify

from service import personal_tokens
from service.db import use_database
from service.openapi import documented
from service.schemas.json_body import parse_json_body
from service.schemas.requests import PersonalTokenIn
from service.schemas.responses import PersonalTokenCreated
from service.schemas.responses import PersonalTokenList
from service.schemas.responses import dump
from service.security import current_principal
from service.security import require_auth

bp = Blueprint("tokens", __name__, url_prefix="/api/tokens")
# A leaked personal token must not mint, list or revoke others: a sign-in's token only.
require_auth(bp, acting_user=False, sign_in_only=True)
use_database(bp)


@bp.post("")
@documented({201: PersonalTokenCreated}, body=PersonalTokenIn)
def create_token():
    """Make a personal access token; the token is in this answer only."""
    body = parse_json_body(PersonalTokenIn)
    principal = current_principal()
    new = personal_tokens.create_token(
        principal.user_id, principal.role, body.name, body.scopes, body.expires_in
    )
    answer = personal_tokens.as_answer(new.row) | {"token": new.token}
    response = jsonify(dump(PersonalTokenCreated, answer))
    response.headers["Cache-Control"] = "no-store"
    return response, 201


@bp.get("")
@documented({200: PersonalTokenList})
def list_tokens():
    """List the caller's personal access tokens that are not revoked (never the tokens)."""
    rows = personal_tokens.list_tokens(current_principal().user_id)
    items = [personal_tokens.as_answer(row) for row in rows]
    return jsonify(dump(PersonalTokenList, {"items": items}))


@bp.delete("/<uuid:token_id>")
@documented({204: None})
def revoke_token(token_id: uuid.UUID):
    """Revoke one of the caller's personal access tokens; it stops working at once."""
    personal_tokens.revoke_token(current_principal().user_id, token_id)
    return "", 204
