"""The caller's time entries: CRUD, ownership, keyset paging, filters and the bulk upsert."""

from __future__ import annotations

import time
import uuid
from datetime import UTC
from datetime import datetime
from datetime import timedelta

import psycopg2
import pytest

from service.migrate import migrate
from service.migrate import open_database
from service.models import TimeEntry
from service.models import time_ordered_id
from service.models import time_ordered_ids
from tests.conftest import PASSWORD


def bulk_item(n: int, **fields) -> dict:
    start = datetime(2026, 10, 1, 8, tzinfo=UTC) + timedelta(hours=n)
    return {
        "date": start.isoformat(),
        "duration": 0.5,
        "source": "toggl",
        "external_id": str(4_000_000_000 + n),
        "project": "Apollo",
        **fields,
    }


def test_create_answers_201_with_location_and_the_entry(client, auth_headers):
    body = {"date": "2026-11-02T10:00:00+01:00", "duration": 1.25, "description": "review"}

    response = client.post("/api/entries", json=body, headers=auth_headers)

    assert response.status_code == 201
    assert response.headers["Location"] == f"/api/entries/{response.json['id']}"
    assert response.json["date"] == "2026-11-02T09:00:00Z"
    assert response.json["duration"] == 1.25
    assert response.json["source"] == "manual"


def test_get_patch_delete_round_trip(client, auth_headers, make_entry):
    entry = make_entry()
    url = f"/api/entries/{entry['id']}"

    patched = client.patch(url, json={"project": None, "duration": 2}, headers=auth_headers)
    fetched = client.get(url, headers=auth_headers)
    deleted = client.delete(url, headers=auth_headers)
    gone = client.get(url, headers=auth_headers)

    assert patched.status_code == 200
    assert patched.json["project"] is None
    assert patched.json["duration"] == 2
    assert fetched.json == patched.json
    assert deleted.status_code == 204
    assert gone.status_code == 404


def test_another_users_entry_does_not_exist_for_you(client, make_user, headers_for, make_entry):
    entry = make_entry()
    intruder = headers_for(make_user())
    url = f"/api/entries/{entry['id']}"

    answers = [
        client.get(url, headers=intruder).status_code,
        client.patch(url, json={"duration": 3}, headers=intruder).status_code,
        client.delete(url, headers=intruder).status_code,
    ]

    assert answers == [404, 404, 404]
    assert TimeEntry.get_by_id(uuid.UUID(entry["id"])).duration == 1.5
    assert client.get("/api/entries", headers=intruder).json["items"] == []


def test_list_is_newest_first_and_filtered(client, auth_headers, make_entry):
    make_entry(date="2026-11-01T09:00:00Z", project="Apollo")
    make_entry(date="2026-11-03T09:00:00Z", project="Gemini", source="harvest")
    make_entry(date="2026-11-05T09:00:00Z", project="Apollo")

    everything = client.get("/api/entries", headers=auth_headers).json["items"]
    window = client.get(
        "/api/entries?from=2026-11-02T00:00:00Z&to=2026-11-05T09:00:00Z", headers=auth_headers
    ).json["items"]
    apollo = client.get("/api/entries?project=Apollo", headers=auth_headers).json["items"]
    harvest = client.get("/api/entries?source=harvest", headers=auth_headers).json["items"]

    assert [e["date"][:10] for e in everything] == ["2026-11-05", "2026-11-03", "2026-11-01"]
    assert [e["project"] for e in window] == ["Gemini"]
    assert [e["date"][:10] for e in apollo] == ["2026-11-05", "2026-11-01"]
    assert [e["project"] for e in harvest] == ["Gemini"]


