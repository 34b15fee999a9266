"""Uploads through POST /api/imports: every format, twice, atomically, within limits.

The uploader here is an admin and the people the sample exports name (Peter, Andy) have
accounts, so rows land on them; tests/test_team_imports.py tells who may upload whose.
"""

from __future__ import annotations

import io
from collections import defaultdict
from datetime import datetime
from datetime import timedelta
from pathlib import Path

import pytest

from service.db import db
from service.models import TimeEntry
from service.upserts import BATCH_ROWS

FIXTURES = Path(__file__).parent / "fixtures"


def sample(name: str) -> bytes:
    """Return a sample export, its people moved to a domain an account can register with."""
    return (FIXTURES / name).read_bytes().replace(b"@example.test", b"@example.com")


TOGGL = sample("toggl_detailed_report.reconstructed.csv")
HEADER = "Start date,Start time,Duration,Project,Description\n"
PETER = "peter.test@example.com"
ANDY = "andy@example.com"


@pytest.fixture
def user(make_user):
    """The uploader: an admin, so the sample exports' people may be imported for."""
    return make_user(role="admin")


@pytest.fixture
def people(make_user) -> dict[str, dict]:
    """Peter and Andy, the people the sample exports name."""
    return {"peter": make_user(PETER), "andy": make_user(ANDY)}


@pytest.fixture
def upload(client, auth_headers):
    """Post a file (bytes or text) with optional form fields; return the response."""

    def post(data: bytes | str, headers=None, **fields):
        raw = data.encode() if isinstance(data, str) else data
        form = {"file": (io.BytesIO(raw), "export.csv"), **fields}
        return client.post(
            "/api/imports",
            data=form,
            headers=headers or auth_headers,
            content_type="multipart/form-data",
        )

    return post


@pytest.fixture
def totals(client, auth_headers):
    """Sum a user's hours (the caller's by default) per (project, UTC day), from the API."""

    def compute(person: dict | None = None) -> dict[tuple[str, str], float]:
        query = {"limit": 500, **({"user_id": person["id"]} if person else {})}
        response = client.get("/api/entries", query_string=query, headers=auth_headers)
        assert response.status_code == 200
        sums: dict[tuple[str, str], float] = defaultdict(float)
        for item in response.json["items"]:
            sums[(item["project"], item["date"][:10])] += item["duration"]
        return {key: round(value, 4) for key, value in sums.items()}

    return compute


def test_a_toggl_export_imported_twice_creates_its_entries_once(upload, totals, people):
    first = upload(TOGGL, timezone="Europe/Berlin")
    second = upload(TOGGL, timezone="Europe/Berlin")

    assert first.status_code == 200
    assert first.json == {
        "format": "toggl_csv",
        "source": "toggl",
        "timezone": "Europe/Berlin",
        "dry_run": False,
        "rows": 3,
        "created": 2,
        "updated": 0,
        "unchanged": 0,
        "skipped": 1,
        "skipped_by_reason": {"zero_duration": 1},
        "skipped_users": [],
    }
    assert (second.json["created"], second.json["unchanged"]) == (0, 2)
    assert totals(people["peter"]) == {("Project for Big Company", "2024-03-04"): 1.0003}
    assert totals(people["andy"]) == {("Project Name", "2024-08-21"): 0.3069}
    assert totals() == {}


def test_reimporting_an_upload_from_before_labels_fills_them_in_place(
    app, upload, client, auth_headers, people
):
    upload(TOGGL, timezone="Europe/Berlin")
    with app.app_context(), db.connection_context():
        # As the upload left them before migration 010 gave entries labels.
        TimeEntry.update(billable=False, tags=[], client=None, task=None).execute()

    again = upload(TOGGL, timezone="Europe/Berlin")

    assert (again.json["created"], again.json["updated"], again.json["unchanged"]) == (0, 2, 0)
    query = {"all": "true", "billable": "true"}
    [entry] = client.get("/api/entries", query_string=query, headers=auth_headers).json["items"]
    assert (entry["user_id"], entry["client"], entry["task"]) == (
        people["peter"]["id"],
        "Big Company",
        "Task 1",
    )
    tagged = client.get("/api/entries?all=true&tag=Maintenance", headers=auth_headers).json
    assert [e["user_id"] for e in tagged["items"]] == [people["andy"]["id"]]


