"""Teams over the API: admins shape them, managers staff their own, nobody else changes them."""

from __future__ import annotations

import pytest

MISSING_ID = "6b0f7c1e-49d4-4e38-9b4e-0f6f6f3c2a11"


@pytest.fixture
def org(make_user, make_team):
    """An admin; mia manages Apollo (ann in it) and Gemini (cid in it); bob is in no team."""
    people = {
        "admin": make_user("admin@example.com", role="admin"),
        "manager": make_user("mia@example.com", role="manager"),
        "ann": make_user("ann@example.com"),
        "bob": make_user("bob@example.com"),
        "cid": make_user("cid@example.com"),
    }
    people["apollo"] = make_team("Apollo", members=(people["ann"],), managers=(people["manager"],))
    people["gemini"] = make_team("Gemini", members=(people["cid"],), managers=(people["manager"],))
    return people


def members(client, headers, team) -> list[tuple[str, bool]]:
    answer = client.get(f"/api/teams/{team['id']}", headers=headers).json
    return [(m["email"], m["is_manager"]) for m in answer["members"]]


def test_an_admin_creates_a_team(client, headers_for, org):
    response = client.post(
        "/api/teams", json={"name": " Mercury "}, headers=headers_for(org["admin"])
    )

    assert response.status_code == 201
    assert response.json["name"] == "Mercury"
    assert response.headers["Location"] == f"/api/teams/{response.json['id']}"


def test_a_taken_name_is_a_409(client, headers_for, database_state, org):
    headers = headers_for(org["admin"])
    before = database_state()

    response = client.post("/api/teams", json={"name": "Apollo"}, headers=headers)

    assert response.status_code == 409
    assert response.json["detail"] == "A team named 'Apollo' exists already."
    assert database_state() == before


def test_an_admin_lists_every_team_by_name(client, headers_for, make_team, org):
    make_team("Artemis")

    response = client.get("/api/teams", headers=headers_for(org["admin"]))

    assert response.status_code == 200
    assert [team["name"] for team in response.json["items"]] == ["Apollo", "Artemis", "Gemini"]


def test_a_manager_lists_the_teams_they_manage(client, headers_for, make_team, org):
    make_team("Artemis", members=(org["manager"],))

    response = client.get("/api/teams", headers=headers_for(org["manager"]))

    assert [team["name"] for team in response.json["items"]] == ["Apollo", "Gemini"]


def test_a_member_may_not_read_teams(client, headers_for, org):
    response = client.get("/api/teams", headers=headers_for(org["ann"]))

    assert response.status_code == 403
    assert response.json["detail"] == "This request needs the scope 'users:read'."


def test_a_team_shows_its_people_managers_first(client, headers_for, org):
    response = client.get(f"/api/teams/{org['apollo']['id']}", headers=headers_for(org["admin"]))

    assert response.status_code == 200
    assert response.json["name"] == "Apollo"
    assert response.json["members"] == [
        {
            "user_id": org["manager"]["id"],
            "email": "mia@example.com",
            "display_name": None,
            "is_manager": True,
        },
        {
            "user_id": org["ann"]["id"],
            "email": "ann@example.com",
            "display_name": None,
            "is_manager": False,
        },
    ]


def test_a_manager_does_not_see_a_team_they_do_not_manage(client, headers_for, make_team, org):
    other = make_team("Artemis", members=(org["manager"],))

    response = client.get(f"/api/teams/{other['id']}", headers=headers_for(org["manager"]))

    assert response.status_code == 404
    assert response.json["detail"] == "The team was not found."


def test_an_admin_renames_a_team(client, headers_for, org):
    response = client.patch(
        f"/api/teams/{org['apollo']['id']}",
        json={"name": "Apollo 11"},
        headers=headers_for(org["admin"]),
    )

    assert response.status_code == 200
    assert response.json["name"] == "Apollo 11"


def test_renaming_onto_a_taken_name_is_a_409(client, headers_for, org):
    response = client.patch(
        f"/api/teams/{org['apollo']['id']}",
        json={"name": "Gemini"},
        headers=headers_for(org["admin"]),
    )

    assert response.status_code == 409


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/teams", {"name": "Mine"}),
        ("PATCH", "/api/teams/{apollo}", {"name": "Mine"}),
        ("DELETE", "/api/teams/{apollo}", None),
        ("PUT", "/api/teams/{apollo}/managers/{ann}", None),
        ("DELETE", "/api/teams/{apollo}/managers/{manager}", None),
    ],
)
def test_a_manager_may_not_do_what_only_admins_do(
    client, headers_for, database_state, org, method, path, body
):
    headers = headers_for(org["manager"])
    before = database_state()
    url = path.format(
        apollo=org["apollo"]["id"], ann=org["ann"]["id"], manager=org["manager"]["id"]
    )

    response = client.open(url, method=method, json=body, headers=headers)

    assert response.status_code == 403
    assert response.json["detail"] == "Only admins may do this to teams."
    assert database_state() == before


def test_deleting_a_team_keeps_its_people_and_their_entries(client, headers_for, make_entry, org):
    admin = headers_for(org["admin"])
    entry = make_entry(headers=headers_for(org["ann"]))

    response = client.delete(f"/api/teams/{org['apollo']['id']}", headers=admin)

    assert response.status_code == 204
    assert client.get(f"/api/teams/{org['apollo']['id']}", headers=admin).status_code == 404
    assert client.get(f"/api/users/{org['ann']['id']}", headers=admin).json["teams"] == []
    ann = headers_for(org["ann"])
    assert client.get(f"/api/entries/{entry['id']}", headers=ann).status_code == 200


