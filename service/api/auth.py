"""Sign-up, sign-in, sessions and service tokens (`/auth`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import unquote_plus

from flask import Blueprint
from flask import Flask
from flask import current_app
from flask import jsonify
from flask import request
from flask_limiter import Limiter
from limits import RateLimitItemPerSecond

from service import accounts
from service import clients
from service import people
from service.db import use_database
from service.errors import APIError
from service.openapi import documented
from service.permissions import ACCESS
from service.schemas.json_body import load_json
from service.schemas.json_body import parse_json_body
from service.schemas.requests import Credentials
from service.schemas.requests import PasswordChange
from service.schemas.requests import PasswordReset
from service.schemas.requests import RefreshRequest
from service.schemas.requests import Registration
from service.schemas.requests import TokenRequest
from service.schemas.responses import Account
from service.schemas.responses import OAuthProblem
from service.schemas.responses import Person
from service.schemas.responses import ServiceToken
from service.schemas.responses import TokenPair
from service.schemas.responses import dump
from service.security import current_principal
from service.security import current_user_id
from service.security import forbidden
from service.security import require_auth

bp = Blueprint("auth", __name__, url_prefix="/auth")
use_database(bp)

me_bp = Blueprint("me", __name__, url_prefix="/auth")
require_auth(me_bp)
use_database(me_bp)

SIGN_IN_VIEWS = ("register", "login", "token", "reset_password")
TOO_MANY = "Too many requests; retry after the number of seconds in Retry-After."
# A hung store delays a sign-in by at most this long before the limits count in memory.
STORE_TIMEOUT_SECONDS = 1


def _passwords():
    return current_app.extensions["passwords"]


def _tokens():
    return current_app.extensions["tokens"]


def _account_services() -> accounts.AccountServices:
    extensions = current_app.extensions
    return extensions["passwords"], extensions["tokens"], extensions["lockout"]


@bp.post("/register")
@documented({201: Account}, body=Registration, errors=(403, 409, 429))
def register():
    """Create an account (with an invitation's token, when sign-up is by invitation)."""
    body = parse_json_body(Registration)
    policy = current_app.config["REGISTRATION"]
    user = accounts.register(body.email, body.password, _passwords(), policy, body.invitation)
    return jsonify(dump(Account, user)), 201


@bp.post("/login")
@documented({200: TokenPair}, body=Credentials, errors=(401, 429))
def login():
    """Exchange email and password for an access and a refresh token."""
    body = parse_json_body(Credentials)
    lockout = current_app.extensions["lockout"]
    session = accounts.login(body.email, body.password, _passwords(), _tokens(), lockout)
    return jsonify(session.as_dict())


@bp.post("/refresh")
@documented({200: TokenPair}, body=RefreshRequest, errors=(401,))
def refresh():
    """Rotate a refresh token into a new pair of tokens."""
    body = parse_json_body(RefreshRequest)
    return jsonify(accounts.refresh(body.refresh_token, _tokens()).as_dict())


@bp.post("/logout")
@documented({204: None}, body=RefreshRequest, errors=(401,))
def logout():
    """Revoke a refresh token."""
    body = parse_json_body(RefreshRequest)
    accounts.logout(body.refresh_token, _tokens())
    return "", 204


@bp.post("/password/reset")
@documented({204: None}, body=PasswordReset, errors=(401, 429))
def reset_password():
    """Set a new password with a one-time reset token; every session of the account ends."""
    body = parse_json_body(PasswordReset)
    accounts.reset_password(body.token, body.password, _account_services())
    return "", 204


@bp.post("/token")
@documented(
    {200: ServiceToken, 400: OAuthProblem, 401: OAuthProblem},
    errors=(429,),
    body=TokenRequest,
    body_media="application/x-www-form-urlencoded",
)
def token():
    """Issue a service access token by the client-credentials grant (RFC 6749 4.4)."""
    auth = request.authorization
    basic = (auth.username or "", auth.password or "") if auth and auth.type == "basic" else None
    form = request.form.to_dict(flat=False)
    return jsonify(clients.grant_token(basic, form, _tokens()))


@me_bp.get("/me")
@documented({200: Person})
def me():
    """Return the signed-in user and the teams they are in."""
    user = accounts.get_active_user(current_user_id())
    return jsonify(dump(Person, people.person(user)))


@me_bp.post("/password")
@documented({200: TokenPair}, body=PasswordChange, errors=(429,))
def change_password():
    """Change the password; every other session ends, the caller gets a new pair of tokens."""
    if current_principal().kind != ACCESS:
        raise forbidden("Only a sign-in's access token may change the password.")
    body = parse_json_body(PasswordChange)
    session = accounts.change_password(
        current_principal().user_id, body.current_password, body.new_password, _account_services()
    )
    return jsonify(session.as_dict())


def client_address() -> str:
    """Return the client's address (the proxies' view when TRUSTED_PROXY_COUNT is set)."""
    return request.remote_addr or "unknown"


def account_key() -> str:
    """Return the account a sign-in request is for, or its address when it names none."""
    basic = request.authorization
    if basic is not None and basic.type == "basic" and basic.username:
        return f"client:{accounts.account_digest(unquote_plus(basic.username))}"
    if request.form.get("client_id"):
        return f"client:{accounts.account_digest(request.form['client_id'])}"
    try:
        body = load_json(request.get_data(cache=True))
    except APIError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("email"), str):
        return f"account:{accounts.account_digest(body['email'])}"
    return f"address:{client_address()}"