@pytest.mark.parametrize(
    ("name", "source", "owner"),
    [
        ("toggl_time_entries_export_variant.reconstructed.csv", "toggl", ANDY),
        ("clockify_detailed_report.reconstructed.csv", "clockify", PETER),
        ("clockify_detailed_report_variant.reconstructed.csv", "clockify", PETER),
        ("harvest_time_entries_export.reconstructed.csv", "harvest", None),
        ("generic_time_entries_upload.reconstructed.csv", "csv", PETER),
    ],
)
def test_each_format_keeps_its_source_for_its_own_person(
    upload, client, make_user, headers_for, name, source, owner
):
    uploader = headers_for(make_user(owner))

    response = upload(sample(name), headers=uploader)

    assert response.status_code == 200
    assert response.json["created"] == 1
    listed = client.get("/api/entries", headers=uploader).json["items"]
    assert [item["source"] for item in listed] == [source]


def test_an_overlapping_later_export_adds_only_the_new_rows(upload, totals):
    monday = "2024-03-04,09:00:00,2:00:00,Apollo,plan\n"
    tuesday = "2024-03-05,09:00:00,1:30:00,Apollo,build\n"
    upload(HEADER + monday)

    response = upload(HEADER + monday + tuesday)

    assert (response.json["created"], response.json["unchanged"]) == (1, 1)
    assert totals() == {("Apollo", "2024-03-04"): 2.0, ("Apollo", "2024-03-05"): 1.5}


def test_a_plain_csv_row_with_an_id_is_updated_in_place(upload, client, auth_headers):
    upload("external_id,start,duration,project\nA-1,2024-03-04T09:00:00Z,1,Apollo\n")

    response = upload("external_id,start,duration,project\nA-1,2024-03-04T09:00:00Z,2,Apollo\n")

    assert (response.json["created"], response.json["updated"]) == (0, 1)
    listed = client.get("/api/entries", headers=auth_headers).json["items"]
    assert [(item["external_id"], item["duration"]) for item in listed] == [("A-1", 2.0)]


def rows_of_days(count: int) -> str:
    """Return COUNT valid rows, one an hour from 2024-01-01 on."""
    start = datetime(2024, 1, 1)
    return "".join(
        f"{start + timedelta(hours=n):%Y-%m-%d,%H:%M:%S},0:30:00,Apollo,row {n}\n"
        for n in range(count)
    )


def test_a_file_of_several_batches_is_imported_whole_and_counted_once(upload, client, auth_headers):
    count = 2 * BATCH_ROWS + 1
    data = HEADER + rows_of_days(count)

    first, again = upload(data), upload(data)

    assert (first.status_code, first.json["rows"], first.json["created"]) == (200, count, count)
    assert (again.json["created"], again.json["unchanged"]) == (0, count)
    newest = client.get("/api/entries?limit=1", headers=auth_headers).json["items"]
    assert newest[0]["description"] == f"row {count - 1}"


def test_a_bad_row_after_the_first_batch_was_written_still_writes_nothing(
    upload, client, auth_headers
):
    data = HEADER + rows_of_days(BATCH_ROWS + 1) + "2025-01-01,09:00:00,soon,A,x\n"

    response = upload(data)

    assert response.status_code == 422
    assert response.json["errors"][0]["line"] == BATCH_ROWS + 3
    assert client.get("/api/entries", headers=auth_headers).json["items"] == []


