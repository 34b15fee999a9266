"""Who may do what: scopes, roles, and whose data a caller may see. No Flask here.

A person's role is read from the database on every request, so a demotion or a
deactivation takes effect at once. Admins see everyone; managers see the people in the
teams they manage (and themselves); members see themselves. A service sees every user's
entries with `entries:any-user` and every account with `users:read`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import peewee

from service.models import ADMIN
from service.models import MANAGER
from service.models import MEMBER
from service.models import Membership
from service.models import User

ACCESS = "access"
REFRESH = "refresh"
SERVICE = "service"
PERSONAL = "personal"

ENTRIES_READ = "entries:read"
ENTRIES_WRITE = "entries:write"
IMPORTS_WRITE = "imports:write"
REPORTS_READ = "reports:read"
ENTRIES_ANY_USER = "entries:any-user"
USERS_READ = "users:read"
USERS_WRITE = "users:write"
# What every person's token may carry; administration needs a role that grants more.
USER_SCOPES = frozenset({ENTRIES_READ, ENTRIES_WRITE, IMPORTS_WRITE, REPORTS_READ})
ROLE_SCOPES = {
    ADMIN: USER_SCOPES | {USERS_READ, USERS_WRITE},
    MANAGER: USER_SCOPES | {USERS_READ, USERS_WRITE},
    MEMBER: USER_SCOPES,
}
PERSON_SCOPES = ROLE_SCOPES[ADMIN]
# What a service client may be granted.
SERVICE_SCOPES = USER_SCOPES | {ENTRIES_ANY_USER, USERS_READ}


@dataclass(frozen=True)
class Principal:
    """Who a verified token speaks for: a person (with their role now) or a service client.

    `kind` is ACCESS (a sign-in's token), PERSONAL (a personal access token) or SERVICE;
    `subject` is the user's id, or the service client's; `token_id` a personal token's id.
    """

    kind: str
    subject: str
    scopes: frozenset[str]
    role: str | None = None
    token_id: str | None = None

    @property
    def is_service(self) -> bool:
        """Tell whether a service client (not a person) holds the token."""
        return self.kind == SERVICE

    @property
    def user_id(self) -> uuid.UUID | None:
        """Return the person's id (None for a service)."""
        return None if self.is_service else uuid.UUID(self.subject)

    @property
    def is_admin(self) -> bool:
        """Tell whether a person with the admin role holds the token."""
        return self.role == ADMIN

    @property
    def rate_key(self) -> str:
        """Name whose requests one API limit counts: the person, the personal token, the client."""
        if self.kind == PERSONAL:
            return f"token:{self.token_id}"
        return f"{'client' if self.is_service else 'user'}:{self.subject}"


def format_scopes(scopes: frozenset[str] | set[str]) -> str:
    """Render scopes as the space-separated, sorted string OAuth uses."""
    return " ".join(sorted(scopes))


def parse_scopes(text: str) -> frozenset[str]:
    """Split an OAuth scope string into its scopes."""
    return frozenset(text.split())


def managed_team_ids(user_id: uuid.UUID) -> peewee.ModelSelect:
    """Select the ids of the teams USER_ID manages."""
    return Membership.select(Membership.team).where(
        (Membership.user == user_id) & Membership.is_manager
    )


def managed_user_ids(user_id: uuid.UUID) -> peewee.ModelSelect:
    """Select the ids of the people in the teams USER_ID manages (managers included)."""
    return (
        Membership.select(Membership.user)
        .where(Membership.team.in_(managed_team_ids(user_id)))
        .distinct()
    )


def sees_everyone(principal: Principal, service_scope: str = ENTRIES_ANY_USER) -> bool:
    """Tell whether PRINCIPAL may see every user: an admin, or a service with SERVICE_SCOPE."""
    if principal.is_service:
        return service_scope in principal.scopes
    return principal.is_admin


def visible_user_ids(
    principal: Principal, service_scope: str = ENTRIES_ANY_USER
) -> peewee.Node | None:
    """Return a query of the user ids PRINCIPAL may see, or None when that is everyone.

    A service without SERVICE_SCOPE sees nobody; a member only themselves.
    """
    if sees_everyone(principal, service_scope):
        return None
    if principal.is_service:
        return User.select(User.id).where(peewee.SQL("1 = 0"))
    own = User.select(User.id).where(User.id == principal.user_id)
    if principal.role != MANAGER:
        return own
    return own | managed_user_ids(principal.user_id)


def may_see(principal: Principal, user_id: uuid.UUID, service_scope: str = ENTRIES_ANY_USER):
    """Tell whether PRINCIPAL may see (and, with the write scope, change) USER_ID's data."""
    if sees_everyone(principal, service_scope):
        return True
    if principal.is_service:
        return False
    if user_id == principal.user_id:
        return True
    if principal.role != MANAGER:
        return False
    return managed_user_ids(principal.user_id).where(Membership.user == user_id).exists()
