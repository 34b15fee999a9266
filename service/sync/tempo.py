"""Pull the owner's worklogs from the Tempo Cloud API v4, naming issues through Jira."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import time
from datetime import timedelta
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from service.sync.http import Fetcher
from service.sync.http import SourceError
from service.sync.http import new_session
from service.sync.pull import Credentials
from service.sync.pull import Pulled
from service.sync.pull import Run
from service.sync.pull import SyncSettings

SOURCE = "tempo"
# Tempo answers at most this many worklogs a page.
MAX_PAGE_SIZE = 5000


def jira(credentials: Credentials, settings: SyncSettings) -> Fetcher | None:
    """Return a Fetcher for the stored Jira, or None when no Jira is stored."""
    if not (credentials.jira_site and credentials.jira_token):
        return None
    session = new_session()
    if credentials.jira_email:
        session.auth = (credentials.jira_email, credentials.jira_token)
    else:
        session.headers["Authorization"] = f"Bearer {credentials.jira_token}"
    return settings.fetcher("Jira", session)


def owner(credentials: Credentials, fetcher: Fetcher | None) -> str:
    """Return the Atlassian account whose worklogs are read: the stored one, else Jira's owner.

    A Tempo token of a lead or admin sees colleagues' worklogs too; only this account's are
    the user's entries.
    """
    if credentials.account_id:
        return credentials.account_id
    if fetcher is None:
        raise SourceError(
            "Tempo needs to know whose worklogs to read: store the integration again with "
            "account_id or with Jira credentials."
        )
    myself = fetcher.get_json(f"{credentials.jira_site}/rest/api/3/myself")
    if not isinstance(myself, dict) or not myself.get("accountId"):
        raise SourceError("Jira did not name the account its token belongs to.")
    return str(myself["accountId"])


class Issues:
    """Jira issues by id, asked once per run: the key names the project, the key and the
    summary the task ("PRJ-7 Fix the login"); without a Jira both are `issue-<id>`."""

    def __init__(self, site: str | None, fetcher: Fetcher | None) -> None:
        self._site = site
        self._known: dict[str, tuple[str, str]] = {}
        self._fetcher = fetcher

    def _read(self, issue_id: str) -> tuple[str, str]:
        """Return the issue's (key, task), asked of Jira once; `issue-<id>` when unknown."""
        unknown = f"issue-{issue_id}"
        if self._fetcher is None:
            return unknown, unknown
        if issue_id not in self._known:
            url = f"{self._site}/rest/api/3/issue/{issue_id}"
            try:
                issue = self._fetcher.get_json(url, {"fields": "summary"})
            except SourceError as exc:
                if exc.status != 404:
                    raise
                issue = {"key": unknown}
            summary = (issue.get("fields") or {}).get("summary")
            task = f"{issue['key']} {summary}" if summary else issue["key"]
            self._known[issue_id] = (issue["key"], task)
        return self._known[issue_id]

    def name(self, issue_id: str) -> str:
        """Return the issue's key, or `issue-<id>` when unknown."""
        return self._read(issue_id)[0]

    def task(self, issue_id: str) -> str:
        """Return the issue's key and summary, or what name() says when there is none."""
        return self._read(issue_id)[1]


def worklogs(
    fetcher: Fetcher, base_url: str, account_id: str, params: dict[str, Any]
) -> Iterator[dict]:
    """Yield every worklog of ACCOUNT_ID matching PARAMS, following `metadata.next` to the end."""
    url: str | None = f"{base_url}/4/worklogs/user/{quote(account_id, safe=':')}"
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
    jira_fetcher = jira(credentials, settings)
    account_id = owner(credentials, jira_fetcher)
    today = run.now.astimezone(zone).date()
    first = run.start or today - timedelta(days=settings.history_days)
    last = run.end or today
    limit = min(settings.page_size, MAX_PAGE_SIZE)
    window = {"from": first.isoformat(), "to": last.isoformat(), "limit": limit}
    issues = Issues(credentials.jira_site, jira_fetcher)
    pulled = Pulled(cursor=run.now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    recent = first
    if run.continues:
        changed = {**window, "updatedFrom": run.cursor}
        for worklog in worklogs(fetcher, settings.tempo_url, account_id, changed):
            keep(pulled, worklog, zone, issues)
        recent = max(first, today - timedelta(days=settings.reconcile_days))
    seen = set()
    recent_window = {**window, "from": recent.isoformat()}
    for worklog in worklogs(fetcher, settings.tempo_url, account_id, recent_window):
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
        billable = (worklog.get("billableSeconds") or 0) > 0
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
        task=issues.task(issue_id),
        billable=billable,
        description=worklog.get("description"),
    )
    return external_id
