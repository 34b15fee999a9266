"""Team imports: an export of several people lands on each of them, within who may upload whose.

Ada manages a team of Bob and Cyd; Dan is in no team of hers. The team exports (Toggl,
Clockify, plain CSV) hold one row of Ada's, two of Bob's (his email once in capitals) and
one of Cyd's.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
TEAM_EXPORTS = ["toggl_team_export.csv", "clockify_team_export.csv", "generic_team_export.csv"]
TOGGL_TEAM = (FIXTURES / "toggl_team_export.csv").read_text()
TOGGL_HEADER = TOGGL_TEAM.splitlines()[0] + "\n"


def toggl_row(email: str, description: str = "Build", day: str = "2024-03-06") -> str:
    """Return one Toggl export row of an hour's work by EMAIL."""
    return (
        f"Someone,{email},Big Company,Apollo,,{description},Yes,{day},09:00:00,{day},10:00:00,"
        "01:00:00,,\n"
    )


@pytest.fixture
def team(make_user, make_team) -> dict[str, dict]:
    """Ada (a manager) leads Bob and Cyd (members); Dan is a member of another team."""
    people = {
        "ada": make_user("ada@example.com", role="manager"),
        "bob": make_user("bob@example.com"),
        "cyd": make_user("cyd@example.com"),
        "dan": make_user("dan@example.com"),
    }
    make_team(members=(people["bob"], people["cyd"]), managers=(people["ada"],))
    make_team(members=(people["dan"],))
    return people


@pytest.fixture
def admin(make_user) -> dict:
    """An admin, who may import for everyone."""
    return make_user("root@example.com", role="admin")


@pytest.fixture
def upload(client):
    """Post a file (a fixture's name or CSV text) as HEADERS, with form FIELDS."""

    def post(data: str, headers: dict, query: str = "", **fields):
        raw = (FIXTURES / data).read_bytes() if data.endswith(".csv") else data.encode()
        form = {"file": (io.BytesIO(raw), "export.csv"), **fields}
        return client.post(
            f"/api/imports{query}",
            data=form,
            headers=headers,
            content_type="multipart/form-data",
        )

    return post


@pytest.fixture
def entries_of(client, admin, headers_for):
    """Return a person's entries as (description, hours, updated_by), read by the admin."""
    headers = headers_for(admin)

    def read(person: dict) -> list[tuple]:
        query = {"user_id": person["id"], "limit": 100}
        items = client.get("/api/entries", query_string=query, headers=headers).json["items"]
        return sorted((e["description"], e["duration"], e["updated_by"]) for e in items)

    return read


@pytest.mark.parametrize("export", TEAM_EXPORTS)
def test_a_leads_team_export_lands_on_each_person_once(
    upload, team, headers_for, entries_of, export
):
    ada = team["ada"]["id"]

    first = upload(export, headers_for(team["ada"]))
    again = upload(export, headers_for(team["ada"]))

    assert first.status_code == 200, first.json
    assert (first.json["rows"], first.json["created"], first.json["skipped"]) == (4, 4, 0)
    assert (again.json["created"], again.json["updated"], again.json["unchanged"]) == (0, 0, 4)
    assert entries_of(team["ada"]) == [("Planning", 1.0, ada)]
    assert entries_of(team["bob"]) == [("Build", 2.0, ada), ("Review", 0.5, ada)]
    assert entries_of(team["cyd"]) == [("Build", 3.0, ada)]
    assert entries_of(team["dan"]) == []


def test_a_dry_run_of_a_team_export_answers_the_same_counts_and_writes_nothing(
    upload, team, headers_for, database_state
):
    headers = headers_for(team["ada"])
    before = database_state()

    response = upload("toggl_team_export.csv", headers, dry_run="true")

    assert response.status_code == 200
    assert (response.json["dry_run"], response.json["created"]) == (True, 4)
    assert database_state() == before


def test_an_unknown_email_makes_the_file_a_422_listing_it_and_writes_nothing(
    upload, team, admin, headers_for, database_state
):
    data = TOGGL_TEAM + toggl_row("eve@example.com") + toggl_row("eve@example.com", "More")
    headers = headers_for(admin)
    before = database_state()

    response = upload(data, headers)

    assert response.status_code == 422
    assert response.json["detail"] == (
        "1 people it names are not users you may import for "
        "(send unknown_users=skip to import the rest); nothing was imported."
    )
    assert response.json["errors"] == [
        {
            "line": 6,
            "field": "Email",
            "message": "eve@example.com: no active user has this email (2 rows)",
        }
    ]
    assert database_state() == before


def test_with_unknown_users_skip_their_rows_are_skipped_and_counted(
    upload, team, admin, headers_for, entries_of
):
    data = TOGGL_TEAM + toggl_row("eve@example.com") + toggl_row("Eve@example.com", "More")

    response = upload(data, headers_for(admin), unknown_users="skip")

    assert response.status_code == 200
    assert (response.json["created"], response.json["skipped"]) == (4, 2)
    assert response.json["skipped_by_reason"] == {"unknown_user": 2}
    assert response.json["skipped_users"] == [
        {"email": "eve@example.com", "reason": "unknown_user", "rows": 2, "line": 6}
    ]
    assert len(entries_of(team["bob"])) == 2


