"""Service clients and the OAuth 2.0 client-credentials grant (RFC 6749 section 4.4).

A client secret is 256 random bits, so it cannot be guessed or brute-forced from its
digest; a slow password hash (bcrypt) would add ~0.3 s to every token request and no
safety. Only its SHA-256 digest is stored, and digests are compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote_plus

from service.errors import OAuthError
from service.models import ServiceClient
from service.models import utcnow
from service.permissions import SERVICE
from service.permissions import SERVICE_SCOPES
from service.permissions import format_scopes
from service.permissions import parse_scopes
from service.security import Tokens

SECRET_BYTES = 32
GRANT_TYPE = "client_credentials"
_DUMMY_DIGEST = hashlib.sha256(b"no such client").hexdigest()


@dataclass(frozen=True)
class NewClient:
    """A client just created and its secret, which is shown this once only."""

    client: ServiceClient
    secret: str


def hash_secret(secret: str) -> str:
    """Return the hex SHA-256 digest of SECRET."""
    return hashlib.sha256(secret.encode()).hexdigest()


def create_client(name: str, scopes: Iterable[str]) -> NewClient:
    """Create a client allowed SCOPES; unknown scopes are a ValueError."""
    wanted = frozenset(scopes)
    unknown = wanted - SERVICE_SCOPES
    if unknown or not wanted:
        raise ValueError(
            f"unknown or no scopes: {format_scopes(unknown)}; choose from "
            f"{format_scopes(SERVICE_SCOPES)}"
        )
    if not 1 <= len(name) <= 100:
        raise ValueError("the name must be 1 to 100 characters long")
    secret = secrets.token_urlsafe(SECRET_BYTES)
    client = ServiceClient.create(
        name=name, secret_hash=hash_secret(secret), scopes=format_scopes(wanted)
    )
    return NewClient(client, secret)


def list_clients() -> list[ServiceClient]:
    """Return every client, revoked ones too, oldest first."""
    return list(ServiceClient.select().order_by(ServiceClient.created_at, ServiceClient.id))


def revoke_client(client_id: uuid.UUID) -> bool:
    """Revoke a client: its secret and every token it holds stop working at once."""
    revoked = (
        ServiceClient.update(revoked_at=utcnow())
        .where((ServiceClient.id == client_id) & ServiceClient.revoked_at.is_null())
        .execute()
    )
    return bool(revoked)


def authenticate_client(client_id: str, secret: str) -> ServiceClient:
    """Return the active client whose secret is SECRET, else raise invalid_client."""
    client = ServiceClient.active(client_id)
    expected = client.secret_hash if client is not None else _DUMMY_DIGEST
    if not hmac.compare_digest(expected, hash_secret(secret)) or client is None:
        raise OAuthError("invalid_client", "Client authentication failed.", status=401)
    return client


def _credentials(basic: tuple[str, str] | None, form: Mapping[str, str]) -> tuple[str, str]:
    in_form = "client_id" in form or "client_secret" in form
    if basic is not None and in_form:
        raise OAuthError("invalid_request", "Use one client authentication method, not two.")
    if basic is not None:
        return unquote_plus(basic[0]), unquote_plus(basic[1])
    if in_form:
        return form.get("client_id", ""), form.get("client_secret", "")
    raise OAuthError("invalid_client", "Client authentication is required.", status=401)


def _granted_scopes(client: ServiceClient, requested: str | None) -> frozenset[str]:
    if requested is None:
        return client.scope_set
    scopes = parse_scopes(requested)
    if not scopes or not scopes <= client.scope_set:
        raise OAuthError("invalid_scope", "The requested scope exceeds the client's grant.")
    return scopes


def grant_token(
    basic: tuple[str, str] | None, form: Mapping[str, list[str]], tokens: Tokens
) -> dict[str, object]:
    """Answer a client-credentials token request (FORM maps each field to its values)."""
    repeated = sorted(name for name, values in form.items() if len(values) > 1)
    if repeated:
        raise OAuthError("invalid_request", f"Parameters sent twice: {', '.join(repeated)}.")
    fields = {name: values[0] for name, values in form.items()}
    client = authenticate_client(*_credentials(basic, fields))
    if "grant_type" not in fields:
        raise OAuthError("invalid_request", "grant_type is required.")
    if fields["grant_type"] != GRANT_TYPE:
        raise OAuthError("unsupported_grant_type", f"Only {GRANT_TYPE} is supported.")
    scopes = _granted_scopes(client, fields.get("scope"))
    client_id = str(client.id)
    issued = tokens.issue(
        client_id, SERVICE, claims={"client_id": client_id, "scope": format_scopes(scopes)}
    )
    return {
        "access_token": issued.token,
        "token_type": "Bearer",
        "expires_in": issued.expires_in,
        "scope": format_scopes(scopes),
    }
