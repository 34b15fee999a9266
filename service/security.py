"""Passwords (bcrypt), tokens (PyJWT) and the hook that requires a valid access token."""

from __future__ import annotations

import uuid
import weakref
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import Any

import bcrypt
import jwt
from flask import Blueprint
from flask import current_app
from flask import g
from flask import request

from service.errors import APIError

ALGORITHM = "HS256"
ACCESS = "access"
REFRESH = "refresh"
BCRYPT_MAX_BYTES = 72
REQUIRED_CLAIMS = ["exp", "iat", "sub", "iss", "aud", "jti", "typ"]

_protected: weakref.WeakSet[Blueprint] = weakref.WeakSet()


class Passwords:
    """Hash and check passwords with bcrypt; checks take the same time for unknown users."""

    def __init__(self, rounds: int) -> None:
        self.rounds = rounds
        self._dummy_hash = bcrypt.hashpw(b"timing-equaliser", bcrypt.gensalt(rounds))

    def hash(self, password: str) -> str:
        """Hash PASSWORD (at most 72 UTF-8 bytes: validated before it gets here)."""
        return bcrypt.hashpw(password.encode(), bcrypt.gensalt(self.rounds)).decode()

    def check(self, password: str, password_hash: str | None) -> bool:
        """Tell whether PASSWORD matches; without a hash, burn the same time and say no."""
        candidate = password.encode()
        if len(candidate) > BCRYPT_MAX_BYTES:
            candidate = candidate[:BCRYPT_MAX_BYTES]
            password_hash = None
        if password_hash is None:
            bcrypt.checkpw(candidate, self._dummy_hash)
            return False
        return bcrypt.checkpw(candidate, password_hash.encode())


@dataclass(frozen=True)
class IssuedToken:
    """A signed token and the facts the caller stores or returns about it."""

    token: str
    jti: uuid.UUID
    expires_at: datetime
    expires_in: int


class Tokens:
    """Issue and verify HS256 JWTs with the configured issuer and audience."""

    def __init__(self, secret: str, issuer: str, audience: str, access_ttl: int, refresh_ttl: int):
        self._secret = secret
        self.issuer = issuer
        self.audience = audience
        self.ttl = {ACCESS: access_ttl, REFRESH: refresh_ttl}

    def issue(self, subject: str, token_type: str, now: datetime | None = None) -> IssuedToken:
        """Sign a token of TOKEN_TYPE for SUBJECT."""
        now = now or datetime.now(UTC)
        jti = uuid.uuid4()
        expires_at = now + timedelta(seconds=self.ttl[token_type])
        claims = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": subject,
            "iat": now,
            "exp": expires_at,
            "jti": str(jti),
            "typ": token_type,
        }
        token = jwt.encode(claims, self._secret, algorithm=ALGORITHM)
        return IssuedToken(token, jti, expires_at, self.ttl[token_type])

    def verify(self, token: str, token_type: str) -> dict[str, Any]:
        """Return the claims of a valid token of TOKEN_TYPE, else raise a 401 APIError."""
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                options={"require": REQUIRED_CLAIMS},
            )
        except jwt.InvalidTokenError as exc:
            raise unauthorized(f"The token is invalid: {exc}") from None
        if claims["typ"] != token_type:
            raise unauthorized(f"A {token_type} token is required.")
        return claims


def unauthorized(detail: str) -> APIError:
    """Build the 401 every authentication failure answers with."""
    return APIError(401, detail, headers={"WWW-Authenticate": 'Bearer realm="time-tracker"'})


def _bearer_token() -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthorized("A bearer access token is required.")
    return token.strip()


def _require_access_token() -> None:
    claims = current_app.extensions["tokens"].verify(_bearer_token(), ACCESS)
    try:
        g.user_id = uuid.UUID(claims["sub"])
    except ValueError:
        raise unauthorized("The token's subject is not a user.") from None


def require_auth(blueprint: Blueprint) -> None:
    """Make every route of BLUEPRINT require a valid access token; g.user_id is its user."""
    blueprint.before_request(_require_access_token)
    _protected.add(blueprint)


def is_protected(blueprint: Blueprint) -> bool:
    """Tell whether BLUEPRINT's routes require a token (the contract marks them so)."""
    return blueprint in _protected


def current_user_id() -> uuid.UUID:
    """Return the authenticated caller's user id."""
    return g.user_id
