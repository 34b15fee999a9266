"""Entries' billable flag, tags, client and task (issue 28): stored, changed, filtered,
counted by the bulk upsert, rendered alike by both databases, and given to older entries."""

from __future__ import annotations

import json

import pytest

from service.migrate import migrate
from service.models import MAX_TAG
from service.models import MAX_TAGS
from tests.conftest import PASSWORD

LABELLED = {
    "date": "2026-11-02T09:00:00Z",
    "duration": 2,
    "project": "Apollo",
    "billable": True,
    "tags": [" backend", "Urgent", "backend ", "api"],
    "client": "Acme",
    "task": "Login",
}


def listed(client, headers, query: str = "") -> list[tuple]:
    """Return the (description, tags) of the caller's entries the query keeps, newest first."""
    response = client.get(f"/api/entries?limit=500{query}", headers=headers)
    assert response.status_code == 200, response.json
    return [(item["description"], item["tags"]) for item in response.json["items"]]


def test_an_entry_keeps_its_labels_and_its_tags_as_a_sorted_set(client, auth_headers):
    created = client.post("/api/entries", json=LABELLED, headers=auth_headers)

    fetched = client.get(f"/api/entries/{created.json['id']}", headers=auth_headers)

    assert created.status_code == 201
    labels = {key: created.json[key] for key in ("billable", "tags", "client", "task")}
    assert labels == {
        "billable": True,
        "tags": ["Urgent", "api", "backend"],
        "client": "Acme",
        "task": "Login",
    }
    assert fetched.json == created.json


def test_an_entry_without_labels_is_not_billable_and_has_no_tags(make_entry):
    entry = make_entry()

    assert (entry["billable"], entry["tags"], entry["client"], entry["task"]) == (
        False,
        [],
        None,
        None,
    )


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"tags": [f"t{n}" for n in range(MAX_TAGS + 1)]}, "tags"),
        ({"tags": ["x" * (MAX_TAG + 1)]}, "tags.0"),
        ({"tags": ["   "]}, "tags.0"),
        ({"tags": ["a,b"]}, "tags.0"),
        ({"tags": None}, "tags"),
        ({"tags": "backend"}, "tags"),
        ({"billable": "yes"}, "billable"),
        ({"billable": None}, "billable"),
        ({"client": "c" * 256}, "client"),
        ({"task": "a\u0000b"}, "task"),
    ],
)
def test_bad_labels_are_422_naming_the_field_and_store_nothing(client, auth_headers, fields, field):
    body = {"date": "2026-11-02T09:00:00Z", "duration": 1, **fields}

    response = client.post("/api/entries", json=body, headers=auth_headers)

    assert response.status_code == 422
    assert [error["field"] for error in response.json["errors"]] == [field]
    assert listed(client, auth_headers) == []


def test_a_patch_changes_only_the_labels_it_sends(client, auth_headers, make_entry):
    entry = make_entry(**LABELLED)
    changes = {"tags": ["ops", "ops"], "client": None, "billable": False}

    patched = client.patch(f"/api/entries/{entry['id']}", json=changes, headers=auth_headers)

    assert patched.status_code == 200
    assert (patched.json["tags"], patched.json["client"], patched.json["billable"]) == (
        ["ops"],
        None,
        False,
    )
    assert (patched.json["task"], patched.json["project"]) == ("Login", "Apollo")


@pytest.mark.parametrize("body", [{"tags": None}, {"billable": None}, {"tags": ["a,b"]}])
def test_a_patch_that_clears_tags_or_billable_with_null_changes_nothing(
    client, auth_headers, make_entry, body
):
    entry = make_entry(**LABELLED)

    response = client.patch(f"/api/entries/{entry['id']}", json=body, headers=auth_headers)

    assert response.status_code == 422
    assert client.get(f"/api/entries/{entry['id']}", headers=auth_headers).json == entry


@pytest.fixture
def labelled(make_entry) -> None:
    """Four entries: billable backend work for Acme, some tagged urgent, and one for Globex."""
    make_entry(description="a", billable=True, tags=["backend"], client="Acme", task="Login")
    make_entry(description="b", billable=True, tags=["backend", "urgent"], client="Acme")
    make_entry(description="c", tags=["urgent"], client="Globex", task="Login")
    make_entry(description="d")


@pytest.mark.parametrize(
    ("query", "descriptions"),
    [
        ("&billable=true", {"a", "b"}),
        ("&billable=false", {"c", "d"}),
        ("&tag=urgent", {"b", "c"}),
        ("&tag=urgent&tag=backend", {"b"}),
        ("&tag=backend&tag=nowhere", set()),
        ("&tag=%20urgent%20", {"b", "c"}),
        ("&client=Acme", {"a", "b"}),
        ("&task=Login", {"a", "c"}),
        ("&client=Acme&task=Login&billable=true&tag=backend", {"a"}),
    ],
)
def test_the_list_keeps_the_entries_with_every_label_asked_for(
    client, auth_headers, labelled, query, descriptions
):
    assert {description for description, _ in listed(client, auth_headers, query)} == descriptions


