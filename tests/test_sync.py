"""Sync from Toggl and Tempo: real fake servers on 127.0.0.1, pages shaped like the samples."""

from __future__ import annotations

import base64
import copy
import json
import uuid
from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import timedelta
from pathlib import Path

import pytest
from werkzeug import Response

from service.db import db
from service.models import utcnow
from service.sync import claim

FIXTURES = Path(__file__).parent / "fixtures"
TOGGL_PAGE = json.loads((FIXTURES / "toggl_v9_me_time_entries.reconstructed.json").read_text())
TEMPO_FIRST = json.loads((FIXTURES / "tempo_v4_worklogs_page1.reconstructed.json").read_text())
TEMPO_LAST = json.loads((FIXTURES / "tempo_v4_worklogs_lastpage.reconstructed.json").read_text())
ENTRIES = "/toggl/api/v9/me/time_entries"
PROJECTS = "/toggl/api/v9/workspaces/1234567/projects"
TASKS = "/toggl/api/v9/workspaces/1234567/tasks"
ACCOUNT = "557058:3322bc29-17c6-493f-b4f5-1945319acf06"
WORKLOGS = f"/tempo/4/worklogs/user/{ACCOUNT}"
MARCH = {"from": "2024-03-01", "to": "2024-03-10"}
# The fixtures' entries are from March 2024: the history reaches back to its first day.
HISTORY_DAYS = (datetime.now(UTC).date() - date(2024, 3, 1)).days
# Toggl's me/time_entries reads only the last three months: ten days a month ago.
RECENT = {
    "from": (date.today() - timedelta(days=30)).isoformat(),
    "to": (date.today() - timedelta(days=21)).isoformat(),
}


@pytest.fixture
def server(httpserver_ipv4):
    """The fake Toggl (under /toggl) and Tempo (under /tempo), on 127.0.0.1."""
    return httpserver_ipv4


@pytest.fixture
def app(make_app, database_url, server):
    """The app, pointed at the fake servers, with tiny retry waits."""
    return make_app(
        database_url,
        TOGGL_API_URL=server.url_for("/toggl"),
        TEMPO_API_URL=server.url_for("/tempo"),
        SYNC_TIMEOUT=3,
        SYNC_MAX_RETRIES=2,
        SYNC_MAX_WAIT=0.01,
        SYNC_WINDOW_DAYS=7,
        SYNC_HISTORY_DAYS=HISTORY_DAYS,
    )


@pytest.fixture
def toggl(client, auth_headers, server):
    """Store Toggl credentials and serve the workspace's projects and tasks, the owner, no
    workspaces."""
    body = {"api_token": "toggl-secret"}
    assert client.put("/api/integrations/toggl", json=body, headers=auth_headers).status_code == 200
    server.expect_request(PROJECTS).respond_with_json([{"id": 201234567, "name": "Apollo"}])
    tasks = {"data": [{"id": 99001, "name": "Review"}], "page": 1, "total_count": 1}
    server.expect_request(TASKS).respond_with_json(tasks)
    server.expect_request("/toggl/api/v9/me").respond_with_json({"id": 7654321})
    server.expect_request("/toggl/api/v9/me/workspaces").respond_with_json([])
    return server


@pytest.fixture
def tempo(client, auth_headers, server):
    """Store Tempo credentials (Berlin time) and serve two pages of the owner's worklogs."""
    body = {"api_token": "tempo-secret", "timezone": "Europe/Berlin", "account_id": ACCOUNT}
    assert client.put("/api/integrations/tempo", json=body, headers=auth_headers).status_code == 200
    first = copy.deepcopy(TEMPO_FIRST)
    first["metadata"]["next"] = server.url_for(WORKLOGS) + "?offset=2&limit=2"
    server.expect_request(WORKLOGS, query_string={"offset": "2", "limit": "2"}).respond_with_json(
        TEMPO_LAST
    )
    server.expect_request(WORKLOGS).respond_with_json(first)
    return server


@pytest.fixture
def entries(client, auth_headers):
    """Return the caller's entries as (external_id, date, hours, project), oldest first."""

    def listed(source: str):
        response = client.get(f"/api/entries?source={source}", headers=auth_headers)
        items = response.json["items"]
        return sorted((i["external_id"], i["date"], i["duration"], i["project"]) for i in items)

    return listed


def requests_to(server, path):
    return [request for request, _ in server.log if request.path == path]


def finished(entry: dict) -> dict:
    return {**entry, "server_deleted_at": None}


