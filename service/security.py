"""Passwords (bcrypt), tokens (PyJWT) and the hook that requires a valid token.

Three kinds of bearer token reach the API, each checked by its own rules: a user's access
token (`typ` access; `sub` is an active user, `ver` their token version, `scope` at most
what their role grants now), a service token from the client-credentials grant (`typ`
service; `sub` and `client_id` name a service client that must still be active, `scope`
a subset of its grant) and a personal access token (opaque, PERSONAL_TOKEN_PREFIX, looked
up by its digest; its owner must be active).
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
import weakref
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import Any

import bcrypt
import jwt
import peewee
from flask import Blueprint
from flask import current_app
from flask import g
from flask import request

from service.db import db
from service.errors import APIError
from service.keys import KeyRing
from service.models import PersonalToken
from service.models import ServiceClient
from service.models import User
from service.models import utcnow
from service.permissions import ACCESS
from service.permissions import ENTRIES_ANY_USER
from service.permissions import PERSON_SCOPES
from service.permissions import PERSONAL
from service.permissions import ROLE_SCOPES
from service.permissions import SERVICE
from service.permissions import SERVICE_SCOPES
from service.permissions import USER_SCOPES
from service.permissions import Principal
from service.permissions import may_see
from service.permissions import parse_scopes

BCRYPT_MAX_BYTES = 72
REQUIRED_CLAIMS = ["exp", "iat", "sub", "iss", "aud", "jti", "typ"]
SAFE_METHODS = frozenset({"GET", "HEAD"})
# Tokens whose signature and claims were verified, kept until they expire: a client sends
# the same token with every request, and verifying it again is a large share of the CPU a
# small request costs (docs/benchmarks.md).
VERIFIED_TOKENS = 1024
# How a personal access token starts, so it is told from a JWT without parsing it.
PERSONAL_TOKEN_PREFIX = "ttp_"  # noqa: S105 (a prefix, not a secret)

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
    """Issue and verify JWTs with the key ring's current key, issuer and audience."""

    def __init__(self, keys: KeyRing, issuer: str, audience: str, ttl: dict[str, int]) -> None:
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        self.ttl = ttl
        self._verified: dict[str, dict[str, Any]] = {}
        self._verified_lock = threading.Lock()

    def issue(
        self,
        subject: str,
        token_type: str,
        now: datetime | None = None,
        claims: dict[str, Any] | None = None,
    ) -> IssuedToken:
        """Sign a token of TOKEN_TYPE for SUBJECT, with extra CLAIMS."""
        now = now or datetime.now(UTC)
        jti = uuid.uuid4()
        expires_at = now + timedelta(seconds=self.ttl[token_type])
        payload = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": subject,
            "iat": now,
            "exp": expires_at,
            "jti": str(jti),
            "typ": token_type,
            **(claims or {}),
        }
        token = jwt.encode(
            payload,
            self.keys.signing_key,
            algorithm=self.keys.algorithm,
            headers={"kid": self.keys.kid},
        )
        return IssuedToken(token, jti, expires_at, self.ttl[token_type])

    def verify(self, token: str, *token_types: str) -> dict[str, Any]:
        """Return the claims of a valid token of one of TOKEN_TYPES, else raise a 401.

        A token verified before is taken from memory while it has not expired: the key
        ring, issuer and audience it was checked against do not change in a process.
        """
        claims = self._verified.get(token)
        if claims is None or claims["exp"] <= time.time():
            claims = self._decode(token)
            self._remember(token, claims)
        if claims["typ"] not in token_types:
            kind = token_types[0]
            raise unauthorized(f"{'An' if kind[0] in 'aeiou' else 'A'} {kind} token is required.")
        return claims

    def _decode(self, token: str) -> dict[str, Any]:
        try:
            key = self.keys.find_for(jwt.get_unverified_header(token))
            if key is None:
                raise unauthorized("The token's signing key is unknown.")
            return jwt.decode(
                token,
                key.key,
                algorithms=[key.algorithm],
                audience=self.audience,
                issuer=self.issuer,
                options={"require": REQUIRED_CLAIMS},
            )
        except jwt.InvalidTokenError as exc:
            raise unauthorized(f"The token is invalid: {exc}") from None

    def _remember(self, token: str, claims: dict[str, Any]) -> None:
        """Keep CLAIMS for TOKEN, forgetting the oldest token when full."""
        with self._verified_lock:
            self._verified.pop(token, None)
            if len(self._verified) >= VERIFIED_TOKENS:
                del self._verified[next(iter(self._verified))]
            self._verified[token] = claims


