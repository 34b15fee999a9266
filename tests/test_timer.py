"""Running timers: start, start again, stop, discard; one running per user; every answer
says whether an entry runs; reports count running timers only when asked."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC
from datetime import datetime
from datetime import timedelta

import peewee
import pytest

from service.db import db
from service.migrate import migrate
from service.models import TimeEntry
from service.models import utcnow

TIMER = "/api/timer"


def ago(hours: float) -> str:
    """Return the moment HOURS before now, in ISO-8601 UTC."""
    return (datetime.now(UTC) - timedelta(hours=hours)).isoformat()


def later(moment: str, hours: float) -> str:
    """Return the moment HOURS after MOMENT (ISO-8601)."""
    return (datetime.fromisoformat(moment) + timedelta(hours=hours)).isoformat()


def at(moment: str) -> str:
    """Return MOMENT as the API writes it: UTC with a Z."""
    return datetime.fromisoformat(moment).astimezone(UTC).isoformat().replace("+00:00", "Z")


def test_a_timer_runs_until_it_is_stopped(client, auth_headers):
    start = ago(2)

    started = client.post(TIMER, json={"project": "Apollo", "start": start}, headers=auth_headers)
    running = client.get(TIMER, headers=auth_headers)
    stopped = client.post(f"{TIMER}/stop", json={"stop": later(start, 1.5)}, headers=auth_headers)
    after = client.get(TIMER, headers=auth_headers)

    assert started.status_code == 201
    assert started.headers["Location"] == f"/api/entries/{started.json['id']}"
    assert (started.json["date"], started.json["project"]) == (at(start), "Apollo")
    assert (started.json["duration"], started.json["running"], started.json["stopped"]) == (
        None,
        True,
        None,
    )
    assert running.status_code == 200
    assert running.json == {k: v for k, v in started.json.items() if k != "stopped"}
    assert running.headers["ETag"] == started.headers["ETag"]
    assert stopped.status_code == 200
    assert (stopped.json["id"], stopped.json["duration"], stopped.json["running"]) == (
        started.json["id"],
        1.5,
        False,
    )
    assert stopped.headers["ETag"] != started.headers["ETag"]
    assert after.status_code == 404
    assert after.json["detail"] == "No timer is running."


def test_a_timer_keeps_its_labels_once_stopped(client, auth_headers):
    labels = {"billable": True, "tags": ["review", "Backend"], "client": "Acme", "task": "T-1"}
    start = ago(1)

    started = client.post(TIMER, json={**labels, "start": start}, headers=auth_headers)
    stopped = client.post(f"{TIMER}/stop", json={"stop": later(start, 0.5)}, headers=auth_headers)
    listed = client.get("/api/entries?tag=review&billable=true&client=Acme", headers=auth_headers)

    assert started.status_code == 201
    kept = {"billable": True, "tags": ["Backend", "review"], "client": "Acme", "task": "T-1"}
    assert {name: started.json[name] for name in labels} == kept
    assert {name: stopped.json[name] for name in labels} == kept
    assert [item["id"] for item in listed.json["items"]] == [started.json["id"]]


def test_without_a_body_a_timer_starts_and_stops_now(client, auth_headers):
    before = utcnow()

    started = client.post(TIMER, headers=auth_headers)
    stopped = client.post(f"{TIMER}/stop", headers=auth_headers)

    assert started.status_code == 201
    assert before <= datetime.fromisoformat(started.json["date"]) <= utcnow()
    assert stopped.status_code == 200
    assert 0 < stopped.json["duration"] < 0.01


def test_starting_again_stops_the_running_timer_at_the_new_start(client, auth_headers):
    first_start = ago(3)
    first = client.post(
        TIMER, json={"project": "Apollo", "start": first_start}, headers=auth_headers
    )
    second_start = later(first_start, 0.5)

    second = client.post(
        TIMER, json={"project": "Gemini", "start": second_start}, headers=auth_headers
    )

    assert second.status_code == 201
    assert (second.json["project"], second.json["running"]) == ("Gemini", True)
    assert second.json["stopped"]["id"] == first.json["id"]
    assert (second.json["stopped"]["duration"], second.json["stopped"]["running"]) == (0.5, False)
    listed = client.get("/api/entries", headers=auth_headers).json["items"]
    assert [(e["project"], e["running"], e["duration"]) for e in listed] == [
        ("Gemini", True, None),
        ("Apollo", False, 0.5),
    ]


def test_a_start_not_after_the_running_timers_start_is_a_conflict(client, auth_headers):
    start = ago(1)
    running = client.post(TIMER, json={"start": start}, headers=auth_headers).json

    answers = [
        client.post(TIMER, json={"start": moment}, headers=auth_headers)
        for moment in (start, later(start, -0.5))
    ]

    assert [a.status_code for a in answers] == [409, 409]
    assert answers[0].json["detail"].startswith("A timer has run since")
    assert client.get(TIMER, headers=auth_headers).json["id"] == running["id"]
    assert len(client.get("/api/entries", headers=auth_headers).json["items"]) == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"start": (datetime.now(UTC) + timedelta(hours=1)).isoformat()}, "start"),
        ({"start": "2026-11-02T09:00:00"}, "start"),
        ({"start": "1969-12-31T23:00:00Z"}, "start"),
        ({"start": 1_700_000_000}, "start"),
        ({"project": "x" * 256}, "project"),
        ({"duration": 1}, "duration"),
    ],
)
def test_a_bad_start_is_422_and_starts_nothing(client, auth_headers, body, field):
    response = client.post(TIMER, json=body, headers=auth_headers)

    assert response.status_code == 422
    assert [error["field"] for error in response.json["errors"]] == [field]
    assert client.get(TIMER, headers=auth_headers).status_code == 404


@pytest.mark.parametrize("hours", [0, -1, 25])
def test_a_stop_that_makes_no_valid_duration_is_422_and_keeps_it_running(
    client, auth_headers, hours
):
    start = ago(30)
    client.post(TIMER, json={"start": start}, headers=auth_headers)

    response = client.post(
        f"{TIMER}/stop", json={"stop": later(start, hours)}, headers=auth_headers
    )

    assert response.status_code == 422
    assert response.json["errors"] == [
        {"field": "stop", "message": "must be after the start and at most 24 hours after it"}
    ]
    assert client.get(TIMER, headers=auth_headers).json["running"] is True


def test_a_stop_in_the_future_is_422(client, auth_headers):
    client.post(TIMER, json={"start": ago(1)}, headers=auth_headers)
    tomorrow = (datetime.now(UTC) + timedelta(hours=2)).isoformat()

    response = client.post(f"{TIMER}/stop", json={"stop": tomorrow}, headers=auth_headers)

    assert response.status_code == 422
    assert response.json["errors"] == [{"field": "stop", "message": "is in the future"}]


def test_a_forgotten_timer_is_stopped_only_when_told_when(client, auth_headers):
    start = ago(30)
    client.post(TIMER, json={"start": start}, headers=auth_headers)

    silent = client.post(f"{TIMER}/stop", headers=auth_headers)
    told = client.post(f"{TIMER}/stop", json={"stop": later(start, 8)}, headers=auth_headers)

    assert silent.status_code == 422
    assert "send `stop` to say when it ended" in silent.json["detail"]
    assert silent.json["errors"] == [
        {"field": "stop", "message": "is required for a forgotten timer"}
    ]
    assert told.status_code == 200
    assert (told.json["duration"], told.json["running"]) == (8, False)


def test_a_new_start_does_not_silently_stop_a_forgotten_timer(client, auth_headers):
    forgotten = client.post(TIMER, json={"start": ago(30)}, headers=auth_headers).json

    response = client.post(TIMER, headers=auth_headers)

    assert response.status_code == 422
    assert response.json["errors"][0]["field"] == "start"
    assert "stop that one with an explicit `stop` first" in response.json["errors"][0]["message"]
    assert client.get(TIMER, headers=auth_headers).json["id"] == forgotten["id"]


def test_a_discarded_timer_is_gone(client, auth_headers, make_entry):
    kept = make_entry()
    client.post(TIMER, headers=auth_headers)

    discarded = client.delete(TIMER, headers=auth_headers)
    again = client.delete(TIMER, headers=auth_headers)
    stop = client.post(f"{TIMER}/stop", headers=auth_headers)

    assert discarded.status_code == 204
    assert (again.status_code, stop.status_code) == (404, 404)
    listed = client.get("/api/entries", headers=auth_headers).json["items"]
    assert [item["id"] for item in listed] == [kept["id"]]


def test_a_running_entry_reads_as_running_in_every_answer(client, auth_headers, make_entry):
    stopped = make_entry(date=ago(5), duration=1)
    running = client.post(TIMER, json={"start": ago(1)}, headers=auth_headers).json

    single = client.get(f"/api/entries/{running['id']}", headers=auth_headers).json
    listed = client.get("/api/entries", headers=auth_headers).json["items"]
    exported = client.get("/api/entries/export?format=json", headers=auth_headers).json

    assert (single["running"], single["duration"]) == (True, None)
    assert [(e["id"], e["running"], e["duration"]) for e in listed] == [
        (running["id"], True, None),
        (stopped["id"], False, 1),
    ]
    assert [(e["id"], e["running"], e["duration"]) for e in exported] == [
        (stopped["id"], False, 1),
        (running["id"], True, None),
    ]


def test_the_csv_export_leaves_running_timers_out(client, auth_headers, make_entry):
    stopped = make_entry(date=ago(5), duration=1)
    client.post(TIMER, json={"start": ago(1)}, headers=auth_headers)

    response = client.get("/api/entries/export?format=csv", headers=auth_headers)

    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert response.status_code == 200
    assert [row["external_id"] for row in rows] == [stopped["external_id"]]


def test_a_listed_running_entry_reads_byte_for_byte_as_the_entry_itself(
    client, auth_headers, make_entry
):
    """On PostgreSQL the database writes the list: `running` must come out as pydantic's."""
    make_entry(date=ago(5), duration=0.25)
    client.post(TIMER, json={"start": ago(1), "description": 'a "b"\n'}, headers=auth_headers)

    listed = client.get("/api/entries", headers=auth_headers)
    singles = [
        client.get(f"/api/entries/{item['id']}", headers=auth_headers).get_data().rstrip(b"\n")
        for item in listed.json["items"]
    ]

    assert listed.get_data() == b'{"items":[' + b",".join(singles) + b'],"next_cursor":null}\n'


