"""People over the API: who lists, sees and changes whom."""

from __future__ import annotations

import pytest

MISSING_ID = "6b0f7c1e-49d4-4e38-9b4e-0f6f6f3c2a11"


@pytest.fixture
def org(make_user, make_team):
    """An admin, a manager of team Apollo (ann in it) and bob outside every team."""
    admin = make_user("admin@example.com", role="admin")
    manager = make_user("mia@example.com", role="manager")
    ann = make_user("ann@example.com")
    bob = make_user("bob@example.com")
    apollo = make_team("Apollo", members=(ann,), managers=(manager,))
    return {"admin": admin, "manager": manager, "ann": ann, "bob": bob, "apollo": apollo}


def emails(response) -> list[str]:
    return [user["email"] for user in response.json["items"]]


def test_an_admin_lists_everyone_oldest_first(client, headers_for, org):
    response = client.get("/api/users", headers=headers_for(org["admin"]))

    assert response.status_code == 200
    assert emails(response) == [
        "admin@example.com",
        "mia@example.com",
        "ann@example.com",
        "bob@example.com",
    ]
    assert response.json["next_cursor"] is None
    assert set(response.json["items"][0]) == {
        "id",
        "email",
        "display_name",
        "role",
        "is_active",
        "created_at",
    }


def test_pages_follow_the_cursor_to_the_end(client, headers_for, org):
    headers = headers_for(org["admin"])

    first = client.get("/api/users?limit=3", headers=headers)
    second = client.get(f"/api/users?limit=3&cursor={first.json['next_cursor']}", headers=headers)

    assert emails(first) == ["admin@example.com", "mia@example.com", "ann@example.com"]
    assert emails(second) == ["bob@example.com"]
    assert second.json["next_cursor"] is None


def test_a_cursor_not_issued_here_is_a_400(client, headers_for, org):
    response = client.get("/api/users?cursor=bm90LW91cnM", headers=headers_for(org["admin"]))

    assert response.status_code == 400
    assert response.json["detail"] == "The cursor is not one this service issued."


def test_filters_by_email_in_any_case_team_and_activity(client, headers_for, org):
    headers = headers_for(org["admin"])
    client.patch(f"/api/users/{org['bob']['id']}", json={"is_active": False}, headers=headers)

    by_email = client.get("/api/users?email=ANN@Example.com", headers=headers)
    by_team = client.get(f"/api/users?team={org['apollo']['id']}", headers=headers)
    inactive = client.get("/api/users?active=false", headers=headers)

    assert emails(by_email) == ["ann@example.com"]
    assert emails(by_team) == ["mia@example.com", "ann@example.com"]
    assert emails(inactive) == ["bob@example.com"]


def test_a_manager_lists_themselves_and_the_people_of_their_teams(client, headers_for, org):
    response = client.get("/api/users", headers=headers_for(org["manager"]))

    assert response.status_code == 200
    assert emails(response) == ["mia@example.com", "ann@example.com"]


def test_a_manager_may_not_filter_by_a_team_they_do_not_manage(client, headers_for, make_team, org):
    other = make_team("Gemini", members=(org["bob"], org["manager"]))

    response = client.get(f"/api/users?team={other['id']}", headers=headers_for(org["manager"]))

    assert response.status_code == 403
    assert response.json["detail"] == (
        "Managers may list the people of the teams they manage only."
    )


def test_a_member_may_not_list_users(client, headers_for, org):
    response = client.get("/api/users", headers=headers_for(org["ann"]))

    assert response.status_code == 403
    assert response.json["detail"] == "This request needs the scope 'users:read'."


def test_a_service_with_users_read_lists_everyone(client, make_client, service_token, org):
    robot = make_client("users:read")
    headers = {"Authorization": f"Bearer {service_token(robot)}"}

    response = client.get("/api/users?email=bob@example.com", headers=headers)

    assert response.status_code == 200
    assert emails(response) == ["bob@example.com"]


def test_a_service_without_users_read_is_refused(client, make_client, service_token, org):
    robot = make_client("entries:read")
    headers = {"Authorization": f"Bearer {service_token(robot)}"}

    response = client.get("/api/users", headers=headers)

    assert response.status_code == 403
    assert response.json["detail"] == "This request needs the scope 'users:read'."


def test_a_user_is_shown_with_their_teams(client, headers_for, org):
    response = client.get(f"/api/users/{org['manager']['id']}", headers=headers_for(org["admin"]))

    assert response.status_code == 200
    assert response.json["email"] == "mia@example.com"
    assert response.json["role"] == "manager"
    assert response.json["teams"] == [
        {"id": org["apollo"]["id"], "name": "Apollo", "is_manager": True}
    ]


def test_a_manager_does_not_see_a_user_outside_their_teams(client, headers_for, org):
    response = client.get(f"/api/users/{org['bob']['id']}", headers=headers_for(org["manager"]))

    assert response.status_code == 404
    assert response.json["detail"] == "The user was not found."


def test_an_unknown_user_is_a_404(client, headers_for, org):
    response = client.get(f"/api/users/{MISSING_ID}", headers=headers_for(org["admin"]))

    assert response.status_code == 404


