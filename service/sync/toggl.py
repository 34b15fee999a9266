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
# A workspace's tasks come in pages; this many a page.
TASKS_PER_PAGE = 200


class Names:
    """The names of a workspace's projects, clients, tasks and tags by id.

    Entries from `me/time_entries?meta=true` carry their names; report rows carry ids.
    A workspace's list of each kind is asked for at most once per run, and only when an
    entry lacks a name it needs.
    """

    def __init__(self, fetcher: Fetcher, base_url: str) -> None:
        self._fetcher = fetcher
        self._base_url = base_url
        self._lists: dict[tuple[Any, str], dict[int, dict[str, Any]]] = {}

    def _by_id(self, workspace_id: Any, kind: str) -> dict[int, dict[str, Any]]:
        """Return the workspace's KIND (projects, clients, tasks, tags) by id, read once."""
        if (workspace_id, kind) not in self._lists:
            url = f"{self._base_url}/api/v9/workspaces/{workspace_id}/{kind}"
            items = self._pages(url) if kind == "tasks" else self._fetcher.get_json(url) or []
            self._lists[workspace_id, kind] = {item["id"]: item for item in items}
        return self._lists[workspace_id, kind]

    def _pages(self, url: str) -> Iterator[dict[str, Any]]:
        """Yield every item of a paged list (`data`, `page`, `per_page`, `total_count`)."""
        page, seen = 1, 0
        while True:
            answer = self._fetcher.get_json(url, {"page": page, "per_page": TASKS_PER_PAGE})
            items = answer.get("data") or []
            yield from items
            seen += len(items)
            if not items or seen >= answer.get("total_count", 0):
                return
            page += 1

    def _name(self, workspace_id: Any, kind: str, item_id: int | None) -> str | None:
        """Return the name of the workspace's KIND ITEM_ID, `<kind>-<id>` when unknown."""
        if not item_id:
            return None
        item = self._by_id(workspace_id, kind).get(item_id)
        return item["name"] if item else f"{kind[:-1]}-{item_id}"

    def labels(self, entry: dict[str, Any]) -> dict[str, Any]:
        """Return the entry's project, client, task and tags by name: the names it carries
        (meta), else those of the ids it carries."""
        workspace = entry.get("workspace_id") or entry.get("wid")
        project_id = entry.get("project_id") or entry.get("pid")
        project = entry.get("project_name") or self._name(workspace, "projects", project_id)
        if "client_name" in entry:
            client = entry["client_name"]
        else:
            found = self._by_id(workspace, "projects").get(project_id) if project_id else None
            client = self._name(workspace, "clients", (found or {}).get("client_id"))
        task = entry.get("task_name")
        if "task_name" not in entry:
            task = self._name(workspace, "tasks", entry.get("task_id") or entry.get("tid"))
        tags = entry.get("tags")
        if tags is None:
            known = self._by_id(workspace, "tags") if entry.get("tag_ids") else {}
            tags = [known[tag]["name"] for tag in entry.get("tag_ids") or [] if tag in known]
        return {"project": project, "client": client, "task": task, "tags": tags}


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
    names = Names(fetcher, settings.toggl_url)
    try:
        for entry in entries(fetcher, credentials, settings, run):
            keep(pulled, entry, credentials.workspace_id, names)
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
            "task_id": row.get("task_id"),
            "billable": row.get("billable"),
            "tag_ids": row.get("tag_ids"),
            "description": row.get("description"),
            "start": entry["start"],
            "stop": entry.get("stop"),
            "duration": entry["seconds"],
        }


def keep(pulled: Pulled, entry: dict[str, Any], workspace_id: str | None, names: Names):
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
        description=entry.get("description"),
        billable=entry.get("billable"),
        **names.labels(entry),
    )