def test_the_export_and_the_report_take_the_same_label_filters(client, auth_headers, labelled):
    exported = client.get(
        "/api/entries/export?format=json&tag=urgent&billable=true", headers=auth_headers
    )
    report = client.get("/api/reports/summary?group_by=project&tag=urgent", headers=auth_headers)

    assert [entry["description"] for entry in exported.json] == ["b"]
    assert report.status_code == 200
    assert report.json["total"] == {"hours": 3.0, "billable_hours": 1.5, "entries": 2}


@pytest.mark.parametrize(
    "query",
    [
        "billable=maybe",
        "tag=",
        "tag=a,b",
        "&".join(f"tag=t{n}" for n in range(MAX_TAGS + 1)),
        f"client={'c' * 256}",
    ],
)
def test_bad_label_filters_are_422(client, auth_headers, query):
    response = client.get(f"/api/entries?{query}", headers=auth_headers)

    assert response.status_code == 422
    assert response.json["status"] == 422


def test_label_filters_do_not_reach_past_whose_entries_the_caller_may_read(
    client, make_user, headers_for, make_entry, labelled
):
    stranger = make_user("stranger@example.com")

    response = client.get("/api/entries?all=true&tag=urgent", headers=headers_for(stranger))

    assert response.status_code == 403
    assert response.json["status"] == 403


def test_the_bulk_upsert_counts_a_change_of_labels_only_as_an_update(client, auth_headers):
    item = {
        "date": "2026-11-02T09:00:00Z",
        "duration": 1,
        "source": "billing",
        "external_id": "inv-1",
        "tags": ["b", "a"],
    }

    def put(**changes) -> dict:
        body = {"entries": [{**item, **changes}]}
        response = client.put("/api/entries/bulk", json=body, headers=auth_headers)
        assert response.status_code == 200, response.json
        return response.json

    assert put() == {"created": 1, "updated": 0, "unchanged": 0}
    assert put(tags=["a", "b", "a"]) == {"created": 0, "updated": 0, "unchanged": 1}
    assert put(tags=["a"]) == {"created": 0, "updated": 1, "unchanged": 0}
    assert put(tags=["a"], billable=True) == {"created": 0, "updated": 1, "unchanged": 0}
    assert put(tags=["a"], billable=True, task="T") == {"created": 0, "updated": 1, "unchanged": 0}
    assert listed(client, auth_headers) == [(None, ["a"])]


def test_a_page_postgresql_writes_carries_the_labels_as_the_entry_model_does(make_app, pg_url):
    client = make_app(pg_url).test_client()
    account = {"email": "labels@example.com", "password": PASSWORD}
    client.post("/auth/register", json=account)
    token = client.post("/auth/login", json=account).json["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    bodies = [
        LABELLED,
        {"date": "2026-11-03T09:00:00Z", "duration": 1, "tags": ['"quoted" \\ Ünï 😀']},
        {"date": "2026-11-04T09:00:00Z", "duration": 1},
    ]
    created = [client.post("/api/entries", json=body, headers=headers).json for body in bodies]

    page = client.get("/api/entries", headers=headers)
    singles = [client.get(f"/api/entries/{e['id']}", headers=headers).json for e in created]

    assert page.status_code == 200
    assert page.json["items"] == created[::-1] == singles[::-1]
    assert [type(item["billable"]) for item in page.json["items"]] == [bool] * 3


def test_each_listed_labelled_entry_reads_as_the_entry_itself(client, auth_headers, make_entry):
    """On SQLite and PostgreSQL alike: the list's items are the single entries' JSON."""
    created = [make_entry(**LABELLED), make_entry(tags=["ü"], billable=True)]

    items = client.get("/api/entries", headers=auth_headers).json["items"]

    assert sorted(items, key=lambda e: e["id"]) == sorted(created, key=lambda e: e["id"])


def test_entries_from_before_migration_010_get_the_defaults(database_before):
    database = database_before("010", entry=True)

    applied = migrate(database)

    assert "010_entry_fields" in applied
    with database.connection_context():
        row = database.execute_sql(
            "SELECT billable, tags, client, task FROM time_entries"
        ).fetchone()
    billable, tags, client, task = row
    stored_tags = tags if isinstance(tags, list) else json.loads(tags)
    assert (bool(billable), stored_tags, client, task) == (False, [], None, None)
