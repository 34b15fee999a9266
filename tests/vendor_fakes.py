"""Fakes of the vendors' APIs as they behave, not as our client wishes: real HTTP on 127.0.0.1.

Toggl Track: API v9 (`me`, `me/workspaces`, `me/time_entries` with its three-month floor and
its `meta=true` names, a workspace's projects, clients, tags and paged tasks) and the Reports
API v3 detailed search (workspace-wide, ids rather than names, paged by `X-Next-ID` /
`X-Next-Row-Number`). Tempo Cloud v4 (`/4/worklogs`, which shows everything the token may
see, and `/4/worklogs/user/{accountId}`, one author's) and Jira's `myself` and issues.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import timedelta
from typing import Any
from urllib.parse import unquote
from urllib.parse import urlencode

from pytest_httpserver import HTTPServer
from werkzeug import Request
from werkzeug import Response

TOGGL_ENTRIES_CAP = 1000
REPORT_PAGE_SIZE = 50
TEMPO_MAX_LIMIT = 5000


def answer(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """Return BODY as a JSON response."""
    return Response(json.dumps(body), status, headers, content_type="application/json")


def refused(status: int, message: str) -> Response:
    """Return a plain-text refusal, as Toggl sends them."""
    return Response(message, status, content_type="text/plain")


def basic_auth(request: Request) -> tuple[str, str] | None:
    """Return the (user, password) of a Basic Authorization header, if any."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme != "Basic":
        return None
    user, _, password = base64.b64decode(value).decode().partition(":")
    return user, password


def months_back(today: date, months: int) -> date:
    """Return the day MONTHS calendar months before TODAY (the month's last day if shorter)."""
    year, month = divmod(today.year * 12 + today.month - 1 - months, 12)
    month += 1
    for day in range(today.day, 0, -1):
        try:
            return date(year, month, day)
        except ValueError:
            continue
    raise AssertionError("unreachable")


def parse_day_or_time(text: str) -> datetime:
    """Read `YYYY-MM-DD` (UTC midnight) or an RFC 3339 time, as Toggl's query dates."""
    if len(text) == 10:
        return datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC)
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


@dataclass
class TogglEntry:
    """One time entry stored at the fake Toggl."""

    id: int
    user_id: int
    workspace_id: int
    start: datetime
    seconds: int
    description: str = ""
    project_id: int | None = None
    running: bool = False
    deleted_at: datetime | None = None
    at: datetime = field(default_factory=lambda: datetime.now(UTC))
    billable: bool = False
    task_id: int | None = None
    tag_ids: list[int] = field(default_factory=list)

    def v9(self, toggl: FakeToggl, meta: bool) -> dict[str, Any]:
        """Return the entry as API v9 shows it (with `meta`, the names of what it links)."""
        stop = None if self.running else self.start + timedelta(seconds=self.seconds)
        body = {
            "id": self.id,
            "workspace_id": self.workspace_id,
            "wid": self.workspace_id,
            "project_id": self.project_id,
            "pid": self.project_id,
            "user_id": self.user_id,
            "uid": self.user_id,
            "description": self.description,
            "start": self.start.isoformat(),
            "stop": stop and stop.isoformat(),
            "duration": -int(self.start.timestamp()) if self.running else self.seconds,
            "at": self.at.isoformat(),
            "server_deleted_at": self.deleted_at and self.deleted_at.isoformat(),
            "billable": self.billable,
            "task_id": self.task_id,
            "tid": self.task_id,
            "tag_ids": self.tag_ids,
            "tags": [toggl.tags[tag_id] for tag_id in self.tag_ids],
        }
        if meta:
            client_id = toggl.project_clients.get(self.project_id)
            body["client_name"] = toggl.clients.get(client_id)
            body["task_name"] = toggl.tasks.get(self.task_id)
            if self.project_id:
                body["project_name"] = toggl.projects.get(self.project_id)
        return body

    def reported(self) -> dict[str, Any]:
        """Return the entry as a detailed report's sub-entry shows it."""
        stop = None if self.running else self.start + timedelta(seconds=self.seconds)
        return {
            "id": self.id,
            "seconds": self.seconds,
            "start": self.start.isoformat(),
            "stop": stop and stop.isoformat(),
            "at": self.at.isoformat(),
        }


