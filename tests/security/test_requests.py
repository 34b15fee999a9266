"""Hostile requests: other users' ids, injection strings, malformed and oversized bodies.

Each case asserts the exact status and that the database did not change.
"""

from __future__ import annotations

import base64

import pytest

INJECTIONS = [
    "' OR '1'='1",
    "1; DROP TABLE time_entries; --",
    "' UNION SELECT password_hash FROM users --",
    '{"$gt": ""}',
    "${jndi:ldap://127.0.0.1/a}",
    "<script>alert(1)</script>",
    "\\u0000",
    "%00",
]
ENTRY = {"date": "2026-11-02T09:00:00Z", "duration": 1.5}


@pytest.fixture
def victim_entry(make_entry, database_state):
    """An entry of `user`; returns it with the database's state."""
    entry = make_entry(source="toggl", external_id="t-1")
    return entry, database_state()


@pytest.fixture
def intruder(make_user, headers_for):
    """Authorization headers of a second user."""
    return headers_for(make_user())


ENTRY_ROUTES = [
    ("get", "/api/entries/{id}", None),
    ("patch", "/api/entries/{id}", {"duration": 9.0}),
    ("delete", "/api/entries/{id}", None),
]


def test_the_route_table_covers_every_entry_id_route(app):
    routes = {
        (method.lower(), rule.rule.replace("<uuid:entry_id>", "{id}"))
        for rule in app.url_map.iter_rules()
        if "entry_id" in rule.arguments
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }

    assert routes == {(method, path) for method, path, _ in ENTRY_ROUTES}


@pytest.mark.parametrize(("method", "path", "body"), ENTRY_ROUTES)
def test_another_users_entry_does_not_exist_for_them(
    client, victim_entry, intruder, database_state, method, path, body
):
    entry, _ = victim_entry
    before = database_state()

    response = getattr(client, method)(path.format(id=entry["id"]), json=body, headers=intruder)

    assert response.status_code == 404
    assert database_state() == before


def test_another_users_entries_are_not_listed(client, victim_entry, intruder):
    response = client.get("/api/entries", headers=intruder)

    assert response.status_code == 200
    assert response.json == {"items": [], "next_cursor": None}


def test_another_users_cursor_shows_only_own_entries(client, make_entry, intruder):
    make_entry(date="2026-11-03T09:00:00Z")
    make_entry(date="2026-11-02T09:00:00Z")

    response = client.get("/api/entries?limit=1", headers=intruder)

    assert response.json["items"] == []


def test_bulk_with_another_users_keys_leaves_their_entry_alone(
    client, victim_entry, intruder, database_state
):
    entry, before = victim_entry
    body = {"entries": [{**ENTRY, "duration": 9.0, "source": "toggl", "external_id": "t-1"}]}

    response = client.put("/api/entries/bulk", json=body, headers=intruder)

    assert response.status_code == 200
    assert response.json == {"created": 1, "updated": 0, "unchanged": 0}
    after = database_state()
    assert [row for row in after["time_entries"] if entry["id"] in row] == [
        row for row in before["time_entries"] if entry["id"] in row
    ]


def test_a_user_cannot_act_for_another_through_user_id(
    client, user, intruder, victim_entry, database_state
):
    _, before = victim_entry

    response = client.post(f"/api/entries?user_id={user['id']}", json=ENTRY, headers=intruder)

    assert response.status_code == 403
    assert database_state() == before


@pytest.mark.parametrize("name", ["from", "to", "source", "cursor", "limit", "user_id"])
def test_injection_in_a_structured_filter_is_rejected(
    client, auth_headers, victim_entry, database_state, name
):
    _, before = victim_entry

    responses = [
        client.get("/api/entries", query_string={name: value}, headers=auth_headers)
        for value in INJECTIONS
    ]

    expected = 400 if name == "cursor" else 422
    assert [r.status_code for r in responses] == [expected] * len(INJECTIONS)
    assert {r.mimetype for r in responses} == {"application/problem+json"}
    assert database_state() == before


def test_injection_in_the_project_filter_matches_nothing(
    client, auth_headers, victim_entry, database_state
):
    _, before = victim_entry

    responses = [
        client.get("/api/entries", query_string={"project": value}, headers=auth_headers)
        for value in INJECTIONS
    ]

    assert [(r.status_code, r.json["items"]) for r in responses] == [(200, [])] * len(INJECTIONS)
    assert database_state() == before


@pytest.mark.parametrize("field", ["project", "description", "external_id"])
def test_injection_in_a_text_field_is_stored_as_text(client, auth_headers, field):
    created = [
        client.post("/api/entries", json={**ENTRY, field: value}, headers=auth_headers)
        for value in INJECTIONS
    ]
    listed = client.get("/api/entries", headers=auth_headers)

    assert [(r.status_code, r.json[field]) for r in created] == [(201, v) for v in INJECTIONS]
    assert sorted(item[field] for item in listed.json["items"]) == sorted(INJECTIONS)


@pytest.mark.parametrize("field", ["project", "description", "external_id"])
def test_a_nul_character_is_422(client, auth_headers, victim_entry, database_state, field):
    _, before = victim_entry

    response = client.post("/api/entries", json={**ENTRY, field: "a\x00b"}, headers=auth_headers)

    assert response.status_code == 422
    assert response.json["errors"][0]["field"] == field
    assert database_state() == before