def test_pages_visit_every_entry_once_even_while_entries_are_added(
    client, auth_headers, make_entry
):
    existing = [make_entry(date="2026-11-02T09:00:00Z", description=f"tie {n}") for n in range(7)]
    existing += [make_entry(date=f"2026-11-0{n + 3}T09:00:00Z") for n in range(5)]
    seen, cursor, pages = [], None, 0

    while pages == 0 or cursor is not None:
        query = "?limit=3" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(f"/api/entries{query}", headers=auth_headers).json
        seen += [e["id"] for e in page["items"]]
        cursor, pages = page["next_cursor"], pages + 1
        if pages == 2:
            newer = make_entry(date="2026-12-01T09:00:00Z", description="newer than the cursor")

    assert len(seen) == len(set(seen))
    assert set(seen) >= {e["id"] for e in existing}
    assert newer["id"] not in seen
    assert pages == 4


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("limit=0", 422),
        ("limit=501", 422),
        ("limit=99999999999999999999", 422),
        ("limit=ten", 422),
        ("from=2026-11-01", 422),
        ("from=yesterday", 422),
        ("source=Not A Slug", 422),
        ("cursor=bm90IGEgY3Vyc29y", 400),
        ("cursor=%FF%FE", 400),
        ("sort=date", 422),
    ],
)
def test_bad_list_queries_are_4xx_problems(client, auth_headers, query, status):
    response = client.get(f"/api/entries?{query}", headers=auth_headers)

    assert response.status_code == status
    assert response.mimetype == "application/problem+json"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"date": "2026-11-02T10:00:00", "duration": 1}, "date"),
        ({"date": "2026-11-02T10:00:00Z", "duration": True}, "duration"),
        ({"date": "2026-11-02T10:00:00Z", "duration": "1"}, "duration"),
        ({"date": "2026-11-02T10:00:00Z", "duration": 0}, "duration"),
        ({"date": "2026-11-02T10:00:00Z", "duration": -1}, "duration"),
        ({"date": "2026-11-02T10:00:00Z", "duration": 24.01}, "duration"),
        ({"date": "2026-11-02T10:00:00Z", "duration": 1e308}, "duration"),
        ({"date": "0001-01-01T00:00:00Z", "duration": 1}, "date"),
        ({"date": "9999-12-31T00:00:00Z", "duration": 1}, "date"),
        ({"date": "2026-11-02T10:00:00Z", "duration": 1, "user": "someone"}, "user"),
        ({"date": "2026-11-02T10:00:00Z", "duration": 1, "source": "Toggl!"}, "source"),
        ({"date": "2026-11-02T10:00:00Z", "duration": 1, "project": "p" * 256}, "project"),
        ({"duration": 1}, "date"),
    ],
)
def test_invalid_entries_are_422_naming_the_field_and_store_nothing(
    client, auth_headers, body, field
):
    response = client.post("/api/entries", json=body, headers=auth_headers)

    assert response.status_code == 422
    assert field in [e["field"] for e in response.json["errors"]]
    assert TimeEntry.select().count() == 0


@pytest.mark.parametrize(
    "body", [{"date": None}, {"duration": None}, {"id": "x"}, {"duration": 30}]
)
def test_invalid_patches_change_nothing(client, auth_headers, make_entry, body):
    entry = make_entry()

    response = client.patch(f"/api/entries/{entry['id']}", json=body, headers=auth_headers)

    assert response.status_code == 422
    assert client.get(f"/api/entries/{entry['id']}", headers=auth_headers).json == entry


def test_an_external_id_is_unique_per_source(client, auth_headers, make_entry):
    make_entry(source="toggl", external_id="42")

    response = client.post(
        "/api/entries",
        json={
            "date": "2026-11-02T10:00:00Z",
            "duration": 1,
            "source": "toggl",
            "external_id": "42",
        },
        headers=auth_headers,
    )

    assert response.status_code == 409
    assert TimeEntry.select().count() == 1


def test_bulk_upsert_creates_then_updates_then_leaves_alone(client, auth_headers):
    batch = [bulk_item(n) for n in range(5)]
    changed = [*batch[:3], *(bulk_item(n, duration=2.0) for n in (3, 4)), bulk_item(5)]

    first = client.put("/api/entries/bulk", json={"entries": batch}, headers=auth_headers)
    again = client.put("/api/entries/bulk", json={"entries": batch}, headers=auth_headers)
    third = client.put("/api/entries/bulk", json={"entries": changed}, headers=auth_headers)

    assert first.json == {"created": 5, "updated": 0, "unchanged": 0}
    assert again.json == {"created": 0, "updated": 0, "unchanged": 5}
    assert third.json == {"created": 1, "updated": 2, "unchanged": 3}
    assert TimeEntry.select().count() == 6
    assert TimeEntry.get(TimeEntry.external_id == "4000000004").duration == 2.0


def unix_ms(entry_id: uuid.UUID) -> int:
    """Return the Unix time in ms a UUIDv7 was made at (its first 48 bits)."""
    return entry_id.int >> 80


def test_time_ordered_ids_are_uuid7s_that_sort_in_the_order_they_were_made():
    before = time.time_ns() // 1_000_000
    batch = [uuid.UUID(text) for text in time_ordered_ids(500)]
    time.sleep(0.002)
    later = time_ordered_id()

    assert {(made.version, made.variant) for made in [*batch, later]} == {(7, uuid.RFC_4122)}
    assert len(set(batch)) == 500
    assert before <= unix_ms(batch[0]) < unix_ms(later) <= time.time_ns() // 1_000_000
    assert max(batch) < later