def test_a_manager_adds_a_person_of_another_team_they_manage(client, headers_for, org):
    headers = headers_for(org["manager"])

    first = client.put(
        f"/api/teams/{org['apollo']['id']}/members/{org['cid']['id']}", headers=headers
    )
    again = client.put(
        f"/api/teams/{org['apollo']['id']}/members/{org['cid']['id']}", headers=headers
    )

    assert (first.status_code, again.status_code) == (204, 204)
    assert members(client, headers, org["apollo"]) == [
        ("mia@example.com", True),
        ("ann@example.com", False),
        ("cid@example.com", False),
    ]


def test_a_manager_cannot_add_someone_they_do_not_see(client, headers_for, database_state, org):
    headers = headers_for(org["manager"])
    before = database_state()

    response = client.put(
        f"/api/teams/{org['apollo']['id']}/members/{org['bob']['id']}", headers=headers
    )

    assert response.status_code == 404
    assert response.json["detail"] == "The user was not found."
    assert database_state() == before


def test_a_manager_cannot_add_to_a_team_they_do_not_manage(
    client, headers_for, make_team, database_state, org
):
    other = make_team("Artemis", members=(org["manager"],))
    headers = headers_for(org["manager"])
    before = database_state()

    response = client.put(f"/api/teams/{other['id']}/members/{org['ann']['id']}", headers=headers)

    assert response.status_code == 404
    assert response.json["detail"] == "The team was not found."
    assert database_state() == before


def test_a_member_cannot_put_themselves_into_a_team(client, headers_for, database_state, org):
    headers = headers_for(org["bob"])
    before = database_state()

    response = client.put(
        f"/api/teams/{org['apollo']['id']}/members/{org['bob']['id']}", headers=headers
    )

    assert response.status_code == 403
    assert response.json["detail"] == "This request needs the scope 'users:write'."
    assert database_state() == before


def test_a_manager_removes_a_member_of_their_team(client, headers_for, org):
    headers = headers_for(org["manager"])

    response = client.delete(
        f"/api/teams/{org['apollo']['id']}/members/{org['ann']['id']}", headers=headers
    )

    assert response.status_code == 204
    assert members(client, headers, org["apollo"]) == [("mia@example.com", True)]


def test_a_manager_cannot_remove_a_manager(client, headers_for, make_user, org):
    second = make_user("max@example.com", role="manager")
    admin = headers_for(org["admin"])
    client.put(f"/api/teams/{org['apollo']['id']}/managers/{second['id']}", headers=admin)

    response = client.delete(
        f"/api/teams/{org['apollo']['id']}/members/{second['id']}",
        headers=headers_for(org["manager"]),
    )

    assert response.status_code == 403
    assert response.json["detail"] == "Only admins may remove a team's manager."


def test_an_admin_names_and_unnames_a_manager(client, headers_for, make_user, org):
    admin = headers_for(org["admin"])
    max_ = make_user("max@example.com", role="manager")
    url = f"/api/teams/{org['apollo']['id']}/managers/{max_['id']}"

    named = client.put(url, headers=admin)
    named_again = client.put(url, headers=admin)
    listed = members(client, admin, org["apollo"])
    unnamed = client.delete(url, headers=admin)

    assert (named.status_code, named_again.status_code, unnamed.status_code) == (204, 204, 204)
    assert ("max@example.com", True) in listed
    assert ("max@example.com", False) in members(client, admin, org["apollo"])


def test_a_member_cannot_be_named_a_manager(client, headers_for, database_state, org):
    headers = headers_for(org["admin"])
    before = database_state()

    response = client.put(
        f"/api/teams/{org['apollo']['id']}/managers/{org['ann']['id']}", headers=headers
    )

    assert response.status_code == 422
    assert response.json["detail"] == (
        "Only people with the role manager or admin may manage a team."
    )
    assert response.json["errors"] == [{"field": "user_id", "message": "has the role 'member'"}]
    assert database_state() == before


@pytest.mark.parametrize("path", ["members", "managers"])
def test_unknown_teams_and_people_are_404(client, headers_for, org, path):
    headers = headers_for(org["admin"])

    no_team = client.put(f"/api/teams/{MISSING_ID}/{path}/{org['ann']['id']}", headers=headers)
    no_user = client.put(f"/api/teams/{org['apollo']['id']}/{path}/{MISSING_ID}", headers=headers)

    assert no_team.status_code == 404
    assert no_user.status_code == 404


def test_a_service_reads_teams_but_never_changes_them(
    client, make_client, service_token, database_state, org
):
    robot = {"Authorization": f"Bearer {service_token(make_client('users:read'))}"}
    before = database_state()

    listed = client.get("/api/teams", headers=robot)
    created = client.post("/api/teams", json={"name": "Robots"}, headers=robot)
    added = client.put(
        f"/api/teams/{org['apollo']['id']}/members/{org['bob']['id']}", headers=robot
    )

    assert [team["name"] for team in listed.json["items"]] == ["Apollo", "Gemini"]
    assert created.status_code == 403
    assert added.status_code == 403
    assert created.json["detail"] == "This request needs the scope 'users:write'."
    assert database_state() == before