def pages(first_window: list, since: list | None = None):
    """Answer Toggl's entries: FIRST_WINDOW for RECENT's first window, SINCE for `since`."""

    def answer(request):
        if "since" in request.args:
            body = since
        else:
            body = first_window if request.args["start_date"] == RECENT["from"] else []
        return Response(json.dumps(body), content_type="application/json")

    return answer


def test_a_first_toggl_sync_walks_windows_and_resolves_project_names(synced, toggl, entries):
    toggl.expect_request(ENTRIES).respond_with_handler(pages(TOGGL_PAGE))

    job = synced("toggl", RECENT)

    assert job["state"] == "succeeded"
    assert job["counts"]["created"] == 1
    assert (job["counts"]["skipped"], job["counts"]["deleted"]) == (1, 0)
    assert entries("toggl") == [("3412345678", "2024-03-04T09:23:00Z", 3601 / 3600, "Apollo")]
    windows = [(r.args["start_date"], r.args["end_date"]) for r in requests_to(toggl, ENTRIES)]
    first, last = date.fromisoformat(RECENT["from"]), date.fromisoformat(RECENT["to"])
    middle, after = (first + timedelta(days=7)).isoformat(), (last + timedelta(days=1)).isoformat()
    assert windows == [(RECENT["from"], middle), (middle, after)]
    auth = requests_to(toggl, ENTRIES)[0].headers["Authorization"]
    assert auth == "Basic " + base64.b64encode(b"toggl-secret:api_token").decode()
    assert len(requests_to(toggl, PROJECTS)) == 1


@pytest.mark.parametrize(
    ("sent", "stored"), [("Stand\u0000up", "Standup"), ("Stand\ud800up", "Stand?up")]
)
def test_text_the_database_cannot_hold_is_made_storable_not_a_failed_run(
    client, auth_headers, synced, toggl, sent, stored
):
    page = copy.deepcopy(TOGGL_PAGE)
    for entry in page:
        entry["description"] = sent
    toggl.expect_request(ENTRIES).respond_with_handler(pages(page))

    job = synced("toggl", RECENT)

    assert job["state"] == "succeeded"
    listed = client.get("/api/entries?source=toggl", headers=auth_headers).json["items"]
    assert [item["description"] for item in listed] == [stored]


def test_a_later_toggl_sync_asks_since_the_cursor_and_applies_deletions(
    client, auth_headers, synced, toggl, entries
):
    kept, _running, deleted = TOGGL_PAGE
    toggl.expect_request(ENTRIES).respond_with_handler(
        pages([kept, finished(deleted)], since=TOGGL_PAGE)
    )
    first = synced("toggl", RECENT)
    cursor = client.get("/api/sync/status", headers=auth_headers).json["items"][0]["cursor"]

    job = synced("toggl")

    assert first["counts"]["created"] == 2
    assert requests_to(toggl, ENTRIES)[-1].args["since"] == cursor
    assert job["state"] == "succeeded"
    assert (job["counts"]["unchanged"], job["counts"]["deleted"]) == (1, 1)
    assert [row[0] for row in entries("toggl")] == ["3412345678"]


def test_a_toggl_workspace_id_keeps_only_that_workspaces_entries(
    client, auth_headers, synced, toggl, entries
):
    body = {"api_token": "toggl-secret", "workspace_id": 999}
    client.put("/api/integrations/toggl", json=body, headers=auth_headers)
    other = {
        **TOGGL_PAGE[0],
        "id": 1,
        "workspace_id": 999,
        "wid": 999,
        "project_id": None,
        "pid": None,
    }
    toggl.expect_request(ENTRIES).respond_with_handler(pages([TOGGL_PAGE[0], other]))

    job = synced("toggl", RECENT)

    assert job["counts"]["created"] == 1
    assert entries("toggl") == [("1", "2024-03-04T09:23:00Z", 3601 / 3600, None)]


def test_a_toggl_429_is_retried_after_the_wait_it_asks_for(synced, toggl):
    toggl.expect_oneshot_request(ENTRIES).respond_with_json(
        {}, status=429, headers={"Retry-After": "1"}
    )
    toggl.expect_request(ENTRIES).respond_with_json([TOGGL_PAGE[0]])

    job = synced("toggl", RECENT)

    assert job["state"] == "succeeded"
    assert job["counts"]["created"] == 1
    assert len(requests_to(toggl, ENTRIES)) == 3