def unauthorized(detail: str) -> APIError:
    """Build the 401 every authentication failure answers with."""
    return APIError(401, detail, headers={"WWW-Authenticate": 'Bearer realm="time-tracker"'})


def forbidden(detail: str, scope: str | None = None) -> APIError:
    """Build a 403; with SCOPE, say in WWW-Authenticate which scope was missing."""
    challenge = 'Bearer realm="time-tracker", error="insufficient_scope"'
    headers = {"WWW-Authenticate": f'{challenge}, scope="{scope}"'} if scope else None
    return APIError(403, detail, headers=headers)


def _bearer_token() -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthorized("A bearer access token is required.")
    return token.strip()


def _scopes_claim(claims: dict[str, Any], default: frozenset[str]) -> frozenset[str]:
    if "scope" not in claims:
        return default
    scope = claims["scope"]
    if not isinstance(scope, str):
        raise unauthorized("The token's scope claim is not a string.")
    return parse_scopes(scope)


def _user_principal(claims: dict[str, Any]) -> Principal:
    """Apply the user-token rules: an active user at the token's version, person scopes only.

    The role is read now: the token's scopes count only as far as the role still grants them.
    """
    scopes = _scopes_claim(claims, USER_SCOPES)
    if "client_id" in claims or not scopes <= PERSON_SCOPES:
        raise unauthorized("The token's claims are not those of a user token.")
    try:
        subject = uuid.UUID(claims["sub"])
    except (ValueError, AttributeError, TypeError):
        raise unauthorized("The token's subject is not a user.") from None
    db.connect(reuse_if_open=True)
    user = _active_user(User.id == subject)
    if claims.get("ver", 0) != user.token_version:
        raise unauthorized("The token was revoked: the password changed or the account was off.")
    return Principal(ACCESS, str(subject), scopes & ROLE_SCOPES[user.role], user.role)


def _active_user(where: peewee.Expression) -> User:
    user = User.select(User.role, User.token_version).where(where & User.is_active).first()
    if user is None:
        raise unauthorized("The account is not active.")
    return user


def hash_token(token: str) -> str:
    """Return the hex SHA-256 digest a personal access token or invitation is stored as."""
    return hashlib.sha256(token.encode()).hexdigest()


def _personal_principal(token: str) -> Principal:
    """Apply the personal-token rules: unrevoked, unexpired, its owner active, the owner's
    role still granting its scopes."""
    db.connect(reuse_if_open=True)
    found = (
        PersonalToken.select(PersonalToken.id, PersonalToken.scopes, User.id, User.role)
        .join(User)
        .where(
            (PersonalToken.token_hash == hash_token(token))
            & PersonalToken.revoked_at.is_null()
            & (PersonalToken.expires_at.is_null() | (PersonalToken.expires_at > utcnow()))
            & User.is_active
        )
        .tuples()
        .first()
    )
    if found is None:
        raise unauthorized("The personal access token is unknown, revoked or expired.")
    token_id, scopes, user_id, role = found
    scopes = parse_scopes(scopes) & ROLE_SCOPES[role]
    return Principal(PERSONAL, str(user_id), scopes, role, token_id=str(token_id))


def _service_principal(claims: dict[str, Any]) -> Principal:
    """Apply the service-token rules: an active client, scopes it still holds."""
    scopes = _scopes_claim(claims, frozenset())
    if claims.get("client_id") != claims["sub"] or not scopes <= SERVICE_SCOPES:
        raise unauthorized("The token's claims are not those of a service token.")
    db.connect(reuse_if_open=True)
    client = ServiceClient.active(claims["sub"])
    if client is None:
        raise unauthorized("The service client is unknown or revoked.")
    if not scopes <= client.scope_set:
        raise unauthorized("The token carries scopes the client no longer holds.")
    return Principal(SERVICE, claims["sub"], scopes)


