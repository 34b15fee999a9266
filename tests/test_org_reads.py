"""Organisation-wide reads and writes: user=, team= and all=true on the list, the export and
the summary; managers and admins working on their people's entries; who changed an entry.

The organisation: an admin (in no team), Mona who manages team Alpha, Ada (in Alpha),
Bo (in Alpha and Beta) and Olga (in Beta only). Each has stored entries of their own.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections import defaultdict

import pytest

from service.permissions import ENTRIES_ANY_USER
from service.permissions import ENTRIES_READ
from service.permissions import REPORTS_READ

LIST = "/api/entries"
EXPORT = "/api/entries/export"
SUMMARY = "/api/reports/summary"
READS = [LIST, EXPORT, SUMMARY]
# Each person's entries: (start, hours, project).
STORED = {
    "admin": [("2026-10-05T09:00:00Z", 1.0, "Ops")],
    "mona": [("2026-10-06T09:00:00Z", 2.0, "Apollo")],
    "ada": [("2026-10-07T09:00:00Z", 1.5, "Apollo"), ("2026-11-02T09:00:00Z", 0.5, "Gemini")],
    "bo": [("2026-10-08T09:00:00Z", 3.0, "Apollo"), ("2026-11-03T09:00:00Z", 0.25, None)],
    "olga": [("2026-11-04T09:00:00Z", 4.0, "Gemini")],
}


@pytest.fixture
def org(make_user, make_team, headers_for, make_entry) -> dict:
    """Create the organisation and everyone's entries; return people, headers, teams, entries."""
    people = {
        "admin": make_user(role="admin"),
        "mona": make_user(role="manager"),
        "ada": make_user(),
        "bo": make_user(),
        "olga": make_user(),
    }
    headers = {name: headers_for(person) for name, person in people.items()}
    alpha = make_team("Alpha", members=(people["ada"], people["bo"]), managers=(people["mona"],))
    beta = make_team("Beta", members=(people["bo"], people["olga"]))
    entries = {
        name: [
            make_entry(headers=headers[name], date=start, duration=hours, project=project)
            for start, hours, project in STORED[name]
        ]
        for name in people
    }
    return {
        "people": people,
        "headers": headers,
        "teams": {"alpha": alpha, "beta": beta},
        "entries": entries,
    }


def ids_of(*names: str, org: dict) -> set[str]:
    """Return the ids of the named people's entries."""
    return {entry["id"] for name in names for entry in org["entries"][name]}


def listed(client, headers: dict, query: str) -> list[dict]:
    """Return every entry the list answers for QUERY, following the cursors."""
    items, cursor = [], None
    while True:
        page = client.get(
            f"{LIST}?{query}" + (f"&cursor={cursor}" if cursor else ""), headers=headers
        )
        assert page.status_code == 200, page.json
        items += page.json["items"]
        cursor = page.json["next_cursor"]
        if cursor is None:
            return items


# --- who may not ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", READS)
def test_a_member_asking_for_all_is_refused(client, org, path):
    response = client.get(f"{path}?all=true", headers=org["headers"]["ada"])

    assert response.status_code == 403
    assert response.mimetype == "application/problem+json"
    assert "all" in response.json["detail"]


@pytest.mark.parametrize("path", READS)
def test_a_member_naming_another_user_is_refused(client, org, path):
    bo = org["people"]["bo"]["id"]

    response = client.get(f"{path}?user={bo}", headers=org["headers"]["ada"])

    assert response.status_code == 403
    assert response.json["detail"].startswith("Only admins and the managers")


@pytest.mark.parametrize("path", READS)
def test_a_member_naming_a_team_they_are_in_is_refused(client, org, path):
    alpha = org["teams"]["alpha"]["id"]

    response = client.get(f"{path}?team={alpha}", headers=org["headers"]["ada"])

    assert response.status_code == 403


@pytest.mark.parametrize("path", READS)
def test_a_manager_naming_a_team_they_do_not_manage_is_refused(client, org, path):
    beta = org["teams"]["beta"]["id"]

    response = client.get(f"{path}?team={beta}", headers=org["headers"]["mona"])

    assert response.status_code == 403
    assert response.json["detail"] == (
        "Only admins and the team's managers may read a team's entries."
    )


@pytest.mark.parametrize("path", READS)
def test_a_manager_naming_someone_outside_their_teams_among_their_people_is_refused(
    client, org, path
):
    ada, olga = org["people"]["ada"]["id"], org["people"]["olga"]["id"]

    response = client.get(f"{path}?user={ada}&user={olga}", headers=org["headers"]["mona"])

    assert response.status_code == 403