@dataclass
class FakeToggl:
    """Toggl Track's API v9 and Reports API v3 for one token owner, with colleagues around."""

    server: HTTPServer
    token: str
    user_id: int
    workspaces: list[int]
    prefix: str = "/toggl"
    page_size_cap: int = REPORT_PAGE_SIZE
    projects: dict[int, str] = field(default_factory=dict)
    entries: list[TogglEntry] = field(default_factory=list)
    # A project's client, and the workspace's clients, tasks and tags, by id.
    project_clients: dict[int, int] = field(default_factory=dict)
    clients: dict[int, str] = field(default_factory=dict)
    tasks: dict[int, str] = field(default_factory=dict)
    tags: dict[int, str] = field(default_factory=dict)

    def install(self) -> FakeToggl:
        """Serve the API on SERVER under PREFIX."""
        p = re.escape(self.prefix)
        routes = [
            (rf"^{p}/api/v9/me$", "GET", self.me),
            (rf"^{p}/api/v9/me/workspaces$", "GET", self.my_workspaces),
            (rf"^{p}/api/v9/me/time_entries$", "GET", self.time_entries),
            (rf"^{p}/api/v9/workspaces/(\d+)/projects$", "GET", self.workspace_projects),
            (rf"^{p}/api/v9/workspaces/(\d+)/clients$", "GET", self.workspace_clients),
            (rf"^{p}/api/v9/workspaces/(\d+)/tags$", "GET", self.workspace_tags),
            (rf"^{p}/api/v9/workspaces/(\d+)/tasks$", "GET", self.workspace_tasks),
            (rf"^{p}/reports/api/v3/workspace/(\d+)/search/time_entries$", "POST", self.search),
        ]
        for pattern, method, handler in routes:
            self.server.expect_request(re.compile(pattern), method=method).respond_with_handler(
                self.authenticated(handler)
            )
        return self

    def add(self, **fields: Any) -> TogglEntry:
        """Store one entry (of the owner unless `user_id` says otherwise)."""
        entry = TogglEntry(**{"user_id": self.user_id, **fields})
        self.entries.append(entry)
        return entry

    def authenticated(self, handler):
        """Refuse requests without the token, as Toggl does (403)."""

        def checked(request: Request) -> Response:
            if basic_auth(request) != (self.token, "api_token"):
                return refused(403, "Incorrect username and/or password")
            return handler(request)

        return checked

    def requests(self, path_end: str) -> list[Request]:
        """Return the requests whose path ends with PATH_END, in order."""
        return [request for request, _ in self.server.log if request.path.endswith(path_end)]

    def me(self, request: Request) -> Response:
        """Answer `GET /me`: the token owner."""
        return answer({"id": self.user_id, "default_workspace_id": self.workspaces[0]})

    def my_workspaces(self, request: Request) -> Response:
        """Answer `GET /me/workspaces`."""
        return answer([{"id": wid, "name": f"Workspace {wid}"} for wid in self.workspaces])

    def workspace_projects(self, request: Request) -> Response:
        """Answer a workspace's projects, each naming its client's id."""
        return answer(
            [
                {"id": pid, "name": name, "client_id": self.project_clients.get(pid)}
                for pid, name in self.projects.items()
            ]
        )

    def workspace_clients(self, request: Request) -> Response:
        """Answer a workspace's clients."""
        return answer([{"id": cid, "name": name} for cid, name in self.clients.items()])

    def workspace_tags(self, request: Request) -> Response:
        """Answer a workspace's tags."""
        return answer([{"id": tid, "name": name} for tid, name in self.tags.items()])

    def workspace_tasks(self, request: Request) -> Response:
        """Answer a page of a workspace's tasks (`page`, `per_page`, 50 by default)."""
        page = int(request.args.get("page", 1))
        per_page = int(request.args.get("per_page", 50))
        tasks = [{"id": tid, "name": name} for tid, name in sorted(self.tasks.items())]
        return answer(
            {
                "data": tasks[(page - 1) * per_page : page * per_page],
                "page": page,
                "per_page": per_page,
                "total_count": len(tasks),
            }
        )

    def time_entries(self, request: Request) -> Response:
        """Answer `me/time_entries`: since a time, or by start day; at most ~3 months back."""
        mine = [e for e in self.entries if e.user_id == self.user_id]
        meta = request.args.get("meta") == "true"
        if "since" in request.args:
            since = datetime.fromtimestamp(int(request.args["since"]), UTC)
            chosen = [e for e in mine if e.at >= since]
        elif "start_date" in request.args or "end_date" in request.args:
            try:
                start = parse_day_or_time(request.args["start_date"])
                end = parse_day_or_time(request.args["end_date"])
            except (KeyError, ValueError):
                return refused(400, "Invalid start_date or end_date")
            if start.date() < months_back(datetime.now(UTC).date(), 3):
                return refused(400, "start_date must not be earlier than 3 months ago")
            chosen = [e for e in mine if not e.deleted_at and start <= e.start < end]
        else:
            cutoff = datetime.now(UTC) - timedelta(days=9)
            chosen = [e for e in mine if not e.deleted_at and e.start >= cutoff]
        chosen.sort(key=lambda e: e.start, reverse=True)
        return answer([e.v9(self, meta) for e in chosen[:TOGGL_ENTRIES_CAP]])

    def search(self, request: Request) -> Response:
        """Answer the detailed report: every member's entries the token sees, paged by rows."""
        workspace_id = int(request.path.rsplit("/")[-3])
        if workspace_id not in self.workspaces:
            return refused(403, "Forbidden")
        try:
            body = json.loads(request.get_data())
            first = date.fromisoformat(body["start_date"])
            last = date.fromisoformat(body["end_date"])
        except (KeyError, ValueError):
            return answer("start_date and end_date are required (YYYY-MM-DD)", 400)
        users = body.get("user_ids")
        chosen = sorted(
            (
                e
                for e in self.entries
                if e.workspace_id == workspace_id
                and not e.deleted_at
                and first <= e.start.date() <= last
                and (not users or e.user_id in users)
            ),
            key=lambda e: (e.start, e.id),
        )
        rows = self.rows(chosen, grouped=bool(body.get("grouped")))
        return self.page(rows, body)

    def rows(self, chosen: list[TogglEntry], grouped: bool) -> list[dict[str, Any]]:
        """Return report rows: one per entry, or similar entries together when grouped."""
        rows: dict[tuple, dict[str, Any]] = {}
        for entry in chosen:
            similar = (entry.project_id, entry.task_id, entry.billable, tuple(entry.tag_ids))
            key = (entry.user_id, entry.description, *similar) if grouped else entry.id
            row = rows.setdefault(
                key,
                {
                    "user_id": entry.user_id,
                    "username": f"user-{entry.user_id}",
                    "project_id": entry.project_id,
                    "project_name": self.projects.get(entry.project_id),
                    "task_id": entry.task_id,
                    "description": entry.description,
                    "billable": entry.billable,
                    "tag_ids": entry.tag_ids,
                    "hourly_rate_in_cents": None,
                    "time_entries": [],
                },
            )
            row["time_entries"].append(entry.reported())
        numbered = list(rows.values())
        for number, row in enumerate(numbered, start=1):
            row["row_number"] = number
        return numbered

    def page(self, rows: list[dict[str, Any]], body: dict[str, Any]) -> Response:
        """Answer one page of ROWS from `first_row_number`, naming the next in the headers."""
        size = min(int(body.get("page_size") or REPORT_PAGE_SIZE), self.page_size_cap)
        start = int(body.get("first_row_number") or 1) - 1
        if start and body.get("first_id") != rows[start]["time_entries"][0]["id"]:
            return answer("first_id does not match first_row_number", 400)
        chunk, rest = rows[start : start + size], rows[start + size :]
        headers = {}
        if rest:
            headers = {
                "X-Next-ID": str(rest[0]["time_entries"][0]["id"]),
                "X-Next-Row-Number": str(rest[0]["row_number"]),
            }
        return answer(chunk, headers=headers)