def test_new_entries_get_time_ordered_ids_however_they_arrive(client, auth_headers):
    before = time.time_ns() // 1_000_000
    client.post("/api/entries", json=bulk_item(0), headers=auth_headers)
    batch = [bulk_item(n) for n in range(1, 4)]
    client.put("/api/entries/bulk", json={"entries": batch}, headers=auth_headers)
    after = time.time_ns() // 1_000_000

    ids = [entry.id for entry in TimeEntry.select()]
    assert len(ids) == 4
    assert {made.version for made in ids} == {7}
    assert all(before <= unix_ms(made) <= after for made in ids)


def test_sending_the_same_batch_twice_changes_no_row(client, auth_headers):
    batch = [bulk_item(n) for n in range(3)]
    client.put("/api/entries/bulk", json={"entries": batch}, headers=auth_headers)
    before = sorted((e.id, e.updated_at) for e in TimeEntry.select())

    client.put("/api/entries/bulk", json={"entries": batch}, headers=auth_headers)

    assert sorted((e.id, e.updated_at) for e in TimeEntry.select()) == before


def test_bulk_upsert_is_scoped_to_the_caller(client, auth_headers, make_user, headers_for):
    other = headers_for(make_user())
    client.put("/api/entries/bulk", json={"entries": [bulk_item(1)]}, headers=other)

    response = client.put(
        "/api/entries/bulk", json={"entries": [bulk_item(1)]}, headers=auth_headers
    )

    assert response.json == {"created": 1, "updated": 0, "unchanged": 0}
    assert TimeEntry.select().count() == 2


def test_a_bulk_batch_with_bad_items_lists_every_one_and_writes_nothing(client, auth_headers):
    batch = [bulk_item(0), bulk_item(1, duration=-1), bulk_item(2), bulk_item(3, external_id=None)]

    response = client.put("/api/entries/bulk", json={"entries": batch}, headers=auth_headers)

    assert response.status_code == 422
    fields = sorted(e["field"] for e in response.json["errors"])
    assert fields == ["entries.1.duration", "entries.3.external_id"]
    assert TimeEntry.select().count() == 0


def test_a_bulk_batch_naming_an_entry_twice_is_refused(client, auth_headers):
    batch = [bulk_item(0), bulk_item(1), bulk_item(0, duration=3.0)]

    response = client.put("/api/entries/bulk", json={"entries": batch}, headers=auth_headers)

    assert response.status_code == 422
    assert [e["field"] for e in response.json["errors"]] == ["entries.2.external_id"]
    assert TimeEntry.select().count() == 0


@pytest.mark.parametrize("count", [0, 1001])
def test_bulk_batches_hold_1_to_1000_entries(client, auth_headers, count):
    batch = [bulk_item(n) for n in range(count)]

    response = client.put("/api/entries/bulk", json={"entries": batch}, headers=auth_headers)

    assert response.status_code == 422
    assert TimeEntry.select().count() == 0


def test_a_full_batch_of_1000_is_stored(client, auth_headers):
    batch = [bulk_item(n) for n in range(1000)]

    response = client.put("/api/entries/bulk", json={"entries": batch}, headers=auth_headers)

    assert response.json == {"created": 1000, "updated": 0, "unchanged": 0}
    assert TimeEntry.select().count() == 1000


def test_bulk_updates_keep_the_entry_and_see_changes_to_and_from_null(client, auth_headers):
    batch = [bulk_item(0, description=None), bulk_item(1, description="notes")]
    client.put("/api/entries/bulk", json={"entries": batch}, headers=auth_headers)
    before = {e.external_id: (e.id, e.created_at, e.updated_at) for e in TimeEntry.select()}
    flipped = [bulk_item(0, description="notes"), bulk_item(1, description=None)]

    response = client.put("/api/entries/bulk", json={"entries": flipped}, headers=auth_headers)

    assert response.json == {"created": 0, "updated": 2, "unchanged": 0}
    for entry in TimeEntry.select():
        entry_id, created_at, updated_at = before[entry.external_id]
        assert (entry.id, entry.created_at) == (entry_id, created_at)
        assert entry.updated_at > updated_at
    assert {e.external_id: e.description for e in TimeEntry.select()} == {
        "4000000000": "notes",
        "4000000001": None,
    }