@pytest.mark.parametrize(
    ("status", "headers", "detail", "calls"),
    [
        (429, {"Retry-After": "1"}, "kept answering 429", 3),
        (402, {}, "quota is spent", 1),
        (500, {}, "answered 500", 1),
    ],
)
def test_a_failing_toggl_run_writes_nothing_and_is_reported(
    client, auth_headers, synced, toggl, entries, status, headers, detail, calls
):
    toggl.expect_oneshot_request(ENTRIES).respond_with_json([TOGGL_PAGE[0]])
    toggl.expect_request(ENTRIES).respond_with_json({}, status=status, headers=headers)

    job = synced("toggl", RECENT)

    assert job["state"] == "failed"
    assert detail in job["error"]
    assert len(requests_to(toggl, ENTRIES)) == 1 + calls
    assert entries("toggl") == []
    state = client.get("/api/sync/status", headers=auth_headers).json["items"][0]
    assert (state["last_status"], state["running"]) == ("failed", False)
    assert detail in state["last_error"]


def test_a_connection_cut_mid_page_fails_the_run_and_writes_nothing(synced, toggl, entries):
    def cut_short():
        yield b'[{"id": 1, "start": "2024-03-04T09:00:00+00:00", '
        raise ConnectionResetError("cut")

    toggl.expect_oneshot_request(ENTRIES).respond_with_json([TOGGL_PAGE[0]])
    toggl.expect_request(ENTRIES).respond_with_response(
        Response(cut_short(), content_type="application/json", headers={"Content-Length": "900"})
    )

    job = synced("toggl", RECENT)

    assert job["state"] == "failed"
    assert "could not be read" in job["error"]
    assert entries("toggl") == []


def test_a_second_sync_while_one_is_queued_or_running_answers_that_job(
    client, auth_headers, synced, toggl
):
    answers = []

    def meanwhile(request):
        answers.append(client.post("/api/sync/toggl", json=RECENT, headers=auth_headers))
        return Response("[]", content_type="application/json")

    toggl.expect_request(ENTRIES).respond_with_handler(meanwhile)
    queued = client.post("/api/sync/toggl", headers=auth_headers)

    job = synced("toggl", RECENT)

    assert job["id"] == queued.json["id"]
    assert (job["from"], job["state"]) == (None, "succeeded")
    assert {(a.status_code, a.json["id"], a.json["state"]) for a in answers} == {
        (202, job["id"], "running")
    }
    assert client.post("/api/sync/toggl", headers=auth_headers).json["id"] != job["id"]


def test_sync_status_shows_each_sources_last_run(client, auth_headers, synced, toggl):
    toggl.expect_request(ENTRIES).respond_with_json(TOGGL_PAGE)
    synced("toggl", RECENT)

    response = client.get("/api/sync/status", headers=auth_headers)

    toggl_state, tempo_state = response.json["items"]
    assert toggl_state["configured"] is True
    assert toggl_state["last_status"] == "ok"
    assert toggl_state["cursor"].isdigit()
    assert toggl_state["counts"] == {
        "created": 1,
        "updated": 0,
        "unchanged": 0,
        "deleted": 0,
        "skipped": 1,
    }
    assert (tempo_state["configured"], tempo_state["last_status"]) == (False, None)


def test_syncing_without_credentials_is_404(client, auth_headers):
    response = client.post("/api/sync/toggl", headers=auth_headers)

    assert response.status_code == 404
    assert "PUT /api/integrations/toggl" in response.json["detail"]


def test_a_tempo_sync_follows_pages_and_keeps_local_start_times(synced, tempo, entries):
    job = synced("tempo", MARCH)

    assert job["state"] == "succeeded"
    assert job["counts"]["created"] == 2
    assert entries("tempo") == [
        ("3920", "2024-03-04T08:00:00Z", 1.0, "issue-10991"),
        ("3921", "2024-03-03T23:00:00Z", 0.5, "issue-10992"),
    ]
    calls = requests_to(tempo, WORKLOGS)
    assert len(calls) == 2
    assert calls[0].headers["Authorization"] == "Bearer tempo-secret"
    assert (calls[0].args["from"], calls[0].args["to"]) == ("2024-03-01", "2024-03-10")


def test_tempo_issue_keys_come_from_jira_when_configured(
    client, auth_headers, synced, tempo, entries
):
    tempo.expect_request("/jira/rest/api/3/myself").respond_with_json({"accountId": ACCOUNT})
    body = {
        "api_token": "tempo-secret",
        "jira_site": tempo.url_for("/jira"),
        "jira_email": "me@example.com",
        "jira_token": "jira-secret",
    }
    client.put("/api/integrations/tempo", json=body, headers=auth_headers)
    for issue_id, key in ((10991, "APP-1"), (10992, "APP-2")):
        tempo.expect_request(f"/jira/rest/api/3/issue/{issue_id}").respond_with_json({"key": key})

    job = synced("tempo", MARCH)

    assert job["state"] == "succeeded"
    assert [row[3] for row in entries("tempo")] == ["APP-1", "APP-2"]