@pytest.mark.parametrize("field", ["source", "date", "duration"])
def test_injection_in_a_typed_field_is_422(
    client, auth_headers, victim_entry, database_state, field
):
    _, before = victim_entry
    values = [*INJECTIONS[:6], {"$gt": 0}, ["a"], True]

    responses = [
        client.post("/api/entries", json={**ENTRY, field: value}, headers=auth_headers)
        for value in values
    ]

    assert [r.status_code for r in responses] == [422] * len(values)
    assert database_state() == before


@pytest.mark.parametrize(
    "body",
    [
        {**ENTRY, "user": "someone"},
        {**ENTRY, "user_id": "someone"},
        {**ENTRY, "id": "00000000-0000-0000-0000-000000000000"},
        {**ENTRY, "__proto__": {"admin": True}},
        {**ENTRY, "created_at": "2000-01-01T00:00:00Z"},
    ],
)
def test_unknown_fields_are_422(client, auth_headers, victim_entry, database_state, body):
    _, before = victim_entry

    response = client.post("/api/entries", json=body, headers=auth_headers)

    assert response.status_code == 422
    assert database_state() == before


def raw_post(client, path, data: bytes, headers):
    return client.post(path, data=data, content_type="application/json", headers=headers)


def nested(depth: int) -> bytes:
    return b'{"entries": ' + b"[" * depth + b"]" * depth + b"}"


@pytest.mark.parametrize(
    ("data", "detail"),
    [
        (nested(20), "The request body nests deeper than 16 levels."),
        (nested(100_000), "The request body nests deeper than 16 levels."),
        (b'{"date": "2026-11-02T09:00:00Z", "duration": 1, "duration": 24}', "repeats the key"),
        (b'{"date": "2026-11-02T09:00:00Z", "duration": 1, "project": "\xff\xfe"}', "UTF-8"),
        (b'\xef\xbb\xbf{"date": "2026-11-02T09:00:00Z", "duration": 1}', "not valid JSON"),
        (b'{"date": "2026-11-02T09:00:00Z", "duration": NaN}', "NaN is not a number"),
        (b'{"date": "2026-11-02T09:00:00Z", "duration": ' + b"9" * 5000 + b"}", "not valid"),
        (b"", "not valid JSON"),
        (b"{", "not valid JSON"),
    ],
)
def test_malformed_bodies_are_400(client, auth_headers, victim_entry, database_state, data, detail):
    _, before = victim_entry

    response = raw_post(client, "/api/entries", data, auth_headers)

    assert response.status_code == 400
    assert detail in response.json["detail"]
    assert database_state() == before


@pytest.mark.parametrize("path", ["/auth/register", "/auth/login", "/api/entries/bulk"])
def test_duplicate_keys_are_400_on_every_json_route(client, auth_headers, database_state, path):
    before = database_state()
    data = b'{"email": "a@example.com", "email": "b@example.com", "password": "x"}'
    if path.endswith("bulk"):
        data = b'{"entries": [], "entries": []}'

    response = client.open(
        path,
        method="PUT" if path.endswith("bulk") else "POST",
        data=data,
        content_type="application/json",
        headers=auth_headers,
    )

    assert response.status_code == 400
    assert database_state() == before


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("limit=501", 422),
        ("limit=1000000000000000000000000", 422),
        ("limit=0", 422),
        ("limit=-1", 422),
        ("limit=" + "9" * 5000, 422),
        ("limit=500", 200),
    ],
)
def test_page_size_is_bounded(client, auth_headers, query, status):
    response = client.get(f"/api/entries?{query}", headers=auth_headers)

    assert response.status_code == status


@pytest.mark.parametrize("duration", [-1, 0, -0.0, 24.0001, 1e308, 10**30, "1", None, "Infinity"])
def test_impossible_durations_are_422(client, auth_headers, victim_entry, database_state, duration):
    _, before = victim_entry

    response = client.post(
        "/api/entries", json={**ENTRY, "duration": duration}, headers=auth_headers
    )

    assert response.status_code == 422
    assert database_state() == before


@pytest.mark.parametrize(
    "date",
    [
        "0001-01-01T00:00:00Z",
        "0001-01-01T00:00:00+14:00",
        "1969-12-31T23:59:59Z",
        "2100-01-01T00:00:00Z",
        "9999-12-31T23:59:59-14:00",
        "+275760-09-13T00:00:00Z",
        "2026-11-02T09:00:00",
        "2026-02-30T09:00:00Z",
    ],
)
def test_dates_far_in_the_past_or_future_are_422(
    client, auth_headers, victim_entry, database_state, date
):
    entry, before = victim_entry

    created = client.post("/api/entries", json={**ENTRY, "date": date}, headers=auth_headers)
    patched = client.patch(f"/api/entries/{entry['id']}", json={"date": date}, headers=auth_headers)
    filtered = client.get("/api/entries", query_string={"from": date}, headers=auth_headers)

    assert (created.status_code, patched.status_code, filtered.status_code) == (422, 422, 422)
    assert database_state() == before


@pytest.mark.parametrize("date", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
def test_a_forged_cursor_with_an_extreme_date_is_400(client, auth_headers, date):
    cursor = base64.urlsafe_b64encode(f"{date}|{'0' * 32}".encode()).decode().rstrip("=")

    response = client.get("/api/entries", query_string={"cursor": cursor}, headers=auth_headers)

    assert response.status_code == 400
    assert response.json["detail"] == "The cursor is not one this service issued."
