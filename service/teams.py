"""Teams and their people: who may see a team, and who may change it.

Admins and services with `users:read` see every team; a manager the teams they manage.
Only admins create, rename and delete teams and name their managers. A team's managers
add and remove its members, but only people they may see already (the people of the
teams they manage), so adding someone never widens what a manager sees; newcomers join
through an invitation or an admin. A manager never removes another manager.
"""

from __future__ import annotations

import uuid
from typing import Any

import peewee

from service.db import db
from service.errors import APIError
from service.models import ADMIN
from service.models import MANAGER
from service.models import Membership
from service.models import Team
from service.models import User
from service.people import not_found as user_not_found
from service.permissions import USERS_READ
from service.permissions import Principal
from service.permissions import managed_team_ids
from service.permissions import may_see
from service.permissions import sees_everyone


def team_not_found() -> APIError:
    """Build the 404 for a team that does not exist, or that the caller may not see."""
    return APIError(404, "The team was not found.")


def require_admin(principal: Principal) -> None:
    """Refuse (403) anyone but an admin."""
    if not principal.is_admin:
        raise APIError(403, "Only admins may do this to teams.")


def visible_teams(principal: Principal) -> peewee.ModelSelect:
    """Select the teams PRINCIPAL may see."""
    if sees_everyone(principal, USERS_READ):
        return Team.select()
    if principal.is_service or principal.role != MANAGER:
        return Team.select().where(peewee.SQL("1 = 0"))
    return Team.select().where(Team.id.in_(managed_team_ids(principal.user_id)))


def list_teams(principal: Principal) -> list[Team]:
    """Return the teams PRINCIPAL may see, by name."""
    return list(visible_teams(principal).order_by(Team.name))


def get_team(principal: Principal, team_id: uuid.UUID) -> Team:
    """Return the team if PRINCIPAL may see it (404 otherwise)."""
    team = visible_teams(principal).where(Team.id == team_id).first()
    if team is None:
        raise team_not_found()
    return team


def team_detail(team: Team) -> dict[str, Any]:
    """Return TEAM's fields and its people, managers first, then by email."""
    members = (
        Membership.select(
            User.id.alias("user_id"), User.email, User.display_name, Membership.is_manager
        )
        .join(User)
        .where(Membership.team == team.id)
        .order_by(Membership.is_manager.desc(), User.email)
        .dicts()
    )
    return {"id": team.id, "name": team.name, "created_at": team.created_at, "members": members}


def create_team(name: str) -> Team:
    """Create a team named NAME (409 when the name is taken)."""
    try:
        with db.atomic():
            return Team.create(name=name)
    except peewee.IntegrityError:
        raise _name_taken(name) from None


def rename_team(team_id: uuid.UUID, name: str) -> Team:
    """Give the team NAME (404 for no such team, 409 when the name is taken)."""
    team = Team.get_or_none(Team.id == team_id)
    if team is None:
        raise team_not_found()
    try:
        with db.atomic():
            Team.update(name=name).where(Team.id == team_id).execute()
    except peewee.IntegrityError:
        raise _name_taken(name) from None
    return Team.get_by_id(team_id)


def _name_taken(name: str) -> APIError:
    errors = [{"field": "name", "message": "is taken by another team"}]
    return APIError(409, f"A team named {name!r} exists already.", errors=errors)


def delete_team(team_id: uuid.UUID) -> None:
    """Delete the team and its memberships; its people and their entries stay."""
    with db.atomic():
        Membership.delete().where(Membership.team == team_id).execute()
        if not Team.delete().where(Team.id == team_id).execute():
            raise team_not_found()


def _person(principal: Principal, user_id: uuid.UUID) -> User:
    """Return the user PRINCIPAL names (404 when it is nobody they may see)."""
    user = User.get_or_none(User.id == user_id)
    if user is None or not may_see(principal, user_id, USERS_READ):
        raise user_not_found()
    return user


def add_member(principal: Principal, team_id: uuid.UUID, user_id: uuid.UUID) -> None:
    """Put the user in the team (no change if they are in it); admins and its managers."""
    get_team(principal, team_id)
    _person(principal, user_id)
    Membership.insert(team=team_id, user=user_id).on_conflict_ignore().execute()


def remove_member(principal: Principal, team_id: uuid.UUID, user_id: uuid.UUID) -> None:
    """Take the user out of the team; a manager may not take out one of its managers."""
    get_team(principal, team_id)
    _person(principal, user_id)
    membership = Membership.get_or_none((Membership.team == team_id) & (Membership.user == user_id))
    if membership is None:
        return
    if membership.is_manager and not principal.is_admin:
        raise APIError(403, "Only admins may remove a team's manager.")
    membership.delete_instance()


def set_manager(team_id: uuid.UUID, user_id: uuid.UUID, is_manager: bool) -> None:
    """Make the user one of the team's managers (adding them), or a plain member again."""
    if Team.get_or_none(Team.id == team_id) is None:
        raise team_not_found()
    user = User.get_or_none(User.id == user_id)
    if user is None:
        raise user_not_found()
    if not is_manager:
        Membership.update(is_manager=False).where(
            (Membership.team == team_id) & (Membership.user == user_id)
        ).execute()
        return
    if user.role not in (MANAGER, ADMIN):
        errors = [{"field": "user_id", "message": f"has the role {user.role!r}"}]
        raise APIError(
            422, "Only people with the role manager or admin may manage a team.", errors=errors
        )
    Membership.insert(team=team_id, user=user_id, is_manager=True).on_conflict(
        conflict_target=[Membership.team, Membership.user],
        update={Membership.is_manager: True},
    ).execute()
