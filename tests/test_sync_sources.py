"""Sync against fakes that behave like the real Toggl and Tempo (tests/vendor_fakes.py)."""

from __future__ import annotations

import json
from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest
import requests

from service.db import db
from service.models import Integration
from service.sync.pull import tag_set
from tests.vendor_fakes import FakeTempo
from tests.vendor_fakes import FakeToggl

OWNER, COLLEAGUE = 7654321, 1111111
TEAM, SIDE = 1234567, 7654000
ME, LEAD = "557058:3322bc29-17c6-493f-b4f5-1945319acf06", "5b10ac8d82e05b22cc7d4ef5"
REPORTS = "/search/time_entries"
ENTRIES = "/api/v9/me/time_entries"


@pytest.fixture
def server(httpserver_ipv4):
    """One local HTTP server for the fakes (Toggl under /toggl, Tempo /tempo, Jira /jira)."""
    return httpserver_ipv4


@pytest.fixture
def app(make_app, database_url, server):
    """The app pointed at the fakes, with tiny retry waits and small Tempo pages."""
    return make_app(
        database_url,
        TOGGL_API_URL=server.url_for("/toggl"),
        TEMPO_API_URL=server.url_for("/tempo"),
        SYNC_MAX_WAIT=0.01,
        TEMPO_PAGE_SIZE=2,
    )


def ago(days: int, hour: int = 9) -> datetime:
    """Return HOUR o'clock UTC, DAYS days before today."""
    today = datetime.now(UTC).replace(hour=hour, minute=0, second=0, microsecond=0)
    return today - timedelta(days=days)


@pytest.fixture
def toggl(server, client, auth_headers) -> FakeToggl:
    """An admin of two workspaces whose team workspace holds a colleague's entries too."""
    fake = FakeToggl(server, "toggl-secret", OWNER, [TEAM, SIDE], page_size_cap=2)
    fake.projects = {201: "Apollo"}
    long_ago = ago(10)
    for days in (330, 329, 328, 200):
        fake.add(id=days, workspace_id=TEAM, start=ago(days), seconds=3600, at=long_ago)
    fake.add(id=100, workspace_id=SIDE, start=ago(100), seconds=1800, project_id=201, at=long_ago)
    fake.add(id=7, workspace_id=TEAM, start=ago(7), seconds=600, description="w", at=long_ago)
    fake.add(id=1, workspace_id=TEAM, start=ago(1), seconds=60, running=True, at=long_ago)
    for days in (330, 7):
        fake.add(
            id=90000 + days,
            user_id=COLLEAGUE,
            workspace_id=TEAM,
            start=ago(days, hour=10),
            seconds=7200,
            at=long_ago,
        )
    fake.install()
    stored = client.put(
        "/api/integrations/toggl", json={"api_token": "toggl-secret"}, headers=auth_headers
    )
    assert stored.status_code == 200
    return fake


@pytest.fixture
def listed(client, auth_headers):
    """Return the caller's entries of a source as {external_id: (date, hours, project)}."""

    def entries(source: str) -> dict[str, tuple]:
        items = client.get(f"/api/entries?source={source}&limit=500", headers=auth_headers)
        return {
            i["external_id"]: (i["date"], i["duration"], i["project"]) for i in items.json["items"]
        }

    return entries


def test_a_first_toggl_sync_stores_a_year_of_the_owners_history_only(
    synced, client, auth_headers, toggl, listed
):
    job = synced("toggl")

    assert job["state"] == "succeeded", job
    assert (job["counts"]["created"], job["counts"]["skipped"]) == (6, 1)
    stored = listed("toggl")
    assert sorted(stored, key=int) == ["7", "100", "200", "328", "329", "330"]
    assert stored["330"] == (ago(330).strftime("%Y-%m-%dT%H:%M:%SZ"), 1.0, None)
    assert stored["100"][1:] == (0.5, "Apollo")
    searches = toggl.requests(REPORTS)
    assert {json.loads(r.get_data())["user_ids"][0] for r in searches} == {OWNER}
    assert {r.path.split("/")[-3] for r in searches} == {str(TEAM), str(SIDE)}
    assert any("first_row_number" in json.loads(r.get_data()) for r in searches)