def test_a_manager_importing_someone_outside_their_teams_is_422_naming_them(
    upload, team, headers_for, database_state
):
    data = TOGGL_TEAM + toggl_row("dan@example.com")
    headers = headers_for(team["ada"])
    before = database_state()

    response = upload(data, headers)

    assert response.status_code == 422
    assert response.json["errors"] == [
        {
            "line": 6,
            "field": "Email",
            "message": "dan@example.com: is not someone you may import for (1 rows)",
        }
    ]
    assert database_state() == before


def test_to_a_manager_an_unknown_email_looks_like_one_outside_their_teams(
    upload, team, headers_for
):
    data = TOGGL_TEAM + toggl_row("dan@example.com") + toggl_row("eve@example.com")

    response = upload(data, headers_for(team["ada"]), unknown_users="skip")

    assert response.status_code == 200
    assert response.json["skipped_by_reason"] == {"not_permitted": 2}
    assert [person["email"] for person in response.json["skipped_users"]] == [
        "dan@example.com",
        "eve@example.com",
    ]


def test_a_members_file_naming_someone_else_is_422_and_never_stored_as_theirs(
    upload, team, headers_for, database_state, entries_of
):
    data = TOGGL_HEADER + toggl_row("bob@example.com") + toggl_row("cyd@example.com", "Cyd's")
    headers = headers_for(team["bob"])
    before = database_state()

    refused = upload(data, headers)
    after_refusal = database_state()
    skipped = upload(data, headers, unknown_users="skip")

    assert refused.status_code == 422
    assert [error["message"] for error in refused.json["errors"]] == [
        "cyd@example.com: is not someone you may import for (1 rows)"
    ]
    assert after_refusal == before
    assert skipped.status_code == 200
    assert skipped.json["skipped_by_reason"] == {"not_permitted": 1}
    assert entries_of(team["bob"]) == [("Build", 1.0, team["bob"]["id"])]
    assert entries_of(team["cyd"]) == []


def test_a_members_own_file_with_their_email_in_any_case_is_theirs(
    upload, team, headers_for, entries_of
):
    data = TOGGL_HEADER + toggl_row("BOB@example.com") + toggl_row("", "No email")

    response = upload(data, headers_for(team["bob"]))

    assert response.status_code == 200
    assert response.json["created"] == 2
    assert [entry[0] for entry in entries_of(team["bob"])] == ["Build", "No email"]


def test_rows_without_an_email_go_to_the_user_acted_for(upload, team, headers_for, entries_of):
    data = TOGGL_HEADER + toggl_row("") + toggl_row("cyd@example.com", "Cyd's")

    response = upload(data, headers_for(team["ada"]), query=f"?user_id={team['bob']['id']}")

    assert response.status_code == 200
    assert [entry[0] for entry in entries_of(team["bob"])] == ["Build"]
    assert [entry[0] for entry in entries_of(team["cyd"])] == ["Cyd's"]


def test_a_harvest_export_names_no_email_so_its_rows_are_the_uploaders(
    upload, team, headers_for, entries_of
):
    response = upload("harvest_time_entries_export.reconstructed.csv", headers_for(team["ada"]))

    assert response.status_code == 200
    assert entries_of(team["ada"]) == [("Working hard", 1.5, team["ada"]["id"])]


def test_one_external_id_is_one_entry_per_person_and_repeats_only_within_one(
    upload, admin, team, headers_for
):
    repeated = (
        "user_email,external_id,start,duration\n"
        "bob@example.com,X-1,2024-03-04T09:00:00Z,1\n"
        "cyd@example.com,X-1,2024-03-04T09:00:00Z,1\n"
        "BOB@example.com,X-1,2024-03-05T09:00:00Z,1\n"
    )

    two_people = upload(repeated.rsplit("BOB", 1)[0], headers_for(admin))
    one_twice = upload(repeated, headers_for(admin))

    assert (two_people.status_code, two_people.json["created"]) == (200, 2)
    assert one_twice.status_code == 422
    assert one_twice.json["errors"] == [
        {
            "line": 4,
            "field": "external_id",
            "message": "repeats the source and external_id of an earlier row",
        }
    ]


def test_a_service_with_entries_any_user_imports_for_several_people(
    upload, team, make_client, service_token, entries_of
):
    service = make_client("imports:write", "entries:any-user")
    headers = {"Authorization": f"Bearer {service_token(service)}"}

    response = upload("generic_team_export.csv", headers, query=f"?user_id={team['ada']['id']}")

    assert response.status_code == 200
    assert response.json["created"] == 4
    assert entries_of(team["cyd"]) == [("Build", 3.0, service["id"])]


def test_a_service_without_entries_any_user_is_403_and_writes_nothing(
    upload, team, make_client, service_token, database_state
):
    service = make_client("imports:write")
    headers = {"Authorization": f"Bearer {service_token(service)}"}
    before = database_state()

    response = upload("generic_team_export.csv", headers, query=f"?user_id={team['ada']['id']}")

    assert response.status_code == 403
    assert response.json["detail"] == (
        "A service token needs the scope 'entries:any-user' to act for a user."
    )
    assert database_state() == before