@pytest.mark.parametrize("method", ["get", "patch", "delete"])
@pytest.mark.parametrize("caller", ["mona", "ada"])
def test_an_entry_outside_the_callers_people_does_not_exist_for_them(
    client, org, database_state, method, caller
):
    before = database_state()
    olgas = org["entries"]["olga"][0]["id"]
    body = {"json": {"duration": 8}} if method == "patch" else {}

    response = getattr(client, method)(f"{LIST}/{olgas}", headers=org["headers"][caller], **body)

    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    assert database_state() == before


def test_a_member_cannot_create_an_entry_for_a_teammate(client, org, database_state):
    before = database_state()
    bo = org["people"]["bo"]["id"]
    body = {"date": "2026-11-05T09:00:00Z", "duration": 1}

    response = client.post(f"{LIST}?user_id={bo}", json=body, headers=org["headers"]["ada"])

    assert response.status_code == 403
    assert database_state() == before


@pytest.mark.parametrize("path", [LIST, EXPORT])
def test_a_service_without_entries_any_user_cannot_read_everyone(
    client, org, make_client, service_token, path
):
    token = service_token(make_client(ENTRIES_READ, REPORTS_READ))

    response = client.get(f"{path}?all=true", headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 403


@pytest.mark.parametrize(
    "query",
    ["user={ada}&team={alpha}", "user_id={ada}&all=true", "team={alpha}&all=true"],
)
@pytest.mark.parametrize("path", READS)
def test_whose_entries_is_said_one_way_at_a_time(client, org, path, query):
    values = {"ada": org["people"]["ada"]["id"], "alpha": org["teams"]["alpha"]["id"]}

    response = client.get(f"{path}?{query.format(**values)}", headers=org["headers"]["admin"])

    assert response.status_code == 422
    assert "give at most one of user_id, user, team, all" in response.json["errors"][0]["message"]


def test_an_admin_naming_an_unknown_user_or_team_gets_404(client, org):
    nobody = uuid.uuid4()
    admin = org["headers"]["admin"]

    user = client.get(f"{LIST}?user={nobody}", headers=admin)
    team = client.get(f"{LIST}?team={nobody}", headers=admin)

    assert (user.status_code, team.status_code) == (404, 404)
    assert user.json["errors"] == [{"field": "user", "message": f"no user {nobody}"}]
    assert team.json["detail"] == "The team was not found."


# --- who may -------------------------------------------------------------------------------


def test_a_manager_lists_their_teams_entries_and_only_those(client, org):
    alpha = org["teams"]["alpha"]["id"]

    items = listed(client, org["headers"]["mona"], f"team={alpha}&limit=2")

    assert {item["id"] for item in items} == ids_of("mona", "ada", "bo", org=org)
    assert [item["date"] for item in items] == sorted((i["date"] for i in items), reverse=True)
    people = {name: org["people"][name]["id"] for name in ("mona", "ada", "bo")}
    assert {item["user_id"] for item in items} == set(people.values())


def test_a_managers_all_is_everyone_in_the_teams_they_manage(client, org):
    items = listed(client, org["headers"]["mona"], "all=true")

    assert {item["id"] for item in items} == ids_of("mona", "ada", "bo", org=org)


def test_an_admins_pages_walk_everyones_entries_newest_first_once(client, org):
    items = listed(client, org["headers"]["admin"], "all=true&limit=2")

    everyone = ids_of(*STORED, org=org)
    assert len(items) == len(everyone)
    assert {item["id"] for item in items} == everyone
    keys = [(item["date"], item["id"]) for item in items]
    assert keys == sorted(keys, reverse=True)


def test_repeated_user_parameters_name_several_people(client, org):
    ada, bo = org["people"]["ada"]["id"], org["people"]["bo"]["id"]

    items = listed(client, org["headers"]["mona"], f"user={ada}&user={bo}&user={ada}")

    assert {item["id"] for item in items} == ids_of("ada", "bo", org=org)


def test_a_member_may_name_themselves(client, org):
    ada = org["people"]["ada"]["id"]

    items = listed(client, org["headers"]["ada"], f"user={ada}")

    assert {item["id"] for item in items} == ids_of("ada", org=org)


def test_an_org_wide_csv_export_names_each_entrys_person(client, org):
    response = client.get(f"{EXPORT}?all=true", headers=org["headers"]["admin"])

    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    emails = {name: person["email"] for name, person in org["people"].items()}
    expected = sorted(
        (start.replace("Z", ""), emails[name])
        for name, stored in STORED.items()
        for start, _hours, _project in stored
    )
    assert sorted((row["start"].replace("Z", ""), row["user_email"]) for row in rows) == expected


def test_a_json_export_names_each_entrys_user(client, org):
    alpha = org["teams"]["alpha"]["id"]

    response = client.get(f"{EXPORT}?format=json&team={alpha}", headers=org["headers"]["mona"])

    assert response.status_code == 200
    owners = {item["id"]: item["user_id"] for item in response.json}
    people = org["people"]
    assert owners == {
        entry["id"]: people[name]["id"]
        for name in ("mona", "ada", "bo")
        for entry in org["entries"][name]
    }


def test_a_service_with_entries_any_user_lists_everyone(client, org, make_client, service_token):
    token = service_token(make_client(ENTRIES_READ, ENTRIES_ANY_USER))

    items = listed(client, {"Authorization": f"Bearer {token}"}, "all=true")

    assert {item["id"] for item in items} == ids_of(*STORED, org=org)


def test_a_service_with_reports_read_only_runs_org_wide_reports(
    client, org, make_client, service_token
):
    token = service_token(make_client(REPORTS_READ))
    beta = org["teams"]["beta"]["id"]

    response = client.get(
        f"{SUMMARY}?team={beta}&group_by=user", headers={"Authorization": f"Bearer {token}"}
    )

    assert response.status_code == 200
    people = org["people"]
    assert response.json == {
        "rows": [
            {
                "user_id": people[n]["id"],
                "user_email": people[n]["email"],
                "hours": h,
                "billable_hours": 0.0,
                "entries": c,
            }
            for n, h, c in sorted(
                [("bo", 3.25, 2), ("olga", 4.0, 1)], key=lambda r: people[r[0]]["email"]
            )
        ],
        "total": {"hours": 7.25, "billable_hours": 0.0, "entries": 3},
        "rows_overlap": False,
    }


# --- the numbers -----------------------------------------------------------------------------


def test_an_admins_report_by_user_and_month_adds_up_the_entries(client, org):
    response = client.get(
        f"{SUMMARY}?all=true&group_by=user,month", headers=org["headers"]["admin"]
    )

    sums: dict[tuple, list] = defaultdict(lambda: [0.0, 0])
    for name, stored in STORED.items():
        for start, hours, _project in stored:
            bucket = sums[(org["people"][name]["email"], start[:7])]
            bucket[0] += hours
            bucket[1] += 1
    ids = {person["email"]: person["id"] for person in org["people"].values()}
    assert response.status_code == 200
    assert response.json["rows"] == [
        {
            "user_id": ids[email],
            "user_email": email,
            "month": month,
            "hours": h,
            "billable_hours": 0.0,
            "entries": n,
        }
        for (email, month), (h, n) in sorted(sums.items())
    ]
    assert response.json["total"] == {"hours": 12.25, "billable_hours": 0.0, "entries": 7}
    assert response.json["rows_overlap"] is False


def test_a_person_in_two_teams_counts_in_both_team_rows_and_once_in_the_total(client, org):
    response = client.get(f"{SUMMARY}?all=true&group_by=team", headers=org["headers"]["admin"])

    teams = org["teams"]
    assert response.status_code == 200
    assert response.json == {
        "rows": [
            # Mona 2 + Ada 2 + Bo 3.25; Bo 3.25 + Olga 4; the admin is in no team.
            {
                "team_id": teams["alpha"]["id"],
                "team": "Alpha",
                "hours": 7.25,
                "billable_hours": 0.0,
                "entries": 5,
            },
            {
                "team_id": teams["beta"]["id"],
                "team": "Beta",
                "hours": 7.25,
                "billable_hours": 0.0,
                "entries": 3,
            },
            {"team_id": None, "team": None, "hours": 1.0, "billable_hours": 0.0, "entries": 1},
        ],
        "total": {"hours": 12.25, "billable_hours": 0.0, "entries": 7},
        "rows_overlap": True,
    }


def test_a_report_by_team_and_tag_counts_an_entry_in_each_pair(client, org, make_entry):
    make_entry(headers=org["headers"]["bo"], duration=1, tags=["b", "a"], billable=True)
    teams = org["teams"]

    response = client.get(
        f"{SUMMARY}?all=true&group_by=team,tag&tag=a", headers=org["headers"]["admin"]
    )

    sums = {"hours": 1.0, "billable_hours": 1.0, "entries": 1}
    assert response.status_code == 200
    assert response.json == {
        "rows": [
            {"team_id": teams[team]["id"], "team": name, "tag": tag, **sums}
            for team, name in (("alpha", "Alpha"), ("beta", "Beta"))
            for tag in ("a", "b")
        ],
        "total": sums,
        "rows_overlap": True,
    }


def test_a_report_by_team_and_project_splits_each_teams_row(client, org):
    alpha = org["teams"]["alpha"]["id"]

    response = client.get(
        f"{SUMMARY}?team={alpha}&group_by=team,project", headers=org["headers"]["mona"]
    )

    assert response.status_code == 200
    assert response.json["rows"] == [
        {
            "team_id": alpha,
            "team": "Alpha",
            "project": "Apollo",
            "hours": 6.5,
            "billable_hours": 0.0,
            "entries": 3,
        },
        {
            "team_id": alpha,
            "team": "Alpha",
            "project": "Gemini",
            "hours": 0.5,
            "billable_hours": 0.0,
            "entries": 1,
        },
        {
            "team_id": alpha,
            "team": "Alpha",
            "project": None,
            "hours": 0.25,
            "billable_hours": 0.0,
            "entries": 1,
        },
        {
            "team_id": org["teams"]["beta"]["id"],
            "team": "Beta",
            "project": "Apollo",
            "hours": 3.0,
            "billable_hours": 0.0,
            "entries": 1,
        },
        {
            "team_id": org["teams"]["beta"]["id"],
            "team": "Beta",
            "project": None,
            "hours": 0.25,
            "billable_hours": 0.0,
            "entries": 1,
        },
    ]
    assert response.json["total"] == {"hours": 7.25, "billable_hours": 0.0, "entries": 5}
    assert response.json["rows_overlap"] is True


# --- writes on someone else's entries ----------------------------------------------------------


def test_a_manager_changes_and_deletes_a_team_members_entry_and_is_named_as_its_writer(client, org):
    entry = org["entries"]["ada"][0]
    url = f"{LIST}/{entry['id']}"
    mona = org["headers"]["mona"]
    read = client.get(url, headers=mona)

    patched = client.patch(
        url, json={"duration": 2}, headers={**mona, "If-Match": read.headers["ETag"]}
    )
    deleted = client.delete(url, headers=mona)

    assert read.status_code == 200
    assert read.json == entry
    assert entry["updated_by"] == org["people"]["ada"]["id"]
    assert patched.status_code == 200
    assert patched.json["duration"] == 2
    assert patched.json["user_id"] == org["people"]["ada"]["id"]
    assert patched.json["updated_by"] == org["people"]["mona"]["id"]
    assert deleted.status_code == 204
    assert client.get(url, headers=org["headers"]["ada"]).status_code == 404


def test_a_stale_if_match_from_a_manager_is_412(client, org):
    entry = org["entries"]["bo"][0]
    url = f"{LIST}/{entry['id']}"
    client.patch(url, json={"duration": 1}, headers=org["headers"]["bo"])

    response = client.patch(
        url, json={"duration": 5}, headers={**org["headers"]["mona"], "If-Match": '"0"'}
    )

    assert response.status_code == 412


def test_a_manager_creates_an_entry_for_a_team_member(client, org):
    ada = org["people"]["ada"]["id"]
    body = {"date": "2026-11-05T09:00:00Z", "duration": 1}

    response = client.post(f"{LIST}?user_id={ada}", json=body, headers=org["headers"]["mona"])

    assert response.status_code == 201
    assert response.json["user_id"] == ada
    assert response.json["updated_by"] == org["people"]["mona"]["id"]


def test_an_admin_changes_anyones_entry(client, org):
    entry = org["entries"]["olga"][0]

    response = client.patch(
        f"{LIST}/{entry['id']}", json={"project": "Zeta"}, headers=org["headers"]["admin"]
    )

    assert response.status_code == 200
    assert response.json["project"] == "Zeta"
    assert response.json["updated_by"] == org["people"]["admin"]["id"]


def test_a_service_writing_for_a_user_is_named_as_the_writer(
    client, org, make_client, service_token
):
    service = make_client("entries:write", ENTRIES_ANY_USER)
    token = service_token(service)
    olga = org["people"]["olga"]["id"]
    entry = org["entries"]["olga"][0]

    response = client.patch(
        f"{LIST}/{entry['id']}?user_id={olga}",
        json={"duration": 1},
        headers={"Authorization": f"Bearer {token}"},
    )

    assert response.status_code == 200
    assert response.json["updated_by"] == service["id"]
