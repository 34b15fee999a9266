"""Summary reports: buckets in the caller's time zone (DST included), on both databases."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from service.db import local_bucket
from service.migrate import migrate
from service.migrate import open_database
from tests.conftest import empty_tables

# Around Europe/Berlin's and America/New_York's autumn DST changes (2026-10-25, 2026-11-01),
# the spring one (2026-03-29) and month and ISO-week edges, at local midnights.
STARTS = [
    "2026-03-28T22:30:00Z",
    "2026-03-28T23:30:00Z",
    "2026-03-29T21:59:00Z",
    "2026-03-29T22:00:00Z",
    "2026-10-24T21:59:00Z",
    "2026-10-24T22:00:00Z",
    "2026-10-25T22:59:00Z",
    "2026-10-25T23:00:00Z",
    "2026-10-31T23:30:00Z",
    "2026-11-01T03:30:00Z",
    "2026-11-01T04:30:00Z",
    "2026-11-01T05:30:00Z",
    "2026-11-02T04:59:00Z",
    "2026-11-02T05:00:00Z",
    "2026-12-31T23:30:00Z",
    "2027-01-01T00:15:00Z",
]
ZONES = ["Europe/Berlin", "America/New_York", "Asia/Kolkata", "Pacific/Chatham", "UTC"]


def items() -> list[dict]:
    """The same entries every test stores: two projects, two sources, odd hours."""
    return [
        {
            "date": start,
            "duration": round(0.25 + 0.37 * n, 2),
            "project": ["Apollo", "Gemini", None][n % 3],
            "source": ["toggl", "tempo"][n % 2],
            "external_id": f"e{n}",
        }
        for n, start in enumerate(STARTS)
    ]


def expected(groups: tuple[str, ...], zone: str) -> dict:
    """Compute the report in plain Python, independently of both databases."""
    sums: dict[tuple, list] = defaultdict(lambda: [0.0, 0])
    for item in items():
        local = datetime.fromisoformat(item["date"]).astimezone(ZoneInfo(zone)).date()
        year, week, _ = local.isocalendar()
        keys = {
            "day": local.isoformat(),
            "week": date.fromisocalendar(year, week, 1).isoformat(),
            "month": f"{local.year:04d}-{local.month:02d}",
            "project": item["project"],
            "source": item["source"],
        }
        bucket = sums[tuple(keys[g] for g in groups)]
        bucket[0] += item["duration"]
        bucket[1] += 1
    rows = [
        {**dict(zip(groups, key, strict=True)), "hours": round(h, 2), "entries": n}
        for key, (h, n) in sums.items()
    ]
    rows.sort(key=lambda row: tuple((row[g] is None, row[g] or "") for g in groups))
    total_hours = round(sum(item["duration"] for item in items()), 2)
    return {"rows": rows, "total": {"hours": total_hours, "entries": len(items())}}


@pytest.fixture
def stored(client, auth_headers):
    """Store the entries for `user`."""
    response = client.put("/api/entries/bulk", json={"entries": items()}, headers=auth_headers)
    assert response.status_code == 200, response.json
    return auth_headers


@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize("group_by", ["day", "week", "month", "project,week", "day,source"])
def test_buckets_follow_the_zone_across_dst_and_match_python(client, stored, zone, group_by):
    response = client.get(f"/api/reports/summary?group_by={group_by}&tz={zone}", headers=stored)

    assert response.status_code == 200
    assert response.json == expected(tuple(group_by.split(",")), zone)


def test_both_databases_give_the_same_report(request, make_app, tmp_path):
    sqlite_url = f"sqlite:///{tmp_path / 'both.db'}"
    migrate(open_database(sqlite_url))
    postgres_url = request.getfixturevalue("postgres_url")
    empty_tables(postgres_url)
    answers = []
    for url in (sqlite_url, postgres_url):
        client = make_app(url).test_client()
        client.post("/auth/register", json={"email": "a@example.com", "password": "pass-word-1"})
        login = client.post(
            "/auth/login", json={"email": "a@example.com", "password": "pass-word-1"}
        )
        headers = {"Authorization": f"Bearer {login.json['access_token']}"}
        client.put("/api/entries/bulk", json={"entries": items()}, headers=headers)
        query = "group_by=week,project&tz=Europe/Berlin&from=2026-03-01T00:00:00%2B01:00"
        answers.append(client.get(f"/api/reports/summary?{query}", headers=headers).json)

    assert answers[0] == answers[1]
    assert answers[0]["total"]["entries"] == len(STARTS)
    assert answers[0]["rows"]


def test_filters_narrow_the_report(client, stored):
    query = "group_by=source&project=Apollo&from=2026-10-01T00:00:00Z&to=2027-01-01T00:00:00Z"

    response = client.get(f"/api/reports/summary?{query}", headers=stored)

    apollo = [
        item
        for item in items()
        if item["project"] == "Apollo" and "2026-10" <= item["date"] < "2027-01-01"
    ]
    assert response.status_code == 200
    assert response.json["total"]["entries"] == len(apollo)
    assert {row["source"] for row in response.json["rows"]} == {i["source"] for i in apollo}


def test_hours_are_rounded_only_at_the_edge(client, auth_headers):
    thirds = [
        {"date": f"2026-11-0{n + 1}T09:00:00Z", "duration": 0.333, "external_id": str(n)}
        for n in range(3)
    ]
    client.put("/api/entries/bulk", json={"entries": thirds}, headers=auth_headers)

    response = client.get("/api/reports/summary?group_by=source", headers=auth_headers)

    assert response.json == {
        "rows": [{"source": "manual", "hours": 1.0, "entries": 3}],
        "total": {"hours": 1.0, "entries": 3},
    }


def test_a_report_covers_only_the_callers_entries(client, stored, make_user, headers_for):
    response = client.get("/api/reports/summary", headers=headers_for(make_user()))

    assert response.status_code == 200
    assert response.json == {"rows": [], "total": {"hours": 0, "entries": 0}}


def test_the_default_is_per_utc_day(client, stored):
    response = client.get("/api/reports/summary", headers=stored)

    assert response.json == expected(("day",), "UTC")


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("tz=Mars/Olympus_Mons", "tz"),
        ("tz=../../etc/passwd", "tz"),
        ("group_by=year", "group_by"),
        ("group_by=day,day", "group_by"),
        ("group_by=day,week,month", "group_by"),
        ("group_by=", "group_by"),
        ("from=2026-11-02", "from"),
        ("from=2026-11-02T00:00:00", "from"),
        ("to=1699999999", "to"),
        ("from=0001-01-01T00:00:00Z", "from"),
        ("colour=blue", "colour"),
    ],
)
def test_bad_report_queries_are_422_naming_the_field(client, auth_headers, query, field):
    response = client.get(f"/api/reports/summary?{query}", headers=auth_headers)

    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    assert [error["field"] for error in response.json["errors"]] == [field]


def test_sqlite_buckets_a_stored_timestamp_in_a_zone():
    stored = "2026-10-25 22:30:00.000000+00:00"

    assert local_bucket(stored, "Europe/Berlin", "day") == "2026-10-25"
    assert local_bucket(stored, "Asia/Tokyo", "day") == "2026-10-26"
    assert local_bucket(stored, "Asia/Tokyo", "week") == "2026-10-26"
    assert local_bucket(stored, "Europe/Berlin", "week") == "2026-10-19"
    assert local_bucket(stored, "Europe/Berlin", "month") == "2026-10"
    assert local_bucket(None, "UTC", "day") is None


def test_report_rows_are_sorted_with_missing_projects_last(client, stored):
    response = client.get("/api/reports/summary?group_by=project", headers=stored)

    assert [row["project"] for row in response.json["rows"]] == ["Apollo", "Gemini", None]
