"""People (`/api/users`): users:read to list and look up; PATCH for admins, and oneself."""

from __future__ import annotations

import uuid

from flask import Blueprint
from flask import jsonify
from flask import request

from service import people
from service.db import use_database
from service.openapi import documented
from service.permissions import USERS_READ
from service.schemas.json_body import parse_json_body
from service.schemas.requests import UserPatch
from service.schemas.requests import UserQuery
from service.schemas.responses import Person
from service.schemas.responses import UserPage
from service.schemas.responses import dump
from service.security import current_principal
from service.security import require_auth

bp = Blueprint("users", __name__, url_prefix="/api/users")
# PATCH has no scope of its own: a person may rename themselves; people.update_user asks
# for users:write (and the admin role) for anything more. Services may only read.
require_auth(bp, read=USERS_READ, acting_user=False)
use_database(bp)


@bp.get("")
@documented({200: UserPage}, query=UserQuery, errors=(400,))
def list_users():
    """List the users the caller may see, oldest account first, one keyset page at a time."""
    filters = UserQuery.model_validate(request.args.to_dict())
    users, next_cursor = people.list_users(current_principal(), filters)
    return jsonify(dump(UserPage, {"items": users, "next_cursor": next_cursor}))


@bp.get("/<uuid:user_id>")
@documented({200: Person})
def get_user(user_id: uuid.UUID):
    """Return a user the caller may see, and the teams they are in."""
    return jsonify(dump(Person, people.person(people.get_user(current_principal(), user_id))))


@bp.patch("/<uuid:user_id>")
@documented({200: Person}, body=UserPatch, errors=(409,))
def update_user(user_id: uuid.UUID):
    """Change a user's role, activity or display name (admins), or one's own display name."""
    changes = parse_json_body(UserPatch).model_dump(exclude_unset=True)
    user = people.update_user(current_principal(), user_id, changes)
    return jsonify(dump(Person, people.person(user)))