def test_a_patch_works_on_a_running_timer_and_if_match_sees_a_stop(client, auth_headers):
    started = client.post(TIMER, json={"start": ago(2)}, headers=auth_headers)
    url = started.headers["Location"]

    patched = client.patch(
        url,
        json={"project": "Apollo"},
        headers={**auth_headers, "If-Match": started.headers["ETag"]},
    )
    client.post(f"{TIMER}/stop", headers=auth_headers)
    stale = client.patch(
        url,
        json={"project": "Gemini"},
        headers={**auth_headers, "If-Match": patched.headers["ETag"]},
    )

    assert patched.status_code == 200
    assert (patched.json["project"], patched.json["running"]) == ("Apollo", True)
    assert stale.status_code == 412
    current = client.get(url, headers=auth_headers).json
    assert (current["project"], current["running"]) == ("Apollo", False)


def test_patching_a_duration_stops_a_running_timer(client, auth_headers):
    url = client.post(TIMER, json={"start": ago(2)}, headers=auth_headers).headers["Location"]

    patched = client.patch(url, json={"duration": 1.25}, headers=auth_headers)
    unstop = client.patch(url, json={"duration": None}, headers=auth_headers)

    assert patched.status_code == 200
    assert (patched.json["duration"], patched.json["running"]) == (1.25, False)
    assert unstop.status_code == 422
    assert client.get(TIMER, headers=auth_headers).status_code == 404


