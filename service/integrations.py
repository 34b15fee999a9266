"""Users' credentials for the sources they sync from, encrypted at rest with Fernet."""

from __future__ import annotations

import uuid

from cryptography.fernet import Fernet
from cryptography.fernet import InvalidToken

from service.errors import APIError
from service.models import Integration
from service.models import utcnow
from service.schemas.requests import IntegrationIn

SOURCES = ("toggl", "tempo")


class Vault:
    """Encrypt and decrypt tokens with the INTEGRATIONS_KEY."""

    def __init__(self, key: str) -> None:
        self._fernet = Fernet(key)

    def encrypt(self, secret: str) -> str:
        """Return SECRET as Fernet ciphertext text."""
        return self._fernet.encrypt(secret.encode()).decode()

    def decrypt(self, ciphertext: str) -> str:
        """Return the secret of CIPHERTEXT; a key change makes stored tokens unreadable (409)."""
        try:
            return self._fernet.decrypt(ciphertext.encode()).decode()
        except InvalidToken:
            raise APIError(
                409,
                "A stored token cannot be decrypted with the current INTEGRATIONS_KEY; "
                "store the integration again.",
            ) from None


def vault(key: str | None) -> Vault:
    """Return the vault of KEY; without a key integrations are off (503, plain text never)."""
    if not key:
        raise APIError(
            503,
            "Integrations are disabled: the server has no INTEGRATIONS_KEY to encrypt tokens "
            "with. Ask the operator to set one.",
        )
    return Vault(key)


def save_integration(
    user_id: uuid.UUID, source: str, data: IntegrationIn, keys: Vault
) -> Integration:
    """Create or replace the user's credentials for SOURCE."""
    now = utcnow()
    values = {
        Integration.token_ciphertext: keys.encrypt(data.api_token),
        Integration.workspace_id: getattr(data, "workspace_id", None),
        Integration.account_id: getattr(data, "account_id", None),
        Integration.timezone: getattr(data, "timezone", "UTC"),
        Integration.jira_site: getattr(data, "jira_site", None),
        Integration.jira_email: getattr(data, "jira_email", None),
        Integration.jira_token_ciphertext: (
            keys.encrypt(data.jira_token) if getattr(data, "jira_token", None) else None
        ),
        Integration.updated_at: now,
    }
    row = {Integration.id: uuid.uuid4(), Integration.user: user_id, Integration.source: source}
    Integration.insert({**row, **values, Integration.created_at: now}).on_conflict(
        conflict_target=[Integration.user, Integration.source], update=values
    ).execute()
    return get_integration(user_id, source)


def get_integration(user_id: uuid.UUID, source: str) -> Integration:
    """Return the user's integration for SOURCE (404 when there is none)."""
    return Integration.get((Integration.user == user_id) & (Integration.source == source))


def list_integrations(user_id: uuid.UUID) -> list[Integration]:
    """Return the user's integrations, by source."""
    query = Integration.select().where(Integration.user == user_id)
    return list(query.order_by(Integration.source))


def delete_integration(user_id: uuid.UUID, source: str) -> None:
    """Forget the user's credentials for SOURCE (404 when there are none)."""
    deleted = (
        Integration.delete()
        .where((Integration.user == user_id) & (Integration.source == source))
        .execute()
    )
    if not deleted:
        raise Integration.DoesNotExist
