"""What a source's pull takes (settings, credentials) and gives back (entries, deletions)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from datetime import date
from datetime import datetime
from typing import TYPE_CHECKING
from typing import Any

from service.models import MAX_PROJECT
from service.models import MAX_SECONDS
from service.models import MAX_TAG
from service.models import MAX_TAGS
from service.sync.http import Fetcher

if TYPE_CHECKING:
    import requests


def storable(text: str | None) -> str | None:
    """Return a source's TEXT as the database can store it, or None for empty text.

    Clients' text is validated on the way in; a source's is not ours to refuse, so a NUL
    (which PostgreSQL cannot store) is dropped and a lone surrogate (not UTF-8) becomes "?".
    """
    if not text:
        return None
    return text.replace("\x00", "").encode("utf-8", "replace").decode("utf-8") or None


def label(text: str | None) -> str | None:
    """Return a source's client or task name as stored: storable, cut to MAX_PROJECT."""
    kept = storable(text)
    return kept and kept[:MAX_PROJECT].rstrip()


def tag_set(tags: list[str] | None) -> list[str]:
    """Return a source's tags as the service keeps them: split at commas, trimmed, cut to
    MAX_TAG characters, without repeats, sorted; the first MAX_TAGS of them.

    A comma splits a tag as the CSV importers split Toggl's and Clockify's tags cells, so a
    sync and an upload of the same entries keep the same tags.
    """
    names = {
        part.strip()[:MAX_TAG].strip()
        for tag in tags or []
        for part in (storable(tag) or "").split(",")
    }
    return sorted(names - {""})[:MAX_TAGS]


@dataclass(frozen=True)
class SyncSettings:
    """The sync settings of the app, as plain values."""

    toggl_url: str
    tempo_url: str
    timeout: float
    max_retries: int
    max_wait: float
    stale_after: int
    history_days: int
    window_days: int
    reconcile_days: int
    page_size: int

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> SyncSettings:
        """Pick the sync settings out of the app's config."""
        return cls(
            toggl_url=config["TOGGL_API_URL"],
            tempo_url=config["TEMPO_API_URL"],
            timeout=config["SYNC_TIMEOUT"],
            max_retries=config["SYNC_MAX_RETRIES"],
            max_wait=config["SYNC_MAX_WAIT"],
            stale_after=config["SYNC_STALE_AFTER"],
            history_days=config["SYNC_HISTORY_DAYS"],
            window_days=config["SYNC_WINDOW_DAYS"],
            reconcile_days=config["SYNC_RECONCILE_DAYS"],
            page_size=config["TEMPO_PAGE_SIZE"],
        )

    def fetcher(self, name: str, session: requests.Session) -> Fetcher:
        """Return a Fetcher for SESSION with these timeouts and retries."""
        return Fetcher(name, session, self.timeout, self.max_retries, self.max_wait)


@dataclass(frozen=True)
class Run:
    """One run's position: the cursor of the last run, the days asked for, the start time."""

    cursor: str | None
    start: date | None
    end: date | None
    now: datetime

    @property
    def continues(self) -> bool:
        """Tell whether the run goes on from the cursor (no days asked for, not the first)."""
        return bool(self.cursor) and self.start is None and self.end is None


@dataclass(frozen=True)
class Credentials:
    """A user's decrypted credentials and options for one source."""

    token: str
    workspace_id: str | None = None
    timezone: str = "UTC"
    jira_site: str | None = None
    jira_email: str | None = None
    jira_token: str | None = None
    account_id: str | None = None


@dataclass
class Pulled:
    """A complete pull: entries to upsert, ids to delete, the next cursor.

    `reconcile` is (window start, window end, ids seen): stored entries of the source in
    that window that were not seen have disappeared at the source.
    """

    cursor: str
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    deleted: set[str] = field(default_factory=set)
    skipped: set[str] = field(default_factory=set)
    reconcile: tuple[datetime, datetime, set[str]] | None = None

    def add(self, source: str, external_id: str, start: datetime, seconds: float, **content):
        """Keep one entry (the last seen copy wins); empty or >24 h ones are skipped."""
        self.deleted.discard(external_id)
        if not 0 < seconds <= MAX_SECONDS:
            self.skip(external_id)
            return
        self.skipped.discard(external_id)
        self.rows[external_id] = {
            "source": source,
            "external_id": external_id,
            "date": start,
            "duration": seconds / 3600,
            "project": storable(content.get("project")),
            "description": storable(content.get("description")),
            "billable": bool(content.get("billable")),
            "tags": tag_set(content.get("tags")),
            "client": label(content.get("client")),
            "task": label(content.get("task")),
        }

    def skip(self, external_id: str) -> None:
        """Leave EXTERNAL_ID out of this run (running, empty, too long)."""
        self.rows.pop(external_id, None)
        self.skipped.add(external_id)

    def delete(self, external_id: str) -> None:
        """Note that the source deleted EXTERNAL_ID."""
        self.rows.pop(external_id, None)
        self.skipped.discard(external_id)
        self.deleted.add(external_id)
