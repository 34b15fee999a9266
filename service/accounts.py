"""Accounts and sessions: register, log in, rotate and revoke refresh tokens."""

from __future__ import annotations

import hashlib
import math
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import peewee
from limits import RateLimitItem
from limits.strategies import RateLimiter

from service import invitations
from service.config import CLOSED
from service.config import INVITE
from service.db import db
from service.errors import APIError
from service.models import RefreshToken
from service.models import User
from service.models import utcnow
from service.permissions import ACCESS
from service.permissions import REFRESH
from service.permissions import ROLE_SCOPES
from service.permissions import format_scopes
from service.security import IssuedToken
from service.security import Passwords
from service.security import Tokens
from service.security import forbidden
from service.security import unauthorized

# The `typ` of a one-time password-reset token.
RESET = "password-reset"


@dataclass(frozen=True)
class Session:
    """The tokens a successful login or refresh hands out."""

    access_token: str
    refresh_token: str
    expires_in: int

    def as_dict(self) -> dict[str, object]:
        """Return the OAuth-style token answer."""
        return {
            "access_token": self.access_token,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "refresh_token": self.refresh_token,
        }


def account_digest(name: str) -> str:
    """Name an account (an email or a client id) in the limit store without storing it."""
    return hashlib.sha256(name.strip().lower().encode()).hexdigest()[:32]


class LoginLockout:
    """Refuse sign-ins to an account for a while after too many failed ones.

    Unknown emails are counted and locked exactly like real ones, so the lockout tells
    nobody which accounts exist. COUNTERS returns the sign-in limiter's strategy each time,
    so the lockout counts where the limits do (in memory while their store is down).
    """

    def __init__(
        self, counters: Callable[[], RateLimiter], limit: RateLimitItem, prefix: str
    ) -> None:
        self._counters = counters
        self._limit = limit
        self._prefix = prefix

    def _key(self, email: str) -> tuple[str, str, str]:
        return self._prefix, "login-failures", account_digest(email)

    def check(self, email: str) -> None:
        """Raise a 429 while EMAIL is locked out."""
        counters = self._counters()
        if counters.test(self._limit, *self._key(email)):
            return
        reset = counters.get_window_stats(self._limit, *self._key(email)).reset_time
        raise APIError(
            429,
            "Too many failed sign-ins for this account; retry after the seconds in Retry-After.",
            headers={"Retry-After": str(max(1, math.ceil(reset - time.time())))},
        )

    def failed(self, email: str) -> None:
        """Count one failed sign-in for EMAIL."""
        self._counters().hit(self._limit, *self._key(email))

    def succeeded(self, email: str) -> None:
        """Forget EMAIL's failed sign-ins."""
        self._counters().clear(self._limit, *self._key(email))


# What the password views need: the hasher, the token signer and the sign-in lockout.
AccountServices = tuple[Passwords, Tokens, LoginLockout]


def register(
    email: str,
    password: str,
    passwords: Passwords,
    policy: str,
    invitation: str | None = None,
) -> User:
    """Sign someone up under POLICY (REGISTRATION), with the INVITATION token if any.

    Without an invitation (policy open), a taken email answers alike and creates nothing.
    With one, the account gets its role and teams; the invitation names the email, so a
    taken email is a 409 and the invitation stays unspent.
    """
    if policy == CLOSED:
        raise forbidden("Sign-up is closed: ask an admin for an account.")
    if invitation is None and policy == INVITE:
        raise forbidden("Sign-up needs an invitation: ask an admin or your team's manager.")
    password_hash = passwords.hash(password)
    if invitation is None:
        return _register_openly(email.lower(), password_hash)
    return _register_invited(email.lower(), password_hash, invitation)


def _register_openly(email: str, password_hash: str) -> User:
    """Create an account; for a taken email, answer alike but create nothing.

    Telling the caller the address is taken would let anyone test which people have
    accounts; the same work (one bcrypt hash, one insert) is done either way.
    """
    try:
        with db.atomic():
            return User.create(email=email, password_hash=password_hash)
    except peewee.IntegrityError:
        return User(id=uuid.uuid4(), email=email, is_active=True, created_at=utcnow())


def _register_invited(email: str, password_hash: str, token: str) -> User:
    """Spend the invitation and create the account with its role and teams, all or nothing."""
    try:
        with db.atomic():
            granted = invitations.redeem(token, email)
            user = User.create(email=email, password_hash=password_hash, role=granted.role)
            invitations.join_teams(user.id, granted)
            return user
    except peewee.IntegrityError:
        raise APIError(409, "An account with this email exists already: sign in.") from None


def create_user(email: str, password: str, role: str, passwords: Passwords) -> User:
    """Create an account with ROLE, as an operator does (`flask users create`); 409 if taken."""
    password_hash = passwords.hash(password)
    try:
        with db.atomic():
            return User.create(email=email.lower(), password_hash=password_hash, role=role)
    except peewee.IntegrityError:
        raise APIError(409, f"A user with the email {email.lower()} exists already.") from None


def change_password(
    user_id: uuid.UUID, current: str, new: str, services: AccountServices
) -> Session:
    """Set a new password after checking the current one; every other session ends.

    The token version rises (every access token stops) and every refresh token is revoked;
    the caller gets a new session. Wrong guesses count towards the account's lockout.
    """
    passwords, tokens, lockout = services
    user = get_active_user(user_id)
    lockout.check(user.email)
    if not passwords.check(current, user.password_hash):
        lockout.failed(user.email)
        raise forbidden("The current password is wrong.")
    lockout.succeeded(user.email)
    if not _set_password(user.id, passwords.hash(new)):
        raise unauthorized("The account is not active.")
    return _open_session(User.get_by_id(user.id), tokens)