def test_one_broken_row_writes_nothing_and_lists_every_bad_row(upload, client, auth_headers):
    data = (
        HEADER
        + "2024-03-04,09:00:00,1:00:00,Apollo,fine\n"
        + "2024-03-04,09:00:00,later,Apollo,broken\n"
        + "yesterday,09:00:00,1:00:00,Apollo,broken\n"
    )

    response = upload(data)

    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    assert response.json["errors"] == [
        {"line": 3, "field": "Duration", "message": response.json["errors"][0]["message"]},
        {"line": 4, "field": "Start date", "message": response.json["errors"][1]["message"]},
    ]
    assert "later" in response.json["errors"][0]["message"]
    assert client.get("/api/entries", headers=auth_headers).json["items"] == []


def test_a_dry_run_answers_the_counts_and_writes_nothing(upload, people, database_state):
    before = database_state()

    response = upload(TOGGL, dry_run="true")

    assert response.status_code == 200
    assert (response.json["dry_run"], response.json["created"]) == (True, 2)
    assert database_state() == before


def test_the_default_zone_is_utc_and_is_named(upload):
    response = upload(HEADER + "2024-03-04,09:00:00,1:00:00,Apollo,x\n")

    assert response.json["timezone"] == "UTC"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"format": "excel"}, "format"),
        ({"dry_run": "perhaps"}, "dry_run"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_form_fields_are_422(upload, fields, field):
    response = upload(TOGGL, **fields)

    assert response.status_code == 422
    assert [error["field"] for error in response.json["errors"]] == [field]


def test_a_request_without_a_file_is_422(client, auth_headers):
    response = client.post("/api/imports", data={"format": "toggl_csv"}, headers=auth_headers)

    assert response.status_code == 422
    assert response.json["errors"] == [
        {"field": "file", "message": "a multipart file field is required"}
    ]


@pytest.mark.parametrize(
    ("data", "detail"),
    [
        (b"", "The file is empty."),
        (b"\x00\x01\x02binary", "The file is binary, not a CSV text file."),
        (b"Start date,Start time,Duration\n2024-03-04,\xff,1\n", "not UTF-8"),
    ],
)
def test_unreadable_files_are_422(upload, data, detail):
    response = upload(data)

    assert response.status_code == 422
    assert detail in response.json["detail"]


@pytest.fixture
def upload_with(make_app, database_url):
    """Upload TOGGL as a new user of an app built with the given settings."""

    def post(**overrides):
        client = make_app(database_url, **overrides).test_client()
        account = {"email": "limits@example.com", "password": "correct horse"}
        assert client.post("/auth/register", json=account).status_code == 201
        token = client.post("/auth/login", json=account).json["access_token"]
        return client.post(
            "/api/imports",
            data={"file": (io.BytesIO(TOGGL), "export.csv")},
            headers={"Authorization": f"Bearer {token}"},
            content_type="multipart/form-data",
        )

    return post


def test_a_file_over_the_size_limit_is_413(upload_with):
    response = upload_with(IMPORT_MAX_BYTES=100)

    assert response.status_code == 413
    assert response.json["detail"] == "The file is larger than 100 bytes."


def test_a_file_over_the_row_limit_is_422(upload_with):
    response = upload_with(IMPORT_MAX_ROWS=2)

    assert response.status_code == 422
    assert response.json["detail"] == "The file has more than 2 rows; split it."


def test_a_file_found_too_long_after_a_written_batch_writes_nothing(make_app, database_url):
    limit = BATCH_ROWS + 1
    client = make_app(database_url, IMPORT_MAX_ROWS=limit).test_client()
    account = {"email": "long@example.com", "password": "correct horse"}
    client.post("/auth/register", json=account)
    headers = {
        "Authorization": f"Bearer {client.post('/auth/login', json=account).json['access_token']}"
    }
    form = {"file": (io.BytesIO((HEADER + rows_of_days(limit + 1)).encode()), "export.csv")}

    response = client.post(
        "/api/imports", data=form, headers=headers, content_type="multipart/form-data"
    )

    assert response.status_code == 422
    assert response.json["detail"] == f"The file has more than {limit} rows; split it."
    assert client.get("/api/entries", headers=headers).json["items"] == []
