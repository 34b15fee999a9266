"""Rate limits on the sign-in routes (flask-limiter) and the failed-login lockout.

Limits apply only to the endpoints named in LIMITED_ENDPOINTS, each per client address
and per account (the email, or the service client's id), so probes and metrics are never
limited. Counters live in RATE_LIMIT_STORAGE_URI; when that storage fails, the limiter
falls back to per-process memory rather than refusing every sign-in.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from urllib.parse import unquote_plus

from flask import Flask
from flask import request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from limits import RateLimitItemPerSecond

from service.errors import APIError
from service.schemas import load_json

LIMITED_BLUEPRINT = "auth"
LIMITED_ENDPOINTS = tuple(f"{LIMITED_BLUEPRINT}.{view}" for view in ("register", "login", "token"))
TOO_MANY = "Too many requests; retry after the number of seconds in Retry-After."


def _digest(text: str) -> str:
    """Name an account in the counter store without storing the email itself."""
    return hashlib.sha256(text.strip().lower().encode()).hexdigest()[:32]


def account_key() -> str:
    """Return the account a sign-in request is for, or its address when it names none."""
    basic = request.authorization
    if basic is not None and basic.type == "basic" and basic.username:
        return f"client:{_digest(unquote_plus(basic.username))}"
    if request.form.get("client_id"):
        return f"client:{_digest(request.form['client_id'])}"
    try:
        body = load_json(request.get_data(cache=True))
    except APIError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("email"), str):
        return f"account:{_digest(body['email'])}"
    return f"address:{get_remote_address()}"


class LoginLockout:
    """Refuse sign-ins to an account for a while after too many failed ones.

    Unknown emails are counted and locked exactly like real ones, so the lockout tells
    nobody which accounts exist.
    """

    def __init__(self, limiter: Limiter, attempts: int, seconds: int, prefix: str) -> None:
        self._limiter = limiter
        self._limit = RateLimitItemPerSecond(attempts, seconds)
        self._prefix = prefix

    def _key(self, email: str) -> tuple[str, str, str]:
        return (self._prefix, "login-failures", _digest(email))

    def check(self, email: str) -> None:
        """Raise a 429 while EMAIL is locked out."""
        strategy = self._limiter.limiter
        if strategy.test(self._limit, *self._key(email)):
            return
        reset = strategy.get_window_stats(self._limit, *self._key(email)).reset_time
        retry_after = max(1, int(reset - time.time()))
        raise APIError(
            429,
            "Too many failed sign-ins for this account; retry after the seconds in Retry-After.",
            headers={"Retry-After": str(retry_after)},
        )

    def failed(self, email: str) -> None:
        """Count one failed sign-in for EMAIL."""
        self._limiter.limiter.hit(self._limit, *self._key(email))

    def succeeded(self, email: str) -> None:
        """Forget EMAIL's failed sign-ins."""
        self._limiter.limiter.clear(self._limit, *self._key(email))


def _limited(limiter: Limiter, app: Flask, view: Callable) -> Callable:
    per_account = limiter.limit(
        lambda: app.config["RATE_LIMIT_PER_ACCOUNT"], key_func=account_key, error_message=TOO_MANY
    )
    per_address = limiter.limit(
        lambda: app.config["RATE_LIMIT_PER_ADDRESS"],
        key_func=get_remote_address,
        error_message=TOO_MANY,
    )
    return per_address(per_account(view))


def _hooks_on_blueprint(app: Flask, blueprint: str, install: Callable[[], None]) -> None:
    """Call INSTALL, then move the app-wide request hooks it added onto BLUEPRINT's requests.

    Flask-Limiter hooks every request to look for default and blueprint limits; there are
    none here (the decorators check their own), and that search cost a third of /livez.
    """
    hook_lists = (app.before_request_funcs, app.after_request_funcs, app.teardown_request_funcs)
    before = [len(hooks.get(None, ())) for hooks in hook_lists]
    install()
    for hooks, count in zip(hook_lists, before, strict=True):
        hooks.setdefault(blueprint, []).extend(hooks[None][count:])
        del hooks[None][count:]


def init_rate_limits(app: Flask) -> None:
    """Limit the sign-in endpoints and set up the lockout, both in the configured storage."""
    limiter = Limiter(
        key_func=get_remote_address,
        storage_uri=app.config["RATE_LIMIT_STORAGE_URI"],
        key_prefix=app.config["RATE_LIMIT_KEY_PREFIX"],
        headers_enabled=True,
        in_memory_fallback_enabled=True,
    )
    _hooks_on_blueprint(app, LIMITED_BLUEPRINT, lambda: limiter.init_app(app))
    for endpoint in LIMITED_ENDPOINTS:
        app.view_functions[endpoint] = _limited(limiter, app, app.view_functions[endpoint])
    app.extensions["lockout"] = LoginLockout(
        limiter,
        app.config["LOGIN_LOCKOUT_ATTEMPTS"],
        app.config["LOGIN_LOCKOUT_SECONDS"],
        app.config["RATE_LIMIT_KEY_PREFIX"],
    )
