"""Pull worklogs from the Tempo Cloud API v4 (`/4/worklogs`), naming issues through Jira."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import time
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from service.sync.http import Fetcher
from service.sync.http import SourceError
from service.sync.http import new_session
from service.sync.pull import Credentials
from service.sync.pull import Pulled
from service.sync.pull import Run
from service.sync.pull import SyncSettings

SOURCE = "tempo"


class Issues:
    """Readable names of Jira issues: their keys when a Jira is configured, else `issue-<id>`."""

    def __init__(self, credentials: Credentials, settings: SyncSettings) -> None:
        self._site = credentials.jira_site
        self._keys: dict[str, str] = {}
        self._fetcher = None
        if credentials.jira_site and credentials.jira_token:
            session = new_session()
            if credentials.jira_email:
                session.auth = (credentials.jira_email, credentials.jira_token)
            else:
                session.headers["Authorization"] = f"Bearer {credentials.jira_token}"
            self._fetcher = settings.fetcher("Jira", session)

    def name(self, issue_id: str) -> str:
        """Return the issue's key (asked once per run), or `issue-<id>` when unknown."""
        if self._fetcher is None:
            return f"issue-{issue_id}"
        if issue_id not in self._keys:
            url = f"{self._site}/rest/api/3/issue/{issue_id}"
            try:
                self._keys[issue_id] = self._fetcher.get_json(url, {"fields": "summary"})["key"]
            except SourceError as exc:
                if exc.status != 404:
                    raise
                self._keys[issue_id] = f"issue-{issue_id}"
        return self._keys[issue_id]


def worklogs(fetcher: Fetcher, base_url: str, params: dict[str, Any]) -> Iterator[dict]:
    """Yield every worklog of a query, following `metadata.next` to the end."""
    url: str | None = f"{base_url}/4/worklogs"
    query: dict[str, Any] | None = params
    while url:
        page = fetcher.get_json(url, query)
        yield from page.get("results", [])
        url, query = page.get("metadata", {}).get("next"), None
        if url and not url.startswith(f"{base_url}/"):
            raise SourceError("Tempo pointed to a next page on another host; not followed.")


def day_span(first: date, last: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """Return the UTC instants from FIRST's midnight to the midnight after LAST, in ZONE."""
    start = datetime.combine(first, time(), zone).astimezone(UTC)
    end = datetime.combine(last + timedelta(days=1), time(), zone).astimezone(UTC)
    return start, end


def pull(credentials: Credentials, settings: SyncSettings, run: Run) -> Pulled:
    """Read what changed since CURSOR, then re-read a recent window to find deletions."""
    zone = ZoneInfo(credentials.timezone)
    session = new_session()
    session.headers["Authorization"] = f"Bearer {credentials.token}"
    fetcher = settings.fetcher("Tempo", session)
    today = run.now.astimezone(zone).date()
    first = run.start or today - timedelta(days=settings.history_days)
    last = run.end or today
    window = {"from": first.isoformat(), "to": last.isoformat(), "limit": settings.page_size}
    issues = Issues(credentials, settings)
    pulled = Pulled(cursor=run.now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    recent = first
    if run.continues:
        changed = {**window, "updatedFrom": run.cursor}
        for worklog in worklogs(fetcher, settings.tempo_url, changed):
            keep(pulled, worklog, zone, issues)
        recent = max(first, today - timedelta(days=settings.reconcile_days))
    seen = set()
    recent_window = {**window, "from": recent.isoformat()}
    for worklog in worklogs(fetcher, settings.tempo_url, recent_window):
        seen.add(keep(pulled, worklog, zone, issues))
    pulled.reconcile = (*day_span(recent, last, zone), seen)
    return pulled


def keep(pulled: Pulled, worklog: dict[str, Any], zone: ZoneInfo, issues: Issues) -> str:
    """Add one worklog to PULLED and return its id."""
    try:
        external_id = str(worklog["tempoWorklogId"])
        day = date.fromisoformat(worklog["startDate"])
        clock = time.fromisoformat(worklog.get("startTime") or "00:00:00")
        seconds = worklog["timeSpentSeconds"]
        issue_id = str(worklog["issue"]["id"])
    except (KeyError, TypeError, ValueError):
        raise SourceError("Tempo sent a worklog this service cannot read.") from None
    start = datetime.combine(day, clock, zone).astimezone(UTC)
    pulled.add(
        SOURCE,
        external_id,
        start,
        seconds,
        project=issues.name(issue_id),
        description=worklog.get("description"),
    )
    return external_id
