"""Run a user's sync from a source: one at a time, all or nothing, its outcome recorded."""

from __future__ import annotations

import logging
import uuid
from datetime import date
from datetime import datetime
from datetime import timedelta
from typing import Any

from service import integrations
from service import metrics
from service import upserts
from service.db import db
from service.errors import APIError
from service.integrations import Vault
from service.models import COUNTS
from service.models import Integration
from service.models import SyncState
from service.models import utcnow
from service.sync import tempo
from service.sync import toggl
from service.sync.http import SourceError
from service.sync.pull import Credentials
from service.sync.pull import Pulled
from service.sync.pull import Run
from service.sync.pull import SyncSettings

log = logging.getLogger(__name__)

PULLERS = {"toggl": toggl.pull, "tempo": tempo.pull}
SOURCES = integrations.SOURCES
LABELS = {"toggl": "Toggl", "tempo": "Tempo"}


class Busy(APIError):
    """Another run of the user's source holds it."""


def credentials(integration: Integration, keys: Vault) -> Credentials:
    """Decrypt an integration's tokens for one run."""
    jira = integration.jira_token_ciphertext
    return Credentials(
        token=keys.decrypt(integration.token_ciphertext),
        workspace_id=integration.workspace_id,
        timezone=integration.timezone,
        jira_site=integration.jira_site,
        jira_email=integration.jira_email,
        jira_token=keys.decrypt(jira) if jira else None,
        account_id=integration.account_id,
    )


def claim(user_id: uuid.UUID, source: str, stale_after: int, now: datetime) -> bool:
    """Mark the user's SOURCE sync as running, unless a fresh run holds it; tell who won.

    One conditional UPDATE decides, so it holds across processes and replicas on
    PostgreSQL and SQLite alike; a run that died is taken over after STALE_AFTER seconds.
    """
    SyncState.insert(user=user_id, source=source).on_conflict_ignore().execute()
    stale = now - timedelta(seconds=stale_after)
    won = (
        SyncState.update(running_since=now, last_started_at=now)
        .where(
            (SyncState.user == user_id)
            & (SyncState.source == source)
            & (SyncState.running_since.is_null() | (SyncState.running_since < stale))
        )
        .execute()
    )
    return won == 1


def release(user_id: uuid.UUID, source: str) -> None:
    """Free the run of a worker that died holding it (its job stopped beating)."""
    SyncState.update(running_since=None).where(
        (SyncState.user == user_id) & (SyncState.source == source)
    ).execute()


def finish(user_id: uuid.UUID, source: str, **outcome: Any) -> None:
    """Release the run and record its outcome."""
    SyncState.update(running_since=None, last_finished_at=utcnow(), **outcome).where(
        (SyncState.user == user_id) & (SyncState.source == source)
    ).execute()


def write(user_id: uuid.UUID, source: str, pulled: Pulled) -> dict[str, int]:
    """Apply a complete pull in one transaction: upserts, deletions, reconciliation.

    The integration's owner is the writer (`updated_by`): the sync acts on their credentials.
    """
    rows = list(pulled.rows.values())
    with db.atomic():
        counts = upserts.upsert_rows(user_id, rows, writer=user_id).as_dict()
        gone = set(pulled.deleted)
        if pulled.reconcile:
            start, end, seen = pulled.reconcile
            gone.update(set(upserts.external_ids_between(user_id, source, start, end)) - seen)
        deleted = upserts.delete_by_keys(user_id, source, sorted(gone))
    return {**counts, "deleted": deleted, "skipped": len(pulled.skipped)}


def run_sync(
    user_id: uuid.UUID,
    source: str,
    settings: SyncSettings,
    keys: Vault,
    start: date | None = None,
    end: date | None = None,
) -> dict[str, Any]:
    """Pull the user's entries from SOURCE and store them; 409 when a run is under way."""
    label = LABELS[source]
    integration = Integration.get_or_none(
        (Integration.user == user_id) & (Integration.source == source)
    )
    if integration is None:
        raise APIError(404, f"No {label} integration is stored; PUT /api/integrations/{source}.")
    creds = credentials(integration, keys)
    now = utcnow()
    if not claim(user_id, source, settings.stale_after, now):
        metrics.record_sync(source, "busy")
        raise Busy(409, f"A {label} sync of this user is already running.")
    try:
        cursor = SyncState.get((SyncState.user == user_id) & (SyncState.source == source)).cursor
        pulled = PULLERS[source](creds, settings, Run(cursor, start, end, now))
        counts = write(user_id, source, pulled)
    except SourceError as exc:
        finish(user_id, source, last_status="failed", last_error=str(exc))
        metrics.record_sync(source, "failed")
        raise APIError(502, f"The {label} sync failed and changed nothing: {exc}") from None
    except Exception:
        finish(user_id, source, last_status="failed", last_error="internal error")
        metrics.record_sync(source, "failed")
        raise
    finish(user_id, source, last_status="ok", last_error=None, cursor=pulled.cursor, **counts)
    metrics.record_sync(source, "succeeded")
    return {"source": source, "status": "ok", "cursor": pulled.cursor, **counts}


def status(user_id: uuid.UUID) -> list[dict[str, Any]]:
    """Return the sync of every source: configured, running, its last run (never: nulls, zeros)."""
    states = {s.source: s for s in SyncState.select().where(SyncState.user == user_id)}
    configured = {
        i.source for i in Integration.select(Integration.source).where(Integration.user == user_id)
    }
    items = []
    for source in SOURCES:
        state = states.get(source) or SyncState(source=source)
        items.append(
            {
                "source": source,
                "configured": source in configured,
                "running": state.running_since is not None,
                "last_started_at": state.last_started_at,
                "last_finished_at": state.last_finished_at,
                "last_status": state.last_status,
                "last_error": state.last_error,
                "cursor": state.cursor,
                "counts": {name: getattr(state, name) for name in COUNTS},
            }
        )
    return items


def users_with(source: str) -> list[uuid.UUID]:
    """Return the users who stored credentials for SOURCE."""
    query = Integration.select(Integration.user).where(Integration.source == source)
    return [row.user_id for row in query.order_by(Integration.created_at)]
