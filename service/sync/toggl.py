"""Pull time entries from Toggl Track: recent days from API v9, older ones from Reports v3."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import timedelta
from typing import Any

from service.sync.http import Fetcher
from service.sync.http import SourceError
from service.sync.http import new_session
from service.sync.pull import Credentials
from service.sync.pull import Pulled
from service.sync.pull import Run
from service.sync.pull import SyncSettings

SOURCE = "toggl"
# `me/time_entries` refuses a start_date more than about three calendar months back, which
# is 89 days at the shortest; days further back than this are read from the Reports API.
# The margin leaves room for time zones and for how Toggl counts its three months.
RECENT_DAYS = 80
# The Reports API's default page size, accepted by every plan.
REPORT_PAGE_SIZE = 50


class Projects:
    """Project names by id, asked of each workspace at most once per run."""

    def __init__(self, fetcher: Fetcher, base_url: str) -> None:
        self._fetcher = fetcher
        self._base_url = base_url
        self._names: dict[int, str] = {}
        self._workspaces: set[int] = set()

    def name(self, entry: dict[str, Any]) -> str | None:
        """Return the entry's project name (from meta, else from its workspace's projects)."""
        project_id = entry.get("project_id") or entry.get("pid")
        if not project_id:
            return None
        if entry.get("project_name"):
            return entry["project_name"]
        workspace_id = entry.get("workspace_id") or entry.get("wid")
        if project_id not in self._names and workspace_id not in self._workspaces:
            self._workspaces.add(workspace_id)
            url = f"{self._base_url}/api/v9/workspaces/{workspace_id}/projects"
            for project in self._fetcher.get_json(url) or []:
                self._names[project["id"]] = project["name"]
        return self._names.get(project_id, f"project-{project_id}")


def windows(start: date, end: date, days: int) -> list[tuple[date, date]]:
    """Split [START, END] into consecutive [from, to) windows of at most DAYS days."""
    spans = []
    while start <= end:
        stop = min(start + timedelta(days=days), end + timedelta(days=1))
        spans.append((start, stop))
        start = stop
    return spans


def pull(credentials: Credentials, settings: SyncSettings, run: Run) -> Pulled:
    """Read changes since CURSOR (deletions too), or every entry of the days asked for."""
    session = new_session()
    session.auth = (credentials.token, "api_token")
    fetcher = settings.fetcher("Toggl", session)
    pulled = Pulled(cursor=str(int(run.now.timestamp())))
    projects = Projects(fetcher, settings.toggl_url)
    try:
        for entry in entries(fetcher, credentials, settings, run):
            keep(pulled, entry, credentials.workspace_id, projects)
    except (KeyError, TypeError, ValueError):
        raise SourceError("Toggl sent a time entry this service cannot read.") from None
    return pulled


def entries(
    fetcher: Fetcher, credentials: Credentials, settings: SyncSettings, run: Run
) -> Iterator[dict[str, Any]]:
    """Yield the run's entries, shaped as API v9's: since the cursor, or day by day.

    Days before the recent ones come from the Reports API; both read the day at the border,
    so no entry falls between two APIs that may count days in different time zones.
    """
    url = f"{settings.toggl_url}/api/v9/me/time_entries"
    if run.continues:
        yield from fetcher.get_json(url, {"since": run.cursor, "meta": "true"}) or []
        return
    today = run.now.date()
    first = run.start or today - timedelta(days=settings.history_days)
    last = run.end or today
    border = today - timedelta(days=RECENT_DAYS)
    if first < border:
        yield from reported(fetcher, credentials, settings, first, min(last, border))
    for start, stop in windows(max(first, border), last, settings.window_days):
        query = {"start_date": start.isoformat(), "end_date": stop.isoformat(), "meta": "true"}
        yield from fetcher.get_json(url, query) or []


def reported(
    fetcher: Fetcher, credentials: Credentials, settings: SyncSettings, first: date, last: date
) -> Iterator[dict[str, Any]]:
    """Yield the token owner's entries of FIRST..LAST from each workspace's detailed report.

    A report holds every member's entries the token may see (all of them for an admin), so
    it is asked for the owner's only, and rows of anyone else are dropped on arrival too.
    """
    me = f"{settings.toggl_url}/api/v9/me"
    owner = fetcher.get_json(me)["id"]
    if credentials.workspace_id:
        workspaces = [int(credentials.workspace_id)]
    else:
        workspaces = [workspace["id"] for workspace in fetcher.get_json(f"{me}/workspaces") or []]
    for workspace_id in workspaces:
        url = f"{settings.toggl_url}/reports/api/v3/workspace/{workspace_id}/search/time_entries"
        for start, stop in windows(first, last, settings.window_days):
            days = {
                "start_date": start.isoformat(),
                "end_date": (stop - timedelta(days=1)).isoformat(),
            }
            for row in report_rows(fetcher, url, {**days, "user_ids": [owner]}):
                if row["user_id"] == owner:
                    yield from as_entries(row, workspace_id)


def report_rows(fetcher: Fetcher, url: str, query: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Yield every row of a detailed-report search, following X-Next-ID / X-Next-Row-Number."""
    body = {**query, "page_size": REPORT_PAGE_SIZE, "grouped": False, "enrich_response": True}
    asked = set()
    while True:
        response = fetcher.send("POST", url, body=body)
        yield from fetcher.json_of(response) or []
        next_id = response.headers.get("X-Next-ID")
        next_row = response.headers.get("X-Next-Row-Number")
        if not next_row:
            return
        if (next_id, next_row) in asked:
            raise SourceError("Toggl's report pointed back to a page already read; stopped.")
        asked.add((next_id, next_row))
        body = {**body, "first_row_number": int(next_row)}
        if next_id:
            body["first_id"] = int(next_id)


def as_entries(row: dict[str, Any], workspace_id: int) -> Iterator[dict[str, Any]]:
    """Yield the time entries of one report row in the shape of API v9's."""
    for entry in row["time_entries"]:
        yield {
            "id": entry["id"],
            "workspace_id": workspace_id,
            "project_id": row.get("project_id"),
            "project_name": row.get("project_name"),
            "description": row.get("description"),
            "start": entry["start"],
            "stop": entry.get("stop"),
            "duration": entry["seconds"],
        }


def keep(pulled: Pulled, entry: dict[str, Any], workspace_id: str | None, projects: Projects):
    """Add one Toggl entry to PULLED: deleted, running (skipped) or a finished span."""
    if workspace_id and str(entry.get("workspace_id") or entry.get("wid")) != workspace_id:
        return
    external_id = str(entry["id"])
    if entry.get("server_deleted_at"):
        pulled.delete(external_id)
        return
    start = datetime.fromisoformat(entry["start"]).astimezone(UTC)
    duration = entry.get("duration") or 0
    if entry.get("stop") is None or duration < 0:
        pulled.skip(external_id)
        return
    pulled.add(
        SOURCE,
        external_id,
        start,
        duration,
        project=projects.name(entry),
        description=entry.get("description"),
    )
