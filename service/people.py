"""People over the API: list, look up and change accounts, within what the caller may see.

Admins and services with `users:read` see everyone; managers the people of the teams they
manage (and themselves). Anyone else is "not found" to a caller who may not see them.
"""

from __future__ import annotations

import uuid
from typing import Any

import peewee

from service import accounts
from service.db import db
from service.db import is_postgres
from service.errors import APIError
from service.models import ADMIN
from service.models import Membership
from service.models import Team
from service.models import User
from service.permissions import USERS_READ
from service.permissions import USERS_WRITE
from service.permissions import Principal
from service.permissions import managed_team_ids
from service.permissions import may_see
from service.permissions import sees_everyone
from service.permissions import visible_user_ids
from service.schemas.cursors import decode_cursor
from service.schemas.cursors import encode_cursor
from service.schemas.requests import UserQuery
from service.schemas.responses import Account

# What only an admin may change about an account.
ADMIN_FIELDS = frozenset({"role", "is_active"})


def not_found() -> APIError:
    """Build the 404 for a user who does not exist, or whom the caller may not see."""
    return APIError(404, "The user was not found.")


def list_users(principal: Principal, filters: UserQuery) -> tuple[list[User], str | None]:
    """Return one page of the users PRINCIPAL may see, oldest account first, and the next cursor."""
    query = User.select()
    visible = visible_user_ids(principal, USERS_READ)
    if visible is not None:
        query = query.where(User.id.in_(visible))
    if filters.email is not None:
        query = query.where(User.email == filters.email.lower())
    if filters.team is not None:
        query = query.where(User.id.in_(_members_of(principal, filters.team)))
    if filters.active is not None:
        query = query.where(User.is_active == filters.active)
    if filters.cursor is not None:
        created_at, user_id = decode_cursor(filters.cursor)
        position = (User.created_at.to_value(created_at), User.id.to_value(user_id))
        query = query.where(peewee.Tuple(User.created_at, User.id) > peewee.Tuple(*position))
    users = list(query.order_by(User.created_at, User.id).limit(filters.limit + 1))
    if len(users) <= filters.limit:
        return users, None
    del users[filters.limit :]
    return users, encode_cursor(users[-1].created_at, users[-1].id)


def _members_of(principal: Principal, team_id: uuid.UUID) -> peewee.ModelSelect:
    """Select the ids of TEAM_ID's people; a manager may ask only about a team they manage."""
    if not sees_everyone(principal, USERS_READ):
        managed = managed_team_ids(principal.user_id).where(Membership.team == team_id)
        if not managed.exists():
            raise APIError(403, "Managers may list the people of the teams they manage only.")
    return Membership.select(Membership.user).where(Membership.team == team_id)


def teams_of(user_id: uuid.UUID) -> list[dict[str, Any]]:
    """Return the teams USER_ID is in, by name, and whether they manage each."""
    rows = (
        Membership.select(Team.id, Team.name, Membership.is_manager)
        .join(Team)
        .where(Membership.user == user_id)
        .order_by(Team.name)
        .dicts()
    )
    return list(rows)


def person(user: User) -> dict[str, Any]:
    """Return USER's account fields and the teams they are in."""
    return {name: getattr(user, name) for name in Account.model_fields} | {
        "teams": teams_of(user.id)
    }


def get_user(principal: Principal, user_id: uuid.UUID) -> User:
    """Return the user, if PRINCIPAL may see them (404 otherwise, as for no such user)."""
    user = User.get_or_none(User.id == user_id)
    if user is None or not may_see(principal, user_id, USERS_READ):
        raise not_found()
    return user


def update_user(principal: Principal, user_id: uuid.UUID, changes: dict[str, Any]) -> User:
    """Apply CHANGES (role, is_active, display_name) to the user as PRINCIPAL may.

    Admins change anyone's; a person only their own display name. The last active admin
    is never demoted or deactivated (409). Deactivation stops every token of the account.
    """
    user = get_user(principal, user_id)
    _check_may_change(principal, user_id, changes)
    with db.atomic():
        if _removes_an_admin(user, changes):
            _keep_an_admin(user_id)
        if "display_name" in changes:
            User.update(display_name=changes["display_name"]).where(User.id == user_id).execute()
        if "role" in changes:
            accounts.set_role(user_id, changes["role"])
        if changes.get("is_active") is False:
            accounts.deactivate(user_id)
        elif changes.get("is_active") is True:
            accounts.reactivate(user_id)
    return User.get_by_id(user_id)


def _check_may_change(principal: Principal, user_id: uuid.UUID, changes: dict[str, Any]) -> None:
    """Refuse (403) a change PRINCIPAL may not make."""
    for_admins = bool(ADMIN_FIELDS & changes.keys()) or user_id != principal.user_id
    if not for_admins:
        return
    if not principal.is_admin:
        raise APIError(403, "Only admins may change roles, activity or other people's names.")
    if USERS_WRITE not in principal.scopes:
        raise APIError(403, f"This request needs the scope '{USERS_WRITE}'.")


def _removes_an_admin(user: User, changes: dict[str, Any]) -> bool:
    """Tell whether CHANGES take an active admin's role or activity away."""
    demoted = changes.get("role", user.role) != ADMIN
    deactivated = changes.get("is_active", True) is False
    return user.role == ADMIN and user.is_active and (demoted or deactivated)


def _keep_an_admin(user_id: uuid.UUID) -> None:
    """Refuse (409) to leave no active admin but USER_ID; locks the admins' rows meanwhile.

    The lock makes two admins demoting each other at once wait for one another, so the
    second sees the first one's change.
    """
    admins = User.select(User.id).where((User.role == ADMIN) & User.is_active)
    if is_postgres(db):
        admins = admins.for_update()
    if not any(admin.id != user_id for admin in admins):
        raise APIError(409, "This is the last active admin; make another admin first.")