def test_the_database_holds_one_running_entry_per_user(app, client, auth_headers, user):
    client.post(TIMER, json={"start": ago(2)}, headers=auth_headers)

    with app.app_context(), db.connection_context(), pytest.raises(peewee.IntegrityError):
        TimeEntry.create(user=uuid.UUID(user["id"]), date=utcnow(), duration=None)


def test_a_bulk_upsert_never_creates_a_running_entry(client, auth_headers):
    item = {"date": ago(1), "duration": None, "source": "toggl", "external_id": "1"}

    response = client.put("/api/entries/bulk", json={"entries": [item]}, headers=auth_headers)

    assert response.status_code == 422
    assert [e["field"] for e in response.json["errors"]] == ["entries.0.duration"]
    assert client.get("/api/entries", headers=auth_headers).json["items"] == []


def test_reports_count_running_timers_only_when_asked(client, auth_headers, make_entry):
    make_entry(date=ago(5), duration=1)
    client.post(TIMER, json={"start": ago(2)}, headers=auth_headers)
    path = "/api/reports/summary?group_by=project"

    finished = client.get(path, headers=auth_headers).json
    running = client.get(f"{path}&include_running=true", headers=auth_headers).json

    assert finished["total"] == {"hours": 1.0, "billable_hours": 0.0, "entries": 1}
    assert running["total"] == {"hours": 3.0, "billable_hours": 0.0, "entries": 2}
    assert running["rows"] == [
        {"project": "Apollo", "hours": 1.0, "billable_hours": 0.0, "entries": 1},
        {"project": None, "hours": 2.0, "billable_hours": 0.0, "entries": 1},
    ]


