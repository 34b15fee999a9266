"""Bulk writes: the import's read-ahead, and every writer (bulk caller, sync owner) recorded
as `updated_by` on the rows it creates or changes (an unchanged row keeps the last one)."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC
from datetime import datetime

import pytest

from service import sync
from service.db import db
from service.errors import APIError
from service.sync.pull import Pulled
from service.upserts import read_ahead


def counted(items: list, taken: list):
    """Yield ITEMS, noting in TAKEN each one as it is produced; an exception is raised."""
    for item in items:
        if isinstance(item, Exception):
            raise item
        taken.append(item)
        yield item


def test_read_ahead_yields_every_item_in_order_from_another_thread():
    threads = []

    def produce():
        for n in range(5):
            threads.append(threading.current_thread())
            yield n

    assert list(read_ahead(produce())) == [0, 1, 2, 3, 4]
    assert threading.current_thread() not in threads


def test_read_ahead_raises_the_producers_error_after_the_items_before_it():
    items = read_ahead(counted([1, 2, APIError(422, "bad file"), 3], []))

    assert [next(items), next(items)] == [1, 2]
    with pytest.raises(APIError, match="bad file"):
        next(items)


def test_read_ahead_stops_one_item_ahead_when_closed():
    taken: list[int] = []
    items = read_ahead(counted(list(range(10)), taken))

    assert next(items) == 0
    items.close()

    assert taken == [0, 1]


def bulk_entry(description: str = "Build", hours: float = 1.0) -> dict:
    """Return one bulk item with a fixed key."""
    return {
        "source": "jira",
        "external_id": "T-1",
        "date": "2024-03-04T09:00:00Z",
        "duration": hours,
        "description": description,
    }


@pytest.fixture
def lead_and_member(make_user, make_team, headers_for):
    """A manager and a member of her team, with their headers."""
    lead, member = make_user(role="manager"), make_user()
    make_team(members=(member,), managers=(lead,))
    return {"lead": lead, "member": member, "as": {p["id"]: headers_for(p) for p in (lead, member)}}


def stored(client, headers: dict, user_id: str) -> list[tuple]:
    """Return USER_ID's entries as (description, hours, updated_by)."""
    query = {"user_id": user_id}
    items = client.get("/api/entries", query_string=query, headers=headers).json["items"]
    return [(e["description"], e["duration"], e["updated_by"]) for e in items]


def test_a_bulk_write_names_its_writer_and_an_unchanged_row_keeps_the_last_one(
    client, lead_and_member
):
    lead, member = lead_and_member["lead"]["id"], lead_and_member["member"]["id"]

    def put(writer: str, item: dict):
        return client.put(
            f"/api/entries/bulk?user_id={member}",
            json={"entries": [item]},
            headers=lead_and_member["as"][writer],
        )

    own = put(member, bulk_entry())
    same_by_lead = put(lead, bulk_entry())
    after_same = stored(client, lead_and_member["as"][lead], member)
    changed_by_lead = put(lead, bulk_entry(hours=2.0))

    assert [r.json for r in (own, same_by_lead, changed_by_lead)] == [
        {"created": 1, "updated": 0, "unchanged": 0},
        {"created": 0, "updated": 0, "unchanged": 1},
        {"created": 0, "updated": 1, "unchanged": 0},
    ]
    assert after_same == [("Build", 1.0, member)]
    assert stored(client, lead_and_member["as"][lead], member) == [("Build", 2.0, lead)]


def test_a_services_bulk_write_names_the_service_client(
    client, user, auth_headers, make_client, service_token
):
    service = make_client("entries:write", "entries:read", "entries:any-user")
    headers = {"Authorization": f"Bearer {service_token(service)}"}

    response = client.put(
        f"/api/entries/bulk?user_id={user['id']}",
        json={"entries": [bulk_entry()]},
        headers=headers,
    )

    assert response.json == {"created": 1, "updated": 0, "unchanged": 0}
    assert stored(client, auth_headers, user["id"]) == [("Build", 1.0, service["id"])]


def test_a_member_cannot_bulk_write_for_another_member(
    client, lead_and_member, make_user, headers_for, database_state
):
    other = headers_for(make_user())
    before = database_state()

    response = client.put(
        f"/api/entries/bulk?user_id={lead_and_member['member']['id']}",
        json={"entries": [bulk_entry()]},
        headers=other,
    )

    assert response.status_code == 403
    assert database_state() == before


def test_a_sync_writes_as_the_integrations_owner(app, client, user, auth_headers):
    pulled = Pulled(cursor="1")
    pulled.add("toggl", "77", datetime(2024, 3, 4, 9, tzinfo=UTC), 3600, description="Sync")

    with app.app_context(), db.connection_context():
        counts = sync.write(uuid.UUID(user["id"]), "toggl", pulled)

    assert counts["created"] == 1
    assert stored(client, auth_headers, user["id"]) == [("Sync", 1.0, user["id"])]