def limit_sign_in(app: Flask) -> None:
    """Limit the sign-in views per address and per account; lock out repeated failures."""
    config = app.config
    limiter = Limiter(
        client_address,
        strategy="fixed-window",
        storage_uri=config["RATE_LIMIT_STORAGE_URI"],
        storage_options={
            "socket_connect_timeout": STORE_TIMEOUT_SECONDS,
            "socket_timeout": STORE_TIMEOUT_SECONDS,
        },
        in_memory_fallback_enabled=True,
        key_prefix=config["RATE_LIMIT_KEY_PREFIX"],
        headers_enabled=True,
    )
    with request_hooks_confined_to(app, bp.name):
        limiter.init_app(app)
    per_address = limiter.limit(
        config["RATE_LIMIT_PER_ADDRESS"], scope="address", error_message=TOO_MANY
    )
    per_account = limiter.limit(
        config["RATE_LIMIT_PER_ACCOUNT"],
        key_func=account_key,
        scope="account",
        error_message=TOO_MANY,
    )
    for view in SIGN_IN_VIEWS:
        endpoint = f"{bp.name}.{view}"
        app.view_functions[endpoint] = per_address(per_account(app.view_functions[endpoint]))
    app.extensions["lockout"] = accounts.LoginLockout(
        lambda: limiter.limiter,
        RateLimitItemPerSecond(config["LOGIN_LOCKOUT_ATTEMPTS"], config["LOGIN_LOCKOUT_SECONDS"]),
        config["RATE_LIMIT_KEY_PREFIX"],
    )


@contextmanager
def request_hooks_confined_to(app: Flask, blueprint: str) -> Iterator[None]:
    """Move the app-wide request hooks an extension adds inside the block to BLUEPRINT.

    flask-limiter hooks every request of the app; only the sign-in routes are limited,
    so the probes and the API should not run its hooks.
    """
    registries = (app.before_request_funcs, app.after_request_funcs, app.teardown_request_funcs)
    before = [list(registry.get(None, [])) for registry in registries]
    yield
    for registry, kept in zip(registries, before, strict=True):
        added = [hook for hook in registry.get(None, []) if hook not in kept]
        registry[None] = kept
        registry.setdefault(blueprint, []).extend(added)
