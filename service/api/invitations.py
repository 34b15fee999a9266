"""Invitations (`/api/invitations`): admins and managers invite people; the token is shown once."""

from __future__ import annotations

import uuid

from flask import Blueprint
from flask import current_app
from flask import jsonify

from service import invitations
from service.db import use_database
from service.openapi import documented
from service.permissions import USERS_READ
from service.permissions import USERS_WRITE
from service.schemas.json_body import parse_json_body
from service.schemas.requests import InvitationIn
from service.schemas.responses import InvitationList
from service.schemas.responses import IssuedInvitation
from service.schemas.responses import dump
from service.security import current_principal
from service.security import require_auth

bp = Blueprint("invitations", __name__, url_prefix="/api/invitations")
require_auth(bp, read=USERS_READ, write=USERS_WRITE, acting_user=False)
use_database(bp)


@bp.post("")
@documented({201: IssuedInvitation}, body=InvitationIn, errors=(409,))
def create_invitation():
    """Invite someone by email; the answer holds the one-time token to pass on."""
    body = parse_json_body(InvitationIn)
    config = current_app.config
    invitation = invitations.create(
        current_principal(),
        body.email,
        body.role,
        body.teams,
        ttl=config["INVITATION_TTL"],
        policy=config["REGISTRATION"],
    )
    return jsonify(dump(IssuedInvitation, invitation)), 201


@bp.get("")
@documented({200: InvitationList})
def list_invitations():
    """List the pending invitations the caller may see, newest first."""
    items = invitations.pending(current_principal())
    return jsonify(dump(InvitationList, {"items": items}))


@bp.delete("/<uuid:invitation_id>")
@documented({204: None})
def revoke_invitation(invitation_id: uuid.UUID):
    """Revoke a pending invitation: its token stops working."""
    invitations.revoke(current_principal(), invitation_id)
    return "", 204