def issue_reset_token(user: User, tokens: Tokens) -> IssuedToken:
    """Sign a one-time password-reset token for USER (`flask users reset-password`).

    It carries the user's token version: using it raises the version, which spends it.
    """
    return tokens.issue(str(user.id), RESET, claims={"ver": user.token_version})


def reset_password(token: str, password: str, services: AccountServices) -> None:
    """Set the password a reset token allows, once; every session of the user ends and the
    account's sign-in lockout is lifted."""
    passwords, tokens, lockout = services
    claims = tokens.verify(token, RESET)
    try:
        user_id = uuid.UUID(claims["sub"])
    except (ValueError, AttributeError, TypeError):
        raise unauthorized("The reset token's subject is not a user.") from None
    version = claims.get("ver")
    if not isinstance(version, int):
        raise unauthorized("The reset token carries no token version.")
    if not _set_password(user_id, passwords.hash(password), version):
        raise unauthorized("The reset token was used already, or the account changed since.")
    lockout.succeeded(User.get_by_id(user_id).email)


def _set_password(user_id: uuid.UUID, password_hash: str, version: int | None = None) -> bool:
    """Store a new password for the active user (at VERSION, if given) and end every session
    of theirs; tell whether it was stored. One UPDATE decides, so a reset token works once."""
    where = (User.id == user_id) & User.is_active
    if version is not None:
        where &= User.token_version == version
    with db.atomic():
        changed = (
            User.update(password_hash=password_hash, token_version=User.token_version + 1)
            .where(where)
            .execute()
        )
        if changed:
            _revoke_all(str(user_id))
    return bool(changed)


def login(
    email: str, password: str, passwords: Passwords, tokens: Tokens, lockout: LoginLockout
) -> Session:
    """Check the credentials and open a session; every failure looks the same."""
    lockout.check(email)
    user = User.get_or_none(User.email == email.lower())
    known = user is not None and user.is_active
    if not passwords.check(password, user.password_hash if known else None):
        lockout.failed(email)
        raise unauthorized("The email or password is wrong.")
    lockout.succeeded(email)
    return _open_session(user, tokens)


def refresh(refresh_token: str, tokens: Tokens) -> Session:
    """Rotate a refresh token: it works once; a reused one revokes the user's sessions.

    A token from before a password change or a deactivation (an older `ver`) is refused
    without counting as reuse: the other devices of someone who changed their password
    try theirs, and must not end the session the change opened.
    """
    claims = tokens.verify(refresh_token, REFRESH)
    user = get_active_user(uuid.UUID(claims["sub"]))
    if claims.get("ver", 0) != user.token_version:
        raise unauthorized("The session ended: the password changed or the account was off.")
    with db.atomic():
        spent = (
            RefreshToken.update(used_at=utcnow())
            .where((RefreshToken.jti == uuid.UUID(claims["jti"])) & RefreshToken.used_at.is_null())
            .execute()
        )
        if spent:
            return _open_session(user, tokens)
    _revoke_all(claims["sub"])
    raise unauthorized("The refresh token was already used or revoked.")


def logout(refresh_token: str, tokens: Tokens) -> None:
    """Revoke a refresh token so it can no longer be used."""
    claims = tokens.verify(refresh_token, REFRESH)
    RefreshToken.update(used_at=utcnow()).where(
        (RefreshToken.jti == uuid.UUID(claims["jti"])) & RefreshToken.used_at.is_null()
    ).execute()


def get_active_user(user_id: uuid.UUID) -> User:
    """Return the active user (401 when the account is gone or disabled)."""
    user = User.get_or_none((User.id == user_id) & User.is_active)
    if user is None:
        raise unauthorized("The account is not active.")
    return user


def deactivate(user_id: uuid.UUID) -> bool:
    """Turn an account off: sign-in refused, every token of it (access, refresh, personal)
    refused from the next request. Its data stays. Return whether it was active."""
    with db.atomic():
        changed = (
            User.update(is_active=False, token_version=User.token_version + 1)
            .where((User.id == user_id) & User.is_active)
            .execute()
        )
        _revoke_all(str(user_id))
    return bool(changed)


def reactivate(user_id: uuid.UUID) -> bool:
    """Turn an account back on; its old tokens stay revoked. Return whether it was off."""
    changed = User.update(is_active=True).where((User.id == user_id) & ~User.is_active).execute()
    return bool(changed)


def set_role(user_id: uuid.UUID, role: str) -> bool:
    """Give the user ROLE (one of models.ROLES); return whether the user exists."""
    return bool(User.update(role=role).where(User.id == user_id).execute())


def _revoke_all(subject: str) -> None:
    try:
        user_id = uuid.UUID(subject)
    except ValueError:
        return
    RefreshToken.update(used_at=utcnow()).where(
        (RefreshToken.user == user_id) & RefreshToken.used_at.is_null()
    ).execute()


def _open_session(user: User, tokens: Tokens) -> Session:
    claims = {"scope": format_scopes(ROLE_SCOPES[user.role]), "ver": user.token_version}
    access = tokens.issue(str(user.id), ACCESS, claims=claims)
    refresh_token = tokens.issue(str(user.id), REFRESH, claims={"ver": user.token_version})
    RefreshToken.create(jti=refresh_token.jti, user=user.id, expires_at=refresh_token.expires_at)
    return Session(access.token, refresh_token.token, access.expires_in)