def test_the_next_toggl_sync_asks_for_changes_since_the_cursor(
    synced, client, auth_headers, toggl, listed
):
    first = synced("toggl")
    cursor = client.get("/api/sync/status", headers=auth_headers).json["items"][0]["cursor"]
    gone = next(e for e in toggl.entries if e.id == 7)
    gone.deleted_at = gone.at = datetime.now(UTC) + timedelta(seconds=5)
    searches = len(toggl.requests(REPORTS))

    job = synced("toggl")

    assert job["state"] == "succeeded"
    assert first["state"] == "succeeded"
    assert toggl.requests(ENTRIES)[-1].args["since"] == cursor
    assert len(toggl.requests(REPORTS)) == searches
    assert job["counts"]["deleted"] == 1
    assert "7" not in listed("toggl")


@pytest.mark.parametrize(
    ("days", "reports", "recent"),
    [((335, 250), True, False), ((120, 2), True, True), ((30, 2), False, True)],
)
def test_a_range_is_read_from_the_api_that_holds_its_days(
    synced, client, auth_headers, toggl, listed, days, reports, recent
):
    span = {"from": ago(days[0]).date().isoformat(), "to": ago(days[1]).date().isoformat()}

    job = synced("toggl", span)

    assert job["state"] == "succeeded", job
    assert bool(toggl.requests(REPORTS)) is reports
    assert bool(toggl.requests(ENTRIES)) is recent
    expected = {e.id for e in toggl.entries if e.user_id == OWNER and not e.running}
    expected = {str(i) for i in expected if days[1] <= i <= days[0]}
    assert set(listed("toggl")) == expected


def test_a_toggl_workspace_id_reads_only_that_workspaces_report(
    synced, client, auth_headers, toggl, listed
):
    body = {"api_token": "toggl-secret", "workspace_id": SIDE}
    client.put("/api/integrations/toggl", json=body, headers=auth_headers)

    job = synced("toggl")

    assert job["state"] == "succeeded"
    assert list(listed("toggl")) == ["100"]
    assert {r.path.split("/")[-3] for r in toggl.requests(REPORTS)} == {str(SIDE)}
    assert toggl.requests("/me/workspaces") == []


def labels_of(client, headers, query: str) -> dict[str, tuple]:
    """Return the caller's entries QUERY keeps as {external_id: (project, client, task,
    tags, billable)}."""
    items = client.get(f"/api/entries?limit=500&{query}", headers=headers).json["items"]
    return {
        i["external_id"]: (i["project"], i["client"], i["task"], i["tags"], i["billable"])
        for i in items
    }


def test_toggl_entries_keep_their_labels_from_either_api(synced, client, auth_headers, toggl):
    toggl.project_clients, toggl.clients = {201: 31}, {31: "Acme"}
    toggl.tasks, toggl.tags = {41: "Login"}, {51: "backend", 52: "urgent"}
    labelled = {"project_id": 201, "task_id": 41, "tag_ids": [52, 51], "billable": True}
    for entry_id, days in ((500, 300), (501, 5)):
        toggl.add(id=entry_id, workspace_id=TEAM, start=ago(days), seconds=900, **labelled)

    job = synced("toggl")

    assert job["state"] == "succeeded", job
    assert labels_of(client, auth_headers, "source=toggl&billable=true") == {
        "500": ("Apollo", "Acme", "Login", ["backend", "urgent"], True),
        "501": ("Apollo", "Acme", "Login", ["backend", "urgent"], True),
    }
    assert labels_of(client, auth_headers, "source=toggl&billable=false")["7"][1:] == (
        None,
        None,
        [],
        False,
    )
    # The report's rows name ids: each of the workspace's lists is read once for the run.
    for kind in ("projects", "clients", "tasks", "tags"):
        assert len(toggl.requests(f"/workspaces/{TEAM}/{kind}")) == 1, kind


def test_a_toggl_entry_changed_only_in_its_tags_is_updated(synced, client, auth_headers, toggl):
    toggl.tags = {51: "backend", 52: "urgent"}
    entry = toggl.add(id=600, workspace_id=TEAM, start=ago(3), seconds=900, tag_ids=[51])
    synced("toggl")
    entry.tag_ids, entry.at = [51, 52], datetime.now(UTC)

    job = synced("toggl")

    assert (job["counts"]["updated"], job["counts"]["created"]) == (1, 0)
    assert labels_of(client, auth_headers, "tag=urgent") == {
        "600": (None, None, None, ["backend", "urgent"], False)
    }