def test_a_running_billable_timer_counts_up_to_now_in_billable_hours(
    client, auth_headers, make_entry
):
    make_entry(date=ago(6), duration=1, billable=True, client="Acme")
    make_entry(date=ago(5), duration=0.5, client="Acme")
    client.post(TIMER, json={"start": ago(2), "billable": True}, headers=auth_headers)
    path = "/api/reports/summary?group_by=billable,client&include_running=true"

    running = client.get(path, headers=auth_headers).json

    assert running["rows"] == [
        {"billable": False, "client": "Acme", "hours": 0.5, "billable_hours": 0.0, "entries": 1},
        {"billable": True, "client": "Acme", "hours": 1.0, "billable_hours": 1.0, "entries": 1},
        {"billable": True, "client": None, "hours": 2.0, "billable_hours": 2.0, "entries": 1},
    ]
    assert running["total"] == {"hours": 3.5, "billable_hours": 3.0, "entries": 3}


def test_a_member_cannot_run_a_timer_for_someone_else(client, auth_headers, make_user, headers_for):
    other = make_user()
    client.post(TIMER, headers=headers_for(other))
    as_other = f"?user_id={other['id']}"

    answers = [
        client.post(f"{TIMER}{as_other}", headers=auth_headers),
        client.get(f"{TIMER}{as_other}", headers=auth_headers),
        client.post(f"{TIMER}/stop{as_other}", headers=auth_headers),
        client.delete(f"{TIMER}{as_other}", headers=auth_headers),
    ]

    assert [a.status_code for a in answers] == [403, 403, 403, 403]
    assert client.get(TIMER, headers=headers_for(other)).json["running"] is True
    assert client.get(TIMER, headers=auth_headers).status_code == 404


def test_a_manager_runs_a_team_members_timer_and_is_named_its_writer(
    client, make_user, make_team, headers_for
):
    member, manager, outsider = make_user(), make_user(role="manager"), make_user()
    make_team(members=(member,), managers=(manager,))
    boss = headers_for(manager)

    started = client.post(f"{TIMER}?user_id={member['id']}", headers=boss)
    stopped = client.post(f"{TIMER}/stop?user_id={member['id']}", headers=boss)
    refused = client.post(f"{TIMER}?user_id={outsider['id']}", headers=boss)

    assert started.status_code == 201
    assert (started.json["user_id"], started.json["updated_by"]) == (member["id"], manager["id"])
    assert (stopped.status_code, stopped.json["running"]) == (200, False)
    assert refused.status_code == 403
    assert client.get(TIMER, headers=headers_for(outsider)).status_code == 404


def test_a_service_runs_a_users_timer_only_with_entries_any_user(
    client, user, auth_headers, make_client, service_token
):
    able = make_client("entries:read", "entries:write", "entries:any-user")
    unable = make_client("entries:read", "entries:write", name="plain")
    as_user = f"{TIMER}?user_id={user['id']}"

    started = client.post(as_user, headers={"Authorization": f"Bearer {service_token(able)}"})
    refused = client.get(as_user, headers={"Authorization": f"Bearer {service_token(unable)}"})

    assert started.status_code == 201
    assert (started.json["user_id"], started.json["updated_by"]) == (user["id"], able["id"])
    assert refused.status_code == 403
    assert client.get(TIMER, headers=auth_headers).json["id"] == started.json["id"]


def test_reading_the_timer_needs_entries_read(client, user, make_client, service_token):
    writer_only = make_client("entries:write", "entries:any-user")
    headers = {"Authorization": f"Bearer {service_token(writer_only)}"}

    response = client.get(f"{TIMER}?user_id={user['id']}", headers=headers)

    assert response.status_code == 403
    assert response.json["detail"] == "This request needs the scope 'entries:read'."


def test_entries_from_before_timers_keep_their_rows_and_indexes(database_before):
    database = database_before("011", entry=True)

    migrate(database)

    with database.connection_context():
        rows = database.execute_sql("SELECT duration, source FROM time_entries").fetchall()
        indexes = {index.name for index in database.get_indexes("time_entries")}
    assert [tuple(row) for row in rows] == [(1.5, "manual")]
    assert {"time_entries_user_id_date", "time_entries_one_running"} <= indexes