@dataclass
class FakeTempo:
    """Tempo Cloud v4 seen through one user's token, and that user's Jira (`myself`, issues)."""

    server: HTTPServer
    token: str
    account_id: str
    jira_email: str = "me@example.com"
    jira_token: str = "jira-secret"
    prefix: str = "/tempo"
    jira_prefix: str = "/jira"
    issues: dict[int, str] = field(default_factory=dict)
    summaries: dict[int, str] = field(default_factory=dict)
    worklogs: list[dict[str, Any]] = field(default_factory=list)
    next_id: int = 5000

    def install(self) -> FakeTempo:
        """Serve Tempo under PREFIX and Jira under JIRA_PREFIX."""
        tempo, jira = re.escape(self.prefix), re.escape(self.jira_prefix)
        routes = [
            (rf"^{tempo}/4/worklogs$", self.tempo_auth(self.all_worklogs)),
            (rf"^{tempo}/4/worklogs/user/([^/]+)$", self.tempo_auth(self.user_worklogs)),
            (rf"^{jira}/rest/api/3/myself$", self.jira_auth(self.myself)),
            (rf"^{jira}/rest/api/3/issue/(\d+)$", self.jira_auth(self.issue)),
        ]
        for pattern, handler in routes:
            self.server.expect_request(re.compile(pattern), method="GET").respond_with_handler(
                handler
            )
        return self

    def add(self, day: date, seconds: int, author: str | None = None, **fields: Any) -> dict:
        """Store one worklog (of the owner unless AUTHOR says otherwise), all of it billable
        unless `billableSeconds` says otherwise; return it."""
        self.next_id += 1
        author = author or self.account_id
        worklog = {
            "self": f"https://api.tempo.io/4/worklogs/{self.next_id}",
            "tempoWorklogId": self.next_id,
            "issue": {"id": fields.pop("issue_id", 10991)},
            "timeSpentSeconds": seconds,
            "billableSeconds": seconds,
            "startDate": day.isoformat(),
            "startTime": fields.pop("start_time", "09:00:00"),
            "description": fields.pop("description", f"work of {author}"),
            "createdAt": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "updatedAt": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "author": {"accountId": author},
            **fields,
        }
        self.worklogs.append(worklog)
        return worklog

    def requests(self, path_part: str) -> list[Request]:
        """Return the requests whose path contains PATH_PART, in order."""
        return [request for request, _ in self.server.log if path_part in request.path]

    def tempo_auth(self, handler):
        """Refuse requests without the bearer token (401)."""

        def checked(request: Request) -> Response:
            if request.headers.get("Authorization") != f"Bearer {self.token}":
                return answer({"errors": [{"message": "Unauthorized"}]}, 401)
            return handler(request)

        return checked

    def jira_auth(self, handler):
        """Refuse requests without the Jira email and token (401)."""

        def checked(request: Request) -> Response:
            if basic_auth(request) != (self.jira_email, self.jira_token):
                return answer({"errorMessages": ["Unauthorized"]}, 401)
            return handler(request)

        return checked

    def all_worklogs(self, request: Request) -> Response:
        """Answer `/4/worklogs`: every worklog the token may see, colleagues' included."""
        return self.page(request, self.worklogs)

    def user_worklogs(self, request: Request) -> Response:
        """Answer `/4/worklogs/user/{accountId}`: that author's worklogs only."""
        author = unquote(request.path.rsplit("/", 1)[-1])
        return self.page(request, [w for w in self.worklogs if w["author"]["accountId"] == author])

    def page(self, request: Request, worklogs: list[dict[str, Any]]) -> Response:
        """Filter by from/to/updatedFrom and answer one page, `metadata.next` naming the next."""
        args = request.args
        try:
            limit = int(args.get("limit", 50))
            offset = int(args.get("offset", 0))
            first = date.fromisoformat(args["from"]) if "from" in args else date.min
            last = date.fromisoformat(args["to"]) if "to" in args else date.max
        except ValueError:
            return answer({"errors": [{"message": "bad query"}]}, 400)
        if not 0 < limit <= TEMPO_MAX_LIMIT:
            return answer({"errors": [{"message": "limit must be 1..5000"}]}, 400)
        updated = args.get("updatedFrom", "")
        chosen = [
            w
            for w in worklogs
            if first <= date.fromisoformat(w["startDate"]) <= last and w["updatedAt"] >= updated
        ]
        chosen.sort(key=lambda w: (w["startDate"], w["startTime"], w["tempoWorklogId"]))
        results = chosen[offset : offset + limit]
        here = self.server.url_for(request.path)
        metadata = {"count": len(results), "offset": offset, "limit": limit}
        if offset + limit < len(chosen):
            metadata["next"] = f"{here}?{urlencode({**args, 'offset': offset + limit})}"
        return answer({"self": request.url, "metadata": metadata, "results": results})

    def myself(self, request: Request) -> Response:
        """Answer Jira's `myself`: the token owner's account."""
        return answer({"accountId": self.account_id, "emailAddress": self.jira_email})

    def issue(self, request: Request) -> Response:
        """Answer one Jira issue: its key and the fields asked for (`summary`)."""
        issue_id = int(request.path.rsplit("/", 1)[-1])
        if issue_id not in self.issues:
            return answer({"errorMessages": ["Issue does not exist"]}, 404)
        key = self.issues[issue_id]
        asked = request.args.get("fields", "").split(",")
        fields = {"summary": self.summaries.get(issue_id, f"Work on {key}")}
        return answer(
            {
                "id": str(issue_id),
                "key": key,
                "self": self.server.url_for(request.path),
                "fields": {name: fields[name] for name in asked if name in fields},
            }
        )
