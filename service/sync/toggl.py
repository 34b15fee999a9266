"""Pull time entries from the Toggl Track API v9 (`/api/v9/me/time_entries`)."""

from __future__ import annotations

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
    """Read changes since CURSOR (deletions too), or walk date windows on a first/ranged run."""
    session = new_session()
    session.auth = (credentials.token, "api_token")
    fetcher = settings.fetcher("Toggl", session)
    url = f"{settings.toggl_url}/api/v9/me/time_entries"
    now = run.now
    if run.continues:
        pages = [fetcher.get_json(url, {"since": run.cursor, "meta": "true"})]
    else:
        first = run.start or (now.date() - timedelta(days=settings.history_days))
        spans = windows(first, run.end or now.date(), settings.window_days)
        pages = [
            fetcher.get_json(
                url, {"start_date": a.isoformat(), "end_date": b.isoformat(), "meta": "true"}
            )
            for a, b in spans
        ]
    pulled = Pulled(cursor=str(int(now.timestamp())))
    projects = Projects(fetcher, settings.toggl_url)
    for page in pages:
        for entry in page or []:
            try:
                keep(pulled, entry, credentials.workspace_id, projects)
            except (KeyError, TypeError, ValueError):
                raise SourceError("Toggl sent a time entry this service cannot read.") from None
    return pulled


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