# Values whose JSON is easy to get subtly wrong: microseconds or none, whole and repeating
# durations, escapes, characters beyond ASCII and the line separators JavaScript dislikes.
AWKWARD_ENTRIES = [
    {"date": "2026-11-02T09:00:00Z", "duration": 2},
    {"date": "2026-11-02T09:00:00.000001Z", "duration": 1 / 3},
    {"date": "2026-11-02T09:00:00.5+01:00", "duration": 24, "project": None},
    {"date": "1970-01-01T00:00:00Z", "duration": 1 / 3600, "description": 'say "hi" \\ / '},
    {"date": "2026-11-02T09:00:00Z", "duration": 0.1 + 0.2, "description": "tab\t nl\n \x01 \x7f"},
    {"date": "2026-11-02T09:00:00Z", "duration": 1.5, "project": "Grüße 😀 \u2028\u2029 </script>"},
]


def test_each_listed_entry_reads_byte_for_byte_as_the_entry_itself(
    client, auth_headers, make_entry
):
    """A listed entry is the JSON a single entry gets, for values easy to get subtly wrong."""
    created = [make_entry(**fields) for fields in AWKWARD_ENTRIES]

    listed = client.get("/api/entries?limit=500", headers=auth_headers)
    singles = {
        e["id"]: client.get(f"/api/entries/{e['id']}", headers=auth_headers).get_data()
        for e in created
    }

    order = [item["id"] for item in listed.json["items"]]
    items = b",".join(singles[entry_id].rstrip(b"\n") for entry_id in order)
    assert sorted(order) == sorted(singles)
    assert listed.get_data() == b'{"items":[' + items + b'],"next_cursor":null}\n'


@pytest.fixture
def rounding_database(fresh_postgres_database) -> str:
    """A migrated PostgreSQL database whose sessions round floats to 15 digits by default."""
    url = fresh_postgres_database()
    migrate(open_database(url))
    conn = psycopg2.connect(url)
    try:
        conn.autocommit = True
        with conn.cursor() as cursor:
            cursor.execute(
                "DO $$ BEGIN EXECUTE format("
                "'ALTER DATABASE %I SET extra_float_digits = 0', current_database()); END $$"
            )
    finally:
        conn.close()
    return url


def test_durations_keep_every_digit_where_the_database_would_round_them(
    make_app, rounding_database
):
    client = make_app(rounding_database).test_client()
    account = {"email": "rounding@example.com", "password": PASSWORD}
    client.post("/auth/register", json=account)
    token = client.post("/auth/login", json=account).json["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    created = client.post(
        "/api/entries", json={"date": "2026-11-02T09:00:00Z", "duration": 1 / 3}, headers=headers
    )

    [listed] = client.get("/api/entries", headers=headers).json["items"]
    fetched = client.get(f"/api/entries/{listed['id']}", headers=headers).json

    assert created.status_code == 201
    assert listed["duration"] == fetched["duration"] == 1 / 3


def test_a_tiny_duration_lists_as_the_same_float(client, auth_headers, make_entry):
    """A duration below 0.0001 h lists as the float it is, not rounded or as text."""
    make_entry(duration=0.00001)

    [item] = client.get("/api/entries", headers=auth_headers).json["items"]

    assert isinstance(item["duration"], float)
    assert item["duration"] == 0.00001


@pytest.mark.parametrize("field", ["project", "description", "external_id"])
def test_text_with_a_nul_character_is_422_not_a_database_error(client, auth_headers, field):
    body = {"date": "2026-11-02T10:00:00Z", "duration": 1, field: "a\u0000b"}

    response = client.post("/api/entries", json=body, headers=auth_headers)

    assert response.status_code == 422
    assert [error["field"] for error in response.json["errors"]] == [field]


def test_a_page_postgresql_writes_is_the_entry_models_json(make_app, pg_url):
    client = make_app(pg_url).test_client()
    account = {"email": "page@example.com", "password": PASSWORD}
    client.post("/auth/register", json=account)
    token = client.post("/auth/login", json=account).json["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    bodies = [
        {"date": "2026-11-02T09:00:00Z", "duration": 2, "project": 'Ünïcode "quoted" \\ p'},
        {"date": "2026-11-03T09:00:00.250000+01:00", "duration": 0.25, "description": "a\nb"},
        {"date": "2026-11-04T23:59:59.000001Z", "duration": 0.00001, "source": "jira"},
        {"date": "2026-11-05T00:00:00Z", "duration": 24, "external_id": "X-1"},
    ]
    created = [client.post("/api/entries", json=body, headers=headers).json for body in bodies]

    first = client.get("/api/entries?limit=3", headers=headers)
    rest = client.get(f"/api/entries?limit=3&cursor={first.json['next_cursor']}", headers=headers)

    assert first.status_code == rest.status_code == 200
    assert first.json["items"] + rest.json["items"] == created[::-1]
    assert rest.json["next_cursor"] is None
    assert first.get_data(as_text=True).startswith('{"items":[{"id":')
