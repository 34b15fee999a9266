"""Invitations and the sign-up policy: who may invite whom into which teams, and an
invitation that works once, for its email, before it expires."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from service.models import Invitation
from service.models import Membership
from service.models import User
from service.models import utcnow
from service.security import hash_token
from tests.conftest import PASSWORD

INVITED = "newcomer@example.com"
WEEK = 7 * 24 * 3600


@pytest.fixture
def admin(make_user):
    return make_user(email="admin@example.com", role="admin")


@pytest.fixture
def admin_headers(headers_for, admin):
    return headers_for(admin)


@pytest.fixture
def invite(client, admin_headers):
    """POST an invitation (as the admin unless HEADERS are given); return the answer."""

    def post(headers=None, **body):
        return client.post(
            "/api/invitations", json={"email": INVITED, **body}, headers=headers or admin_headers
        )

    return post


def register(client, token=None, email=INVITED, password=PASSWORD):
    body = {"email": email, "password": password}
    if token is not None:
        body["invitation"] = token
    return client.post("/auth/register", json=body)


def test_an_admin_invites_and_the_token_is_shown_once_and_stored_hashed(
    invite, make_team, admin, database_state
):
    team = make_team()

    response = invite(email="NewComer@Example.com", role="manager", teams=[team["id"]])

    assert response.status_code == 201
    body = response.json
    assert set(body) == {
        "id",
        "email",
        "role",
        "teams",
        "invited_by",
        "created_at",
        "expires_at",
        "token",
    }
    assert (body["email"], body["role"], body["teams"]) == (INVITED, "manager", [team["id"]])
    assert body["invited_by"] == admin["id"]
    stored = Invitation.get_by_id(uuid.UUID(body["id"]))
    assert stored.token_hash == hash_token(body["token"])
    assert body["token"] not in repr(database_state())
    assert stored.expires_at - stored.created_at == timedelta(seconds=WEEK)


def test_registering_with_an_invitation_grants_its_role_and_teams(
    make_app, database_url, invite, make_team, login
):
    team = make_team()
    token = invite(role="manager", teams=[team["id"]]).json["token"]
    client = make_app(database_url, REGISTRATION="invite").test_client()

    response = register(client, token)

    assert response.status_code == 201
    assert (response.json["email"], response.json["role"]) == (INVITED, "manager")
    member = Membership.get(Membership.user == uuid.UUID(response.json["id"]))
    assert (str(member.team_id), member.is_manager) == (team["id"], False)
    assert login({"email": INVITED, "password": PASSWORD})["token_type"] == "Bearer"


def test_an_invitation_works_once(make_app, database_url, invite, database_state):
    token = invite().json["token"]
    client = make_app(database_url, REGISTRATION="invite").test_client()
    assert register(client, token).status_code == 201
    before = database_state()

    again = register(client, token, email=INVITED, password="another password")

    assert again.status_code == 403
    assert again.json["detail"] == "The invitation was used already."
    assert database_state() == before


def test_racing_registrations_spend_an_invitation_once(make_app, database_url, invite):
    token = invite().json["token"]
    app = make_app(database_url, REGISTRATION="invite")

    def attempt(password: str) -> int:
        return register(app.test_client(), token, password=password).status_code

    with ThreadPoolExecutor(4) as pool:
        statuses = sorted(pool.map(attempt, [f"password number {n}" for n in range(4)]))

    assert statuses[0] == 201
    assert set(statuses[1:]) <= {403, 409}
    assert User.select().where(User.email == INVITED).count() == 1


def test_an_expired_invitation_is_refused_and_nothing_is_written(
    make_app, database_url, invite, database_state
):
    answer = invite().json
    Invitation.update(expires_at=utcnow() - timedelta(seconds=1)).execute()
    client = make_app(database_url, REGISTRATION="invite").test_client()
    before = database_state()

    response = register(client, answer["token"])

    assert response.status_code == 403
    assert response.json["detail"] == "The invitation has expired: ask for a new one."
    assert database_state() == before


def test_an_invitation_for_another_email_is_refused_and_stays_usable(
    make_app, database_url, invite, database_state
):
    token = invite().json["token"]
    client = make_app(database_url, REGISTRATION="invite").test_client()
    before = database_state()

    stolen = register(client, token, email="intruder@example.com")

    assert stolen.status_code == 403
    assert stolen.json["detail"] == "The invitation is for another email address."
    assert database_state() == before
    assert register(client, token, email=INVITED.upper()).status_code == 201


@pytest.mark.parametrize("token", ["made-up-token", "x" * 43])
def test_an_unknown_invitation_is_refused(make_app, database_url, token, database_state):
    client = make_app(database_url, REGISTRATION="invite").test_client()
    before = database_state()

    response = register(client, token)

    assert response.status_code == 403
    assert response.json["detail"] == "The invitation is unknown."
    assert database_state() == before


def test_a_taken_email_with_an_invitation_is_409_and_the_invitation_stays_unspent(
    client, invite, make_user
):
    token = invite().json["token"]
    make_user(email=INVITED)

    response = register(client, token, password="another password")

    assert response.status_code == 409
    assert response.json["detail"] == "An account with this email exists already: sign in."
    assert Invitation.get().used_at is None


@pytest.mark.parametrize(
    ("policy", "with_invitation", "status", "detail"),
    [
        ("invite", False, 403, "Sign-up needs an invitation: ask an admin or your team's manager."),
        ("closed", False, 403, "Sign-up is closed: ask an admin for an account."),
        ("closed", True, 403, "Sign-up is closed: ask an admin for an account."),
    ],
)
def test_the_policy_refuses_sign_ups_it_does_not_allow(
    make_app, database_url, invite, database_state, policy, with_invitation, status, detail
):
    token = invite().json["token"] if with_invitation else None
    client = make_app(database_url, REGISTRATION=policy).test_client()
    before = database_state()

    response = register(client, token)

    assert response.status_code == status
    assert response.json["detail"] == detail
    assert database_state() == before


def test_open_sign_up_takes_an_invitation_optionally(client, invite, make_team):
    team = make_team()
    token = invite(role="admin", teams=[team["id"]]).json["token"]

    plain = register(client, email="walk-in@example.com")
    invited = register(client, token)

    assert (plain.status_code, plain.json["role"]) == (201, "member")
    assert (invited.status_code, invited.json["role"]) == (201, "admin")
    assert Membership.select().where(Membership.team == uuid.UUID(team["id"])).count() == 1


def test_production_defaults_to_invitations_and_development_to_open(make_app, database_url):
    production = make_app(database_url, REGISTRATION="")
    development = make_app(database_url, REGISTRATION="", APP_ENV="development")

    assert production.config["REGISTRATION"] == "invite"
    assert development.config["REGISTRATION"] == "open"


def test_no_invitations_while_sign_up_is_closed(make_app, database_url, admin_headers):
    client = make_app(database_url, REGISTRATION="closed").test_client()

    response = client.post("/api/invitations", json={"email": INVITED}, headers=admin_headers)

    assert response.status_code == 409
    assert (
        response.json["detail"] == "Sign-up is closed (REGISTRATION=closed): nobody could use it."
    )


def test_inviting_someone_who_has_an_account_is_409(invite, make_user, database_state):
    make_user(email=INVITED)
    before = database_state()

    response = invite()

    assert response.status_code == 409
    assert response.json["detail"] == "An account with this email exists already."
    assert database_state() == before


def test_unknown_teams_are_422(invite, make_team, database_state):
    known = make_team()["id"]
    unknown = str(uuid.uuid4())
    before = database_state()

    response = invite(teams=[known, unknown])

    assert response.status_code == 422
    assert response.json["errors"] == [{"field": "teams", "message": f"unknown team {unknown}"}]
    assert database_state() == before


@pytest.fixture
def manager(make_user):
    return make_user(email="lead@example.com", role="manager")


def test_a_manager_invites_a_member_into_their_team(client, manager, headers_for, make_team):
    team = make_team(managers=(manager,))

    response = invite_as(client, headers_for(manager), teams=[team["id"]])

    assert response.status_code == 201
    assert (response.json["role"], response.json["teams"]) == ("member", [team["id"]])


def invite_as(client, headers, **body):
    return client.post("/api/invitations", json={"email": INVITED, **body}, headers=headers)


ONLY_OWN_TEAMS = "Managers invite into the teams they manage: name one or more of them."


@pytest.mark.parametrize(
    ("role", "into", "detail"),
    [
        ("manager", "own", "Managers invite members only; an admin invites managers."),
        ("admin", "own", "Managers invite members only; an admin invites admins."),
        ("member", "own and another", ONLY_OWN_TEAMS),
        ("member", "none", ONLY_OWN_TEAMS),
        ("member", "one they are a member of", ONLY_OWN_TEAMS),
    ],
)
def test_a_manager_invites_only_members_into_teams_they_manage(
    client, manager, headers_for, make_team, database_state, role, into, detail
):
    own = make_team(managers=(manager,))
    teams = {
        "own": [own["id"]],
        "own and another": [own["id"], make_team()["id"]],
        "none": [],
        "one they are a member of": [make_team(members=(manager,))["id"]],
    }[into]
    headers = headers_for(manager)
    before = database_state()

    response = invite_as(client, headers, role=role, teams=teams)

    assert response.status_code == 403
    assert response.json["detail"] == detail
    assert database_state() == before


def test_a_member_may_not_invite_or_list(client, make_user, headers_for, database_state):
    headers = headers_for(make_user())
    before = database_state()

    created = invite_as(client, headers)
    listed = client.get("/api/invitations", headers=headers)

    assert (created.status_code, listed.status_code) == (403, 403)
    assert created.json["detail"] == "This request needs the scope 'users:write'."
    assert listed.json["detail"] == "This request needs the scope 'users:read'."
    assert database_state() == before


def test_a_service_may_not_see_or_make_invitations(
    client, invite, make_client, service_token, database_state
):
    invite()
    headers = {"Authorization": f"Bearer {service_token(make_client('users:read'))}"}
    before = database_state()

    listed = client.get("/api/invitations", headers=headers)
    created = invite_as(client, headers)

    assert listed.status_code == created.status_code == 403
    assert listed.json["detail"] == (
        "Invitations are people's business: a service token may not see them."
    )
    assert created.json["detail"] == "This request needs the scope 'users:write'."
    assert database_state() == before


def test_pending_invitations_as_each_caller_sees_them(
    client, invite, admin_headers, manager, headers_for, make_user, make_team
):
    team = make_team(managers=(manager,))
    other_team = make_team(managers=(make_user(role="manager"),))
    lead = headers_for(manager)
    into_team = invite(email="a@example.com", teams=[team["id"]]).json["id"]
    by_lead = invite_as(client, lead, email="b@example.com", teams=[team["id"]]).json["id"]
    elsewhere = invite(email="c@example.com", teams=[other_team["id"]]).json["id"]
    used, expired = invite(email="used@example.com").json, invite(email="old@example.com").json
    Invitation.update(used_at=utcnow()).where(Invitation.id == used["id"]).execute()
    Invitation.update(expires_at=utcnow()).where(Invitation.id == expired["id"]).execute()

    as_admin = client.get("/api/invitations", headers=admin_headers)
    as_lead = client.get("/api/invitations", headers=lead)

    assert as_admin.status_code == as_lead.status_code == 200
    assert [i["id"] for i in as_admin.json["items"]] == [elsewhere, by_lead, into_team]
    assert [i["id"] for i in as_lead.json["items"]] == [by_lead, into_team]
    assert "token" not in as_admin.json["items"][0]


def test_revoking_an_invitation_stops_its_token(make_app, database_url, invite, admin_headers):
    answer = invite().json
    client = make_app(database_url, REGISTRATION="invite").test_client()

    revoked = client.delete(f"/api/invitations/{answer['id']}", headers=admin_headers)
    again = client.delete(f"/api/invitations/{answer['id']}", headers=admin_headers)

    assert (revoked.status_code, revoked.data) == (204, b"")
    assert again.status_code == 404
    assert register(client, answer["token"]).json["detail"] == "The invitation is unknown."


def test_a_manager_cannot_revoke_an_invitation_they_may_not_see(
    client, invite, manager, headers_for, make_team, database_state
):
    elsewhere = invite(teams=[make_team()["id"]]).json["id"]
    headers = headers_for(manager)
    before = database_state()

    response = client.delete(f"/api/invitations/{elsewhere}", headers=headers)

    assert response.status_code == 404
    assert response.json["detail"] == "The invitation was not found."
    assert database_state() == before
