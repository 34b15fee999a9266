"""Invitations: a one-time sign-up for one email, with the role and teams it grants.

Admins invite anyone with any role into any teams; managers invite members into the teams
they manage. The token is shown once; only its digest is kept. Registering with it spends
it in the same transaction that creates the account and its memberships.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import timedelta

from service.config import CLOSED
from service.errors import APIError
from service.models import ADMIN
from service.models import MANAGER
from service.models import MEMBER
from service.models import Invitation
from service.models import Membership
from service.models import Team
from service.models import User
from service.models import utcnow
from service.permissions import Principal
from service.permissions import managed_team_ids
from service.security import forbidden
from service.security import hash_token

TOKEN_BYTES = 32


def create(
    principal: Principal,
    email: str,
    role: str,
    team_ids: list[uuid.UUID],
    *,
    ttl: int,
    policy: str,
) -> Invitation:
    """Invite EMAIL as ROLE into TEAM_IDS for TTL seconds; the row carries `.token` (once)."""
    _require_person(principal)
    if policy == CLOSED:
        raise APIError(409, "Sign-up is closed (REGISTRATION=closed): nobody could use it.")
    _require_known_teams(team_ids)
    if not principal.is_admin:
        _require_manager_of(principal, role, team_ids)
    if User.select().where(User.email == email).exists():
        raise APIError(409, "An account with this email exists already.")
    token, now = secrets.token_urlsafe(TOKEN_BYTES), utcnow()
    invitation = Invitation.create(
        token_hash=hash_token(token),
        email=email,
        role=role,
        team_ids=" ".join(str(team) for team in team_ids),
        invited_by=principal.user_id,
        created_at=now,
        expires_at=now + timedelta(seconds=ttl),
    )
    invitation.token = token
    return invitation


def pending(principal: Principal) -> list[Invitation]:
    """Return the unused, unexpired invitations PRINCIPAL may see, newest first.

    Admins see all; a manager those they made or into a team they manage.
    """
    _require_person(principal)
    rows = (
        Invitation.select()
        .where(Invitation.used_at.is_null() & (Invitation.expires_at > utcnow()))
        .order_by(Invitation.created_at.desc(), Invitation.id)
    )
    if principal.is_admin:
        return list(rows)
    managed = {str(row.team_id) for row in managed_team_ids(principal.user_id)}
    return [row for row in rows if _visible(row, principal.user_id, managed)]


def revoke(principal: Principal, invitation_id: uuid.UUID) -> None:
    """Delete a pending invitation PRINCIPAL may see (404 otherwise)."""
    if not any(row.id == invitation_id for row in pending(principal)):
        raise APIError(404, "The invitation was not found.")
    Invitation.delete().where(Invitation.id == invitation_id).execute()


def redeem(token: str, email: str) -> Invitation:
    """Spend the invitation of TOKEN for EMAIL; a 403 when it cannot be spent.

    Call inside the transaction that creates the account, so a failure there leaves the
    invitation unspent.
    """
    now = utcnow()
    invitation = Invitation.get_or_none(Invitation.token_hash == hash_token(token))
    if invitation is None:
        raise forbidden("The invitation is unknown.")
    if invitation.used_at is not None:
        raise forbidden("The invitation was used already.")
    if invitation.expires_at <= now:
        raise forbidden("The invitation has expired: ask for a new one.")
    if invitation.email != email:
        raise forbidden("The invitation is for another email address.")
    spent = (
        Invitation.update(used_at=now)
        .where(
            (Invitation.id == invitation.id)
            & Invitation.used_at.is_null()
            & (Invitation.expires_at > now)
        )
        .execute()
    )
    if not spent:
        raise forbidden("The invitation was used already.")
    return invitation


def join_teams(user_id: uuid.UUID, invitation: Invitation) -> None:
    """Make USER_ID a member of the invitation's teams that still exist."""
    named = [uuid.UUID(team) for team in invitation.team_ids.split()]
    if not named:
        return
    existing = Team.select(Team.id).where(Team.id.in_(named))
    rows = [{"team": team.id, "user": user_id, "is_manager": False} for team in existing]
    if rows:
        Membership.insert_many(rows).execute()


def _require_person(principal: Principal) -> None:
    if principal.is_service:
        raise forbidden("Invitations are people's business: a service token may not see them.")


def _require_known_teams(team_ids: list[uuid.UUID]) -> None:
    known = {team.id for team in Team.select(Team.id).where(Team.id.in_(team_ids))}
    unknown = [str(team) for team in team_ids if team not in known]
    if unknown:
        errors = [{"field": "teams", "message": f"unknown team {team}"} for team in unknown]
        raise APIError(422, "The request is invalid.", errors=errors)


def _require_manager_of(principal: Principal, role: str, team_ids: list[uuid.UUID]) -> None:
    if principal.role != MANAGER:
        raise forbidden(f"Only admins and managers invite people; you are a {principal.role}.")
    if role != MEMBER:
        raise forbidden(f"Managers invite members only; an {ADMIN} invites {role}s.")
    managed = {row.team_id for row in managed_team_ids(principal.user_id)}
    if not team_ids or not set(team_ids) <= managed:
        raise forbidden("Managers invite into the teams they manage: name one or more of them.")


def _visible(invitation: Invitation, user_id: uuid.UUID, managed: set[str]) -> bool:
    return invitation.invited_by_id == user_id or bool(managed & set(invitation.team_ids.split()))