def test_a_refused_toggl_token_fails_the_run_and_stores_nothing(
    synced, client, auth_headers, toggl, listed
):
    body = {"api_token": "revoked"}
    client.put("/api/integrations/toggl", json=body, headers=auth_headers)

    job = synced("toggl")

    assert job["state"] == "failed"
    assert "refused the stored credentials (403)" in job["error"]
    assert listed("toggl") == {}


def test_the_fake_toggl_is_as_strict_as_the_real_one(server, toggl):
    auth = ("toggl-secret", "api_token")
    old = {"start_date": ago(120).date().isoformat(), "end_date": ago(90).date().isoformat()}
    report = server.url_for(f"/toggl/reports/api/v3/workspace/{TEAM}/search/time_entries")
    everyone = {"start_date": ago(340).date().isoformat(), "end_date": ago(0).date().isoformat()}

    refused = requests.get(server.url_for("/toggl" + ENTRIES), params=old, auth=auth, timeout=5)
    page = requests.post(report, json={**everyone, "page_size": 50}, auth=auth, timeout=5)
    stranger = requests.get(server.url_for("/toggl/api/v9/me"), auth=("x", "api_token"), timeout=5)

    assert refused.status_code == 400
    assert {row["user_id"] for row in page.json()} == {OWNER, COLLEAGUE}
    assert len(page.json()) == 2
    assert page.headers["X-Next-Row-Number"] == "3"
    assert stranger.status_code == 403


@pytest.fixture
def tempo(server) -> FakeTempo:
    """A lead's Tempo token: `/4/worklogs` shows the team's worklogs, the lead's among them."""
    fake = FakeTempo(server, "tempo-secret", ME, issues={10991: "APP-1", 10992: "APP-2"})
    today = datetime.now(UTC).date()
    for days in (200, 40, 3, 1):
        fake.add(today - timedelta(days=days), 3600)
    fake.add(today - timedelta(days=2), 1800, issue_id=10992)
    for days in (40, 2):
        fake.add(today - timedelta(days=days), 7200, author=LEAD)
    return fake.install()


def mine(fake: FakeTempo) -> set[str]:
    return {str(w["tempoWorklogId"]) for w in fake.worklogs if w["author"]["accountId"] == ME}


def test_only_the_owners_tempo_worklogs_land(synced, client, auth_headers, tempo, listed):
    body = {"api_token": "tempo-secret", "account_id": ME}
    assert client.put("/api/integrations/tempo", json=body, headers=auth_headers).status_code == 200

    job = synced("tempo")

    assert job["state"] == "succeeded", job
    assert set(listed("tempo")) == mine(tempo)
    assert job["counts"]["created"] == 5
    assert tempo.requests("/4/worklogs") == tempo.requests(f"/4/worklogs/user/{ME}")
    assert {r.args["limit"] for r in tempo.requests("/4/worklogs")} == {"2"}
    assert len(tempo.requests("/4/worklogs")) == 3


def test_the_tempo_owner_comes_from_jira_when_jira_is_stored(
    synced, client, auth_headers, server, tempo, listed
):
    body = {
        "api_token": "tempo-secret",
        "jira_site": server.url_for("/jira"),
        "jira_email": "me@example.com",
        "jira_token": "jira-secret",
    }
    assert client.put("/api/integrations/tempo", json=body, headers=auth_headers).status_code == 200

    job = synced("tempo")

    assert job["state"] == "succeeded", job
    assert set(listed("tempo")) == mine(tempo)
    assert {row[2] for row in listed("tempo").values()} == {"APP-1", "APP-2"}
    assert len(tempo.requests("/rest/api/3/myself")) == 1