def test_a_later_tempo_sync_reads_updates_and_deletes_what_disappeared(synced, tempo, entries):
    synced("tempo", MARCH)
    tempo.clear()
    only_first = {**TEMPO_LAST, "results": TEMPO_FIRST["results"][:1]}
    tempo.expect_request(WORKLOGS).respond_with_json(only_first)

    job = synced("tempo", {"from": "2024-03-01", "to": "2024-03-10"})

    assert job["state"] == "succeeded"
    assert (job["counts"]["unchanged"], job["counts"]["deleted"]) == (1, 1)
    assert [row[0] for row in entries("tempo")] == ["3920"]


def test_the_cli_syncs_every_user_with_credentials(app, toggl, entries):
    toggl.expect_request(ENTRIES).respond_with_json([TOGGL_PAGE[0]])

    result = app.test_cli_runner().invoke(args=["sync", "toggl", "--all-users"])

    assert result.exit_code == 0, result.output
    assert "ok (created 1" in result.output
    assert len(entries("toggl")) == 1


def test_the_cli_without_an_integrations_key_says_so(make_app, database_url):
    app = make_app(database_url, INTEGRATIONS_KEY="")

    result = app.test_cli_runner().invoke(args=["sync", "tempo", "--all-users"])

    assert result.exit_code == 1
    assert "INTEGRATIONS_KEY" in result.output


def test_a_run_that_died_is_taken_over_after_the_stale_timeout(app, user):
    user_id = uuid.UUID(user["id"])
    began = utcnow()

    with db.connection_context():
        first = claim(user_id, "toggl", 60, began)
        while_fresh = claim(user_id, "toggl", 60, began + timedelta(seconds=30))
        once_stale = claim(user_id, "toggl", 60, began + timedelta(seconds=61))

    assert (first, while_fresh, once_stale) == (True, False, True)


def test_a_tempo_next_page_on_another_host_is_not_followed(
    client, auth_headers, synced, server, entries
):
    body = {"api_token": "tempo-secret", "account_id": ACCOUNT}
    client.put("/api/integrations/tempo", json=body, headers=auth_headers)
    elsewhere = copy.deepcopy(TEMPO_FIRST)
    server.expect_request(WORKLOGS).respond_with_json(elsewhere)

    job = synced("tempo", MARCH)

    assert job["state"] == "failed"
    assert "another host" in job["error"]
    assert entries("tempo") == []


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/api/imports"),
        ("get", "/api/integrations"),
        ("get", "/api/integrations/toggl"),
        ("put", "/api/integrations/toggl"),
        ("delete", "/api/integrations/toggl"),
        ("post", "/api/sync/toggl"),
        ("get", "/api/sync/status"),
        ("get", "/api/jobs"),
        ("get", f"/api/jobs/{uuid.uuid4()}"),
    ],
)
def test_imports_integrations_and_sync_need_a_token(client, method, path):
    response = getattr(client, method)(path)

    assert response.status_code == 401


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"from": 0}, "from"),
        ({"from": "2024-03-01T00:00:00Z"}, "from"),
        ({"to": 20240310}, "to"),
        ({"from": "2024-02-29"}, "from"),
        ({"from": "2024-02-29", "to": "2024-03-10"}, "from"),
        ({"to": "2024-02-29"}, "to"),
        ({"from": "2024-03-10", "to": "2024-03-01"}, None),
        ({"since": "2024-03-01"}, "since"),
    ],
)
def test_a_sync_takes_only_days_within_the_history_in_order(
    client, auth_headers, toggl, body, field
):
    response = client.post("/api/sync/toggl", json=body, headers=auth_headers)

    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    assert [error["field"] for error in response.json["errors"]] == [field]
    assert requests_to(toggl, ENTRIES) == []
    assert (
        client.get("/api/sync/status", headers=auth_headers).json["items"][0]["last_status"] is None
    )


def test_a_sync_body_is_optional_and_read_strictly(client, auth_headers, toggl):
    toggl.expect_request(ENTRIES).respond_with_json([])

    empty = client.post("/api/sync/toggl", headers=auth_headers)
    repeated = client.post(
        "/api/sync/toggl",
        data='{"from": "2024-03-01", "from": "2024-03-02"}',
        content_type="application/json",
        headers=auth_headers,
    )

    assert empty.status_code == 202
    assert repeated.status_code == 400
