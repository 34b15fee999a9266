"""Summary reports: buckets in the caller's time zone (DST included), on both databases."""

from __future__ import annotations

import itertools
from collections import defaultdict
from datetime import date
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from service.db import local_bucket
from service.migrate import migrate
from service.migrate import open_database

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
    """The same entries every test stores: two projects, sources, clients and tasks, odd hours;
    no tag, one or two, some billable."""
    return [
        {
            "date": start,
            "duration": round(0.25 + 0.37 * n, 2),
            "project": ["Apollo", "Gemini", None][n % 3],
            "source": ["toggl", "tempo"][n % 2],
            "external_id": f"e{n}",
            "client": ["Acme", "Zeta", "acme", None, "Émile"][n % 5],
            "task": ["Login", None][n // 2 % 2],
            "tags": [[], ["urgent"], ["backend", "urgent"], ["Backend"]][n % 4],
            "billable": n % 3 != 1,
        }
        for n, start in enumerate(STARTS)
    ]


def expected(groups: tuple[str, ...], zone: str, since: str = "", until: str = "~") -> dict:
    """Compute the report in plain Python, independently of both databases."""
    sums: dict[tuple, list] = defaultdict(lambda: [0.0, 0.0, 0])
    chosen = [item for item in items() if since <= item["date"] < until]
    for item in chosen:
        local = datetime.fromisoformat(item["date"]).astimezone(ZoneInfo(zone)).date()
        year, week, _ = local.isocalendar()
        keys = {
            "day": [local.isoformat()],
            "week": [date.fromisocalendar(year, week, 1).isoformat()],
            "month": [f"{local.year:04d}-{local.month:02d}"],
            "tag": item["tags"] or [None],
            **{name: [item[name]] for name in ("project", "source", "client", "task", "billable")},
        }
        for key in itertools.product(*(keys[g] for g in groups)):
            sums[key][0] += item["duration"]
            sums[key][1] += item["duration"] if item["billable"] else 0
            sums[key][2] += 1
    rows = [
        {**dict(zip(groups, key, strict=True)), **sums_answer(*counts)}
        for key, counts in sums.items()
    ]
    rows.sort(
        key=lambda row: tuple((row[g] is None, "" if row[g] is None else row[g]) for g in groups)
    )
    billable = sum(item["duration"] for item in chosen if item["billable"])
    total = sums_answer(sum(item["duration"] for item in chosen), billable, len(chosen))
    overlap = sum(row["entries"] for row in rows) > len(chosen)
    return {"rows": rows, "total": total, "rows_overlap": overlap}


def sums_answer(hours: float, billable: float, entries: int) -> dict:
    """The hours, billable hours and entry count of a row or the total, as answered."""
    return {"hours": round(hours, 2), "billable_hours": round(billable, 2), "entries": entries}


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


@pytest.mark.parametrize(
    "group_by",
    [
        "client",
        "task",
        "tag",
        "billable",
        "client,month",
        "tag,week",
        "billable,tag",
        "task,source",
    ],
)
def test_labels_group_as_python_sums_them_and_tags_overlap(client, stored, group_by):
    response = client.get(f"/api/reports/summary?group_by={group_by}", headers=stored)

    assert response.status_code == 200
    assert response.json == expected(tuple(group_by.split(",")), "UTC")
    assert response.json["rows_overlap"] == ("tag" in group_by)


def test_an_entry_with_two_tags_counts_in_both_rows_and_once_in_the_total(client, auth_headers):
    entries = [
        {"date": "2026-11-02T09:00:00Z", "duration": 2, "tags": ["b", "a"], "billable": True},
        {"date": "2026-11-02T12:00:00Z", "duration": 1, "tags": ["a"]},
        {"date": "2026-11-03T09:00:00Z", "duration": 0.5},
    ]
    for entry in entries:
        client.post("/api/entries", json=entry, headers=auth_headers)

    response = client.get("/api/reports/summary?group_by=tag", headers=auth_headers)

    assert response.json == {
        "rows": [
            {"tag": "a", "hours": 3.0, "billable_hours": 2.0, "entries": 2},
            {"tag": "b", "hours": 2.0, "billable_hours": 2.0, "entries": 1},
            {"tag": None, "hours": 0.5, "billable_hours": 0.0, "entries": 1},
        ],
        "total": {"hours": 3.5, "billable_hours": 2.0, "entries": 3},
        "rows_overlap": True,
    }


def test_label_filters_narrow_the_label_groups(client, stored):
    query = "group_by=tag,billable&tag=urgent&client=Acme"

    response = client.get(f"/api/reports/summary?{query}", headers=stored)

    chosen = [i for i in items() if "urgent" in i["tags"] and i["client"] == "Acme"]
    assert response.status_code == 200
    assert response.json["total"] == sums_answer(
        sum(i["duration"] for i in chosen),
        sum(i["duration"] for i in chosen if i["billable"]),
        len(chosen),
    )
    assert {(row["tag"], row["billable"]) for row in response.json["rows"]} == {
        (tag, i["billable"]) for i in chosen for tag in i["tags"]
    }


@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize("group_by", ["day", "week", "month"])
def test_a_range_across_dst_changes_buckets_as_python_does(client, stored, zone, group_by):
    since, until = "2026-03-29T00:00:00Z", "2026-11-01T05:00:00Z"
    query = f"group_by={group_by}&tz={zone}&from={since}&to={until}"

    response = client.get(f"/api/reports/summary?{query}", headers=stored)

    assert response.status_code == 200
    assert response.json == expected((group_by,), zone, since, until)


# Local midnights of Asia/Kolkata (UTC+05:30) and Pacific/Chatham (UTC+13:45 in summer),
# each with the second before it: an entry on a boundary starts the later bucket.
ON_BOUNDARIES = [
    "2026-10-31T18:29:59Z",
    "2026-10-31T18:30:00Z",
    "2026-11-30T10:14:59Z",
    "2026-11-30T10:15:00Z",
]


@pytest.mark.parametrize(
    ("zone", "group_by", "buckets"),
    [
        ("Asia/Kolkata", "month", ["2026-10", "2026-11", "2026-11", "2026-11"]),
        ("Asia/Kolkata", "week", ["2026-10-26", "2026-10-26", "2026-11-30", "2026-11-30"]),
        ("Pacific/Chatham", "month", ["2026-11", "2026-11", "2026-11", "2026-12"]),
        ("Pacific/Chatham", "day", ["2026-11-01", "2026-11-01", "2026-11-30", "2026-12-01"]),
    ],
)
def test_an_entry_on_a_bucket_boundary_starts_the_later_bucket(
    client, auth_headers, zone, group_by, buckets
):
    entries = [
        {"date": start, "duration": 1, "external_id": f"b{n}"}
        for n, start in enumerate(ON_BOUNDARIES)
    ]
    client.put("/api/entries/bulk", json={"entries": entries}, headers=auth_headers)

    response = client.get(
        f"/api/reports/summary?group_by={group_by}&tz={zone}", headers=auth_headers
    )

    counts: dict[str, int] = defaultdict(int)
    for bucket in buckets:
        counts[bucket] += 1
    assert response.status_code == 200
    assert response.json["rows"] == [
        {group_by: bucket, "hours": float(n), "billable_hours": 0.0, "entries": n}
        for bucket, n in counts.items()
    ]


def test_a_range_holding_no_entries_reports_nothing(client, stored):
    query = "group_by=week&tz=Asia/Kolkata&from=2025-01-01T00:00:00Z&to=2025-02-01T00:00:00Z"

    response = client.get(f"/api/reports/summary?{query}", headers=stored)

    assert response.status_code == 200
    assert response.json == {
        "rows": [],
        "total": {"hours": 0, "billable_hours": 0.0, "entries": 0},
        "rows_overlap": False,
    }


def answers_on_both_databases(make_app, tmp_path, postgres_url, entries, queries) -> list[list]:
    """Store ENTRIES for a new user on SQLite and on PostgreSQL; answer QUERIES on each."""
    sqlite_url = f"sqlite:///{tmp_path / 'both.db'}"
    migrate(open_database(sqlite_url))
    answers = []
    for url in (sqlite_url, postgres_url):
        client = make_app(url).test_client()
        client.post("/auth/register", json={"email": "a@example.com", "password": "pass-word-1"})
        login = client.post(
            "/auth/login", json={"email": "a@example.com", "password": "pass-word-1"}
        )
        headers = {"Authorization": f"Bearer {login.json['access_token']}"}
        stored = client.put("/api/entries/bulk", json={"entries": entries}, headers=headers)
        assert stored.status_code == 200, stored.json
        answers.append(
            [client.get(f"/api/reports/summary?{query}", headers=headers) for query in queries]
        )
    return answers


def without_user_ids(answer: dict) -> dict:
    """The ANSWER with its rows' user ids left out (each database makes its own)."""
    rows = [{k: v for k, v in row.items() if k != "user_id"} for row in answer["rows"]]
    return {**answer, "rows": rows}


LABEL_QUERIES = [
    "group_by=week,project&tz=Europe/Berlin&from=2026-03-01T00:00:00%2B01:00",
    "group_by=client",
    "group_by=tag",
    "group_by=billable",
    "group_by=task",
    "group_by=client,month",
    "group_by=tag,user",
    "group_by=tag,client&billable=true&tag=urgent",
]


def test_both_databases_give_the_same_report(make_app, tmp_path, pg_url):
    sqlite, postgres = answers_on_both_databases(make_app, tmp_path, pg_url, items(), LABEL_QUERIES)

    for query, from_sqlite, from_postgres in zip(LABEL_QUERIES, sqlite, postgres, strict=True):
        assert from_sqlite.status_code == from_postgres.status_code == 200
        assert without_user_ids(from_postgres.json) == without_user_ids(from_sqlite.json), query
    assert sqlite[0].json["total"]["entries"] == len(STARTS)
    assert sqlite[2].json == expected(("tag",), "UTC")


# Keys that JSON must escape, that sort differently by collation, or that are missing;
# sums exactly on a hundredths tie, just below one in binary, and a whole number of hours.
AWKWARD = [
    ("2026-11-02T09:00:00Z", 0.125, 'say "hi" \\ /'),
    ("2026-11-02T10:00:00Z", 0.285, "tab\t nl\n \x01 \x7f"),
    ("2026-11-09T09:00:00Z", 1 / 3, "Grüße 😀 \u2028\u2029 </script>"),
    ("2026-11-09T10:00:00Z", 1 / 3, "Grüße 😀 \u2028\u2029 </script>"),
    ("2026-11-09T11:00:00Z", 1 / 3, "Grüße 😀 \u2028\u2029 </script>"),
    ("2026-12-01T09:00:00Z", 2, "apollo"),
    ("2026-12-01T10:00:00Z", 24, "Apollo"),
    ("2026-12-02T09:00:00Z", 1.5, "Zeta"),
    ("2026-12-02T10:00:00Z", 0.01, ""),
    ("2026-12-03T09:00:00Z", 7.77, None),
]
AWKWARD_QUERIES = [
    "group_by=project",
    "group_by=project,week&tz=America/New_York",
    "group_by=month,source",
    "group_by=day",
    "group_by=day&from=2030-01-01T00:00:00Z",
]


@pytest.fixture
def english_collation_url(fresh_postgres_database) -> str:
    """A migrated database whose text sorts as people read it: apollo, Apollo, Zeta."""
    url = fresh_postgres_database("TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US'")
    migrate(open_database(url))
    return url


def test_postgresql_answers_the_report_byte_for_byte_as_sqlite_does(
    make_app, tmp_path, english_collation_url
):
    """Rows come in code-point order whatever the database's collation, sums round alike."""
    entries = [
        {"date": start, "duration": hours, "project": project, "external_id": f"a{n}"}
        for n, (start, hours, project) in enumerate(AWKWARD)
    ]

    sqlite, postgres = answers_on_both_databases(
        make_app, tmp_path, english_collation_url, entries, AWKWARD_QUERIES
    )

    for query, from_sqlite, from_postgres in zip(AWKWARD_QUERIES, sqlite, postgres, strict=True):
        assert from_sqlite.status_code == from_postgres.status_code == 200
        assert from_postgres.get_data() == from_sqlite.get_data(), query
    projects = [row["project"] for row in postgres[0].json["rows"]]
    assert projects == [*sorted({p for *_, p in AWKWARD if p is not None}), None]
    assert postgres[-1].json == {
        "rows": [],
        "total": {"hours": 0.0, "billable_hours": 0.0, "entries": 0},
        "rows_overlap": False,
    }


def test_hours_round_half_up_to_hundredths(client, auth_headers):
    entries = [
        {"date": start, "duration": hours, "project": project, "external_id": str(n)}
        for n, (start, hours, project) in enumerate(
            [
                ("2026-11-02T09:00:00Z", 0.125, "tie"),
                ("2026-11-02T10:00:00Z", 0.285, "below a tie in binary"),
                ("2026-11-02T11:00:00Z", 0.004, "under a half"),
            ]
        )
    ]
    client.put("/api/entries/bulk", json={"entries": entries}, headers=auth_headers)

    response = client.get("/api/reports/summary?group_by=project", headers=auth_headers)

    assert response.json == {
        "rows": [
            {
                "project": "below a tie in binary",
                "hours": 0.29,
                "billable_hours": 0.0,
                "entries": 1,
            },
            {"project": "tie", "hours": 0.13, "billable_hours": 0.0, "entries": 1},
            {"project": "under a half", "hours": 0.0, "billable_hours": 0.0, "entries": 1},
        ],
        "total": {"hours": 0.41, "billable_hours": 0.0, "entries": 3},
        "rows_overlap": False,
    }


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
        "rows": [{"source": "manual", "hours": 1.0, "billable_hours": 0.0, "entries": 3}],
        "total": {"hours": 1.0, "billable_hours": 0.0, "entries": 3},
        "rows_overlap": False,
    }


def test_a_report_covers_only_the_callers_entries(client, stored, make_user, headers_for):
    response = client.get("/api/reports/summary", headers=headers_for(make_user()))

    assert response.status_code == 200
    assert response.json == {
        "rows": [],
        "total": {"hours": 0, "billable_hours": 0.0, "entries": 0},
        "rows_overlap": False,
    }


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