def test_tempo_worklogs_keep_billable_and_the_jira_issue_as_task(
    synced, client, auth_headers, server, tempo
):
    tempo.summaries = {10991: "Fix the login"}
    unbilled = tempo.add(datetime.now(UTC).date(), 900, issue_id=10992, billableSeconds=0)
    body = {
        "api_token": "tempo-secret",
        "jira_site": server.url_for("/jira"),
        "jira_email": "me@example.com",
        "jira_token": "jira-secret",
    }
    client.put("/api/integrations/tempo", json=body, headers=auth_headers)

    job = synced("tempo")

    stored = labels_of(client, auth_headers, "source=tempo")
    assert job["state"] == "succeeded", job
    assert stored[str(unbilled["tempoWorklogId"])] == (
        "APP-2",
        None,
        "APP-2 Work on APP-2",
        [],
        False,
    )
    billed = {
        (project, task, tuple(tags), billable)
        for key, (project, _client, task, tags, billable) in stored.items()
        if key != str(unbilled["tempoWorklogId"])
    }
    assert billed == {
        ("APP-1", "APP-1 Fix the login", (), True),
        ("APP-2", "APP-2 Work on APP-2", (), True),
    }
    assert len(tempo.requests("/rest/api/3/issue/")) == 2


def test_without_jira_a_tempo_worklogs_task_is_its_issue_id(synced, client, auth_headers, tempo):
    body = {"api_token": "tempo-secret", "account_id": ME}
    client.put("/api/integrations/tempo", json=body, headers=auth_headers)

    synced("tempo")

    tasks = {v[2] for v in labels_of(client, auth_headers, "source=tempo").values()}
    assert tasks == {"issue-10991", "issue-10992"}


def test_a_later_tempo_sync_reconciles_through_the_owners_worklogs(
    synced, client, auth_headers, tempo, listed
):
    body = {"api_token": "tempo-secret", "account_id": ME}
    client.put("/api/integrations/tempo", json=body, headers=auth_headers)
    synced("tempo")
    tempo.worklogs.remove(next(w for w in tempo.worklogs if w["timeSpentSeconds"] == 1800))
    tempo.server.clear_log()

    job = synced("tempo")

    assert job["state"] == "succeeded"
    assert (job["counts"]["deleted"], job["counts"]["created"]) == (1, 0)
    assert set(listed("tempo")) == mine(tempo)
    calls = tempo.requests("/4/worklogs")
    assert calls and calls == tempo.requests(f"/4/worklogs/user/{ME}")
    assert any("updatedFrom" in r.args for r in calls)


@pytest.mark.parametrize(
    "body",
    [
        {"api_token": "tempo-secret"},
        {"api_token": "tempo-secret", "timezone": "Europe/Berlin"},
        {"api_token": "tempo-secret", "account_id": "has space"},
        {"api_token": "tempo-secret", "account_id": ""},
        {"api_token": "tempo-secret", "account_id": "a" * 65},
    ],
)
def test_tempo_without_an_owner_is_422_and_changes_nothing(client, auth_headers, body):
    kept = {"api_token": "tempo-secret", "account_id": ME}
    client.put("/api/integrations/tempo", json=kept, headers=auth_headers)

    response = client.put("/api/integrations/tempo", json=body, headers=auth_headers)

    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    assert response.json["errors"]
    stored = client.get("/api/integrations/tempo", headers=auth_headers)
    assert stored.json["updated_at"] == stored.json["created_at"]


def test_a_tempo_integration_stored_without_an_owner_fails_and_says_what_to_do(
    synced, client, auth_headers, tempo, listed
):
    body = {"api_token": "tempo-secret", "account_id": ME}
    client.put("/api/integrations/tempo", json=body, headers=auth_headers)
    with db.connection_context():
        Integration.update(account_id=None).execute()

    job = synced("tempo")

    assert job["state"] == "failed"
    assert "store the integration again with account_id" in job["error"]
    assert tempo.requests("/4/worklogs") == []
    assert listed("tempo") == {}


@pytest.mark.parametrize(
    ("tags", "kept"),
    [
        (None, []),
        (["b", "a", "b"], ["a", "b"]),
        (["x, y", " z "], ["x", "y", "z"]),
        (["a\x00" + "l" * 60], ["a" + "l" * 49]),
        ([f"t{n:02}" for n in range(25)], [f"t{n:02}" for n in range(20)]),
    ],
)
def test_a_sources_tags_are_kept_as_the_service_keeps_tags(tags, kept):
    assert tag_set(tags) == kept