def authenticate(token: str) -> Principal:
    """Verify a bearer TOKEN (a JWT or a personal access token) and return whom it speaks for."""
    if token.startswith(PERSONAL_TOKEN_PREFIX):
        return _personal_principal(token)
    claims = current_app.extensions["tokens"].verify(token, ACCESS, SERVICE)
    if claims["typ"] == SERVICE:
        return _service_principal(claims)
    return _user_principal(claims)


def require_auth(
    blueprint: Blueprint,
    *,
    read: str | None = None,
    write: str | None = None,
    acting_user: bool = True,
    sign_in_only: bool = False,
) -> None:
    """Make every route of BLUEPRINT require a valid token holding the route's scope.

    The request counts against the principal's API limit once the token is verified.
    READ is the scope GET and HEAD need, WRITE the one every other method needs. A
    method without a scope is for user tokens only: service tokens get a 403. With
    ACTING_USER (routes on one user's data), the acting user is settled before the view
    runs, so a service token without `entries:any-user` and `?user_id=` never gets further.
    With SIGN_IN_ONLY, only a sign-in's access token is accepted (others get a 403).
    """

    def check() -> None:
        if request.method == "OPTIONS":
            return  # a CORS preflight carries no credentials and reads no data
        principal = authenticate(_bearer_token())
        g.principal = principal
        limit_api(principal)
        if sign_in_only and principal.kind != ACCESS:
            raise forbidden("This route needs the access token of a sign-in.")
        needed = read if request.method in SAFE_METHODS else write
        if needed is None:
            if principal.is_service:
                raise forbidden("This route accepts user tokens only.")
            return
        if needed not in principal.scopes:
            raise forbidden(f"This request needs the scope '{needed}'.", needed)
        if acting_user:
            current_user_id()

    blueprint.before_request(check)
    _protected.add(blueprint)


def limit_api(principal: Principal) -> None:
    """Count the request against PRINCIPAL's API limit (RATE_LIMIT_API); 429 when it is over."""
    limit = current_app.extensions.get("api_limit")
    if limit is not None:
        limit.hit(principal.rate_key)


def is_protected(blueprint: Blueprint) -> bool:
    """Tell whether BLUEPRINT's routes require a token (the contract marks them so)."""
    return blueprint in _protected


def current_principal() -> Principal:
    """Return whom the request's token speaks for."""
    return g.principal


def current_user_id() -> uuid.UUID:
    """Return the acting user: the token's user, or `?user_id=` for an any-user service."""
    if "acting_user_id" not in g:
        g.acting_user_id = _acting_user(current_principal(), request.args.get("user_id"))
    return g.acting_user_id


def _user_id_param(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        errors = [{"field": "user_id", "message": "must be a UUID"}]
        raise APIError(422, "The request is invalid.", errors=errors) from None


def _acting_user(principal: Principal, raw: str | None) -> uuid.UUID:
    if principal.is_service and ENTRIES_ANY_USER not in principal.scopes:
        raise forbidden(
            f"A service token needs the scope '{ENTRIES_ANY_USER}' to act for a user.",
            ENTRIES_ANY_USER,
        )
    if raw is None:
        if principal.is_service:
            errors = [{"field": "user_id", "message": "is required with a service token"}]
            raise APIError(422, "The request is invalid.", errors=errors)
        return principal.user_id
    user_id = _user_id_param(raw)
    if user_id == principal.user_id:
        return user_id
    if not may_see(principal, user_id):
        raise forbidden(
            "Only admins, the managers of the user's teams and service tokens with "
            f"'{ENTRIES_ANY_USER}' may act for another user."
        )
    if not User.select().where((User.id == user_id) & User.is_active).exists():
        raise APIError(404, "The user was not found.")
    return user_id