def test_me_shows_the_callers_teams(client, headers_for, org):
    response = client.get("/auth/me", headers=headers_for(org["ann"]))

    assert response.status_code == 200
    assert response.json["email"] == "ann@example.com"
    assert response.json["teams"] == [
        {"id": org["apollo"]["id"], "name": "Apollo", "is_manager": False}
    ]


def test_an_admin_changes_role_and_name(client, headers_for, org):
    body = {"role": "manager", "display_name": "  Ann Lee "}

    response = client.patch(
        f"/api/users/{org['ann']['id']}", json=body, headers=headers_for(org["admin"])
    )

    assert response.status_code == 200
    assert response.json["role"] == "manager"
    assert response.json["display_name"] == "Ann Lee"
    assert response.json["teams"][0]["name"] == "Apollo"


def test_a_person_renames_themselves(client, headers_for, org):
    response = client.patch(
        f"/api/users/{org['ann']['id']}",
        json={"display_name": "Ann"},
        headers=headers_for(org["ann"]),
    )

    assert response.status_code == 200
    assert response.json["display_name"] == "Ann"
    assert response.json["role"] == "member"


@pytest.mark.parametrize("change", [{"role": "admin"}, {"is_active": False}])
def test_a_member_cannot_change_their_own_role_or_activity(
    client, headers_for, database_state, org, change
):
    headers = headers_for(org["ann"])
    before = database_state()

    response = client.patch(f"/api/users/{org['ann']['id']}", json=change, headers=headers)

    assert response.status_code == 403
    assert response.json["detail"] == (
        "Only admins may change roles, activity or other people's names."
    )
    assert database_state() == before


def test_a_manager_cannot_change_a_role_in_their_team(client, headers_for, database_state, org):
    headers = headers_for(org["manager"])
    before = database_state()

    response = client.patch(
        f"/api/users/{org['ann']['id']}", json={"role": "manager"}, headers=headers
    )

    assert response.status_code == 403
    assert database_state() == before


def test_a_member_does_not_find_another_to_rename(client, headers_for, org):
    response = client.patch(
        f"/api/users/{org['bob']['id']}",
        json={"display_name": "x"},
        headers=headers_for(org["ann"]),
    )

    assert response.status_code == 404


def test_a_service_cannot_change_users(client, make_client, service_token, org):
    robot = make_client("users:read")
    headers = {"Authorization": f"Bearer {service_token(robot)}"}

    response = client.patch(
        f"/api/users/{org['ann']['id']}", json={"role": "admin"}, headers=headers
    )

    assert response.status_code == 403
    assert response.json["detail"] == "This route accepts user tokens only."


def test_deactivating_stops_the_users_tokens_at_once_and_reactivating_lets_them_sign_in(
    client, headers_for, login, org
):
    admin, bob_headers = headers_for(org["admin"]), headers_for(org["bob"])

    off = client.patch(f"/api/users/{org['bob']['id']}", json={"is_active": False}, headers=admin)
    refused = client.get("/auth/me", headers=bob_headers)
    on = client.patch(f"/api/users/{org['bob']['id']}", json={"is_active": True}, headers=admin)

    assert off.status_code == 200 and off.json["is_active"] is False
    assert refused.status_code == 401
    assert on.json["is_active"] is True
    assert client.get("/auth/me", headers=bob_headers).status_code == 401
    assert login(org["bob"])["access_token"]


@pytest.mark.parametrize("change", [{"role": "member"}, {"is_active": False}])
def test_the_last_active_admin_stays(client, headers_for, database_state, org, change):
    headers = headers_for(org["admin"])
    before = database_state()

    response = client.patch(f"/api/users/{org['admin']['id']}", json=change, headers=headers)

    assert response.status_code == 409
    assert response.json["detail"] == "This is the last active admin; make another admin first."
    assert database_state() == before


def test_an_admin_steps_down_once_another_admin_exists(client, headers_for, make_user, org):
    make_user("second-admin@example.com", role="admin")

    response = client.patch(
        f"/api/users/{org['admin']['id']}",
        json={"role": "member"},
        headers=headers_for(org["admin"]),
    )

    assert response.status_code == 200
    assert response.json["role"] == "member"


def test_a_patch_with_an_unknown_role_changes_nothing(client, headers_for, org):
    response = client.patch(
        f"/api/users/{org['ann']['id']}", json={"role": "owner"}, headers=headers_for(org["admin"])
    )

    assert response.status_code == 422
    assert response.json["errors"][0]["field"] == "role"


def test_an_admins_personal_token_without_users_write_cannot_change_roles(client, headers_for, org):
    admin = headers_for(org["admin"])
    body = {"name": "reader", "scopes": ["users:read"]}
    token = client.post("/api/tokens", json=body, headers=admin).json["token"]

    response = client.patch(
        f"/api/users/{org['ann']['id']}",
        json={"role": "manager"},
        headers={"Authorization": f"Bearer {token}"},
    )

    assert response.status_code == 403
    assert response.json["detail"] == "This request needs the scope 'users:write'."
