"""Personal access tokens: long-lived tokens a person makes for their scripts.

A token is shown once, when made; only its SHA-256 digest is stored. Its scopes are at
most what the owner's role grants when it is made, and security.authenticate narrows them
to what the role grants on each request, so a demotion takes effect at once.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta

from service.errors import APIError
from service.models import PersonalToken
from service.models import utcnow
from service.permissions import ROLE_SCOPES
from service.permissions import format_scopes
from service.security import PERSONAL_TOKEN_PREFIX
from service.security import hash_token


@dataclass(frozen=True)
class NewToken:
    """A stored personal token's row and the token itself, to show once."""

    row: PersonalToken
    token: str


def as_answer(row: PersonalToken) -> dict[str, object]:
    """Return ROW's fields as the API shows them (scopes as a list, never the digest)."""
    fields = ("id", "name", "created_at", "expires_at")
    return {name: getattr(row, name) for name in fields} | {"scopes": sorted(row.scopes.split())}


def create_token(
    user_id: uuid.UUID, role: str, name: str, scopes: list[str], expires_in: int
) -> NewToken:
    """Make a token for USER_ID with SCOPES (422 beyond what ROLE grants), for EXPIRES_IN s."""
    beyond = sorted(set(scopes) - ROLE_SCOPES[role])
    if beyond:
        errors = [{"field": "scopes", "message": f"your role does not grant {', '.join(beyond)}"}]
        raise APIError(422, "A token's scopes are at most those of your role.", errors=errors)
    token = PERSONAL_TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    row = PersonalToken.create(
        user=user_id,
        name=name,
        token_hash=hash_token(token),
        scopes=format_scopes(set(scopes)),
        created_at=now,
        expires_at=now + timedelta(seconds=expires_in),
    )
    return NewToken(row, token)


def list_tokens(user_id: uuid.UUID) -> list[PersonalToken]:
    """Return USER_ID's tokens that are not revoked (expired ones too), newest first."""
    query = PersonalToken.select().where(
        (PersonalToken.user == user_id) & PersonalToken.revoked_at.is_null()
    )
    return list(query.order_by(PersonalToken.created_at.desc(), PersonalToken.id))


def revoke_token(user_id: uuid.UUID, token_id: uuid.UUID) -> None:
    """Revoke one of USER_ID's tokens; another's, or one revoked already, is not found."""
    revoked = (
        PersonalToken.update(revoked_at=utcnow())
        .where(
            (PersonalToken.id == token_id)
            & (PersonalToken.user == user_id)
            & PersonalToken.revoked_at.is_null()
        )
        .execute()
    )
    if not revoked:
        raise APIError(404, "The token was not found.")
