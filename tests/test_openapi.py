"""The contract: every route is in /openapi.json, and the API honours it under fuzzing."""

from __future__ import annotations

import io
import os
import re
import uuid
from pathlib import Path

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck
from openapi_spec_validator import OpenAPIV31SpecValidator
from openapi_spec_validator import validate
from schemathesis.checks import positive_data_acceptance

from service import create_app
from service.openapi import IGNORED_METHODS
from service.openapi import operation_of
from service.permissions import SERVICE_SCOPES
from service.security import is_protected
from tests.conftest import PASSWORD
from tests.conftest import settings
from tests.test_health import closed_port

FIXTURES = Path(__file__).parent / "fixtures"


def served_operations(app) -> set[tuple[str, str]]:
    """Every (path in OpenAPI form, method) the app answers."""
    operations = set()
    for rule in app.url_map.iter_rules():
        path = rule.rule.replace("<uuid:", "{").replace("<", "{").replace(">", "}")
        operations.update((path, m.lower()) for m in rule.methods - IGNORED_METHODS)
    return operations


def test_every_route_declares_its_contract(app):
    undocumented = sorted(
        rule.endpoint
        for rule in app.url_map.iter_rules()
        if operation_of(app.view_functions[rule.endpoint]) is None
    )

    assert undocumented == [], "add @documented(...) from service.openapi to these views"


def test_the_spec_lists_every_route_and_method(client, app):
    spec = client.get("/openapi.json").json

    listed = {(path, method) for path, item in spec["paths"].items() for method in item}

    assert spec["openapi"] == "3.1.0"
    assert listed == served_operations(app)


def test_protected_operations_and_only_they_require_a_bearer_token(client, app):
    paths = client.get("/openapi.json").json["paths"]
    expected = {}
    for rule in app.url_map.iter_rules():
        blueprint = app.blueprints.get(rule.endpoint.rpartition(".")[0])
        expected[rule.endpoint.replace(".", "_")] = bool(blueprint and is_protected(blueprint))

    secured = {
        op["operationId"]: op.get("security") == [{"bearerAuth": []}]
        for item in paths.values()
        for op in item.values()
    }

    assert secured == {op_id: expected[op_id] for op_id in secured}
    assert any(secured.values()) and not all(secured.values())


def test_every_error_is_a_problem_document(client):
    paths = client.get("/openapi.json").json["paths"]

    error_media = {
        media
        for item in paths.values()
        for op in item.values()
        for status, answer in op["responses"].items()
        if int(status) >= 400
        and op["operationId"]
        not in {"health_health", "health_readyz", "auth_token"}  # RFC 6749 fixes its shape
        for media in answer["content"]
    }

    assert error_media == {"application/problem+json"}


def test_protected_operations_document_401_and_bodies_document_422(client):
    paths = client.get("/openapi.json").json["paths"]

    for item in paths.values():
        for op in item.values():
            if "security" in op:
                assert "401" in op["responses"], op["operationId"]
            if "application/json" in op.get("requestBody", {}).get("content", {}):
                assert {"400", "422"} <= set(op["responses"]), op["operationId"]


def test_the_contract_names_its_models_as_components(client):
    spec = client.get("/openapi.json").json

    schemas = spec["components"]["schemas"]

    assert {"Entry", "EntryIn", "Problem", "ReportSummary", "TokenPair"} <= set(schemas)
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_the_contract_is_valid_openapi_3_1(client):
    validate(client.get("/openapi.json").json, cls=OpenAPIV31SpecValidator)


def null_defaults_of_fields_refusing_null(schema: dict) -> list[str]:
    """Name every property whose default is null although its schema does not allow null."""
    found = []
    for model, definition in schema["components"]["schemas"].items():
        for name, prop in definition.get("properties", {}).items():
            types = [prop.get("type"), *(option.get("type") for option in prop.get("anyOf", []))]
            if "default" in prop and prop["default"] is None and "null" not in types:
                found.append(f"{model}.{name}")
    return found


def test_no_field_defaults_to_a_null_it_refuses(client):
    spec = client.get("/openapi.json").json

    assert null_defaults_of_fields_refusing_null(spec) == []
    assert "default" not in spec["components"]["schemas"]["EntryPatch"]["properties"]["date"]


def test_readyz_documents_every_state_it_answers_with(client):
    spec = client.get("/openapi.json").json

    unready = spec["components"]["schemas"]["Unready"]["properties"]["failed"]

    assert set(unready["enum"]) == {"draining", "database", "migrations"}


def test_an_optional_body_is_documented_as_optional(client):
    paths = client.get("/openapi.json").json["paths"]

    required = {
        path: op["requestBody"]["required"]
        for path, item in paths.items()
        for op in item.values()
        if "requestBody" in op
    }

    assert {path for path, needed in required.items() if not needed} == {
        "/api/sync/toggl",
        "/api/sync/tempo",
        "/api/timer",
        "/api/timer/stop",
    }


# Operations that rightly refuse some schema-valid requests, and the rule that refuses them.
RULES_THE_SCHEMA_CANNOT_STATE = {
    "GET /api/entries": "a cursor must be one the service issued; one of user_id, user, team, all",
    "GET /api/entries/export": "at most one of user_id, user, team, all",
    "GET /api/reports/summary": "at most one of user_id, user, team, all",
    "PUT /api/entries/bulk": "a batch names each (source, external_id) once",
    "POST /auth/register": "a password fits bcrypt's 72 bytes of UTF-8; emails are deliverable",
    "POST /auth/login": "emails are deliverable addresses",
    "POST /auth/password": "the new password fits bcrypt's 72 bytes of UTF-8",
    "POST /auth/password/reset": "the password fits bcrypt's 72 bytes of UTF-8",
    "POST /api/invitations": "emails are deliverable; the teams named exist",
    "POST /api/imports": "the file is a UTF-8 CSV export whose header names a known format",
    "GET /api/integrations/toggl": "credentials are stored first",
    "GET /api/integrations/tempo": "credentials are stored first",
    "DELETE /api/integrations/toggl": "credentials are stored first",
    "DELETE /api/integrations/tempo": "credentials are stored first",
    "PUT /api/integrations/toggl": "a token is not blank",
    "PUT /api/integrations/tempo": (
        "a token is not blank, zones are IANA names, jira_* go together, account_id without jira_*"
    ),
    "POST /api/sync/toggl": "credentials first, the source answers, days in the history, in order",
    "POST /api/sync/tempo": "credentials first, the source answers, days in the history, in order",
    # Users, teams and personal tokens (issue 27).
    "GET /api/users": "a cursor must be one the service issued",
    "POST /api/tokens": "a token's scopes are at most those the caller's role grants",
    # The running timer (issue 28).
    "POST /api/timer": "a start is not ahead of the clock, nor a day after the running timer's",
    "POST /api/timer/stop": "a stop is not ahead of the clock and makes a duration of 0 to 24 h",
}

# Loaded once from an app's own /openapi.json; each test calls its own app (and database).
contract = schemathesis.openapi.from_wsgi(
    "/openapi.json", create_app(settings("sqlite:///unused-by-the-contract.db"))
)


def check_case(case, app, headers: dict[str, str], query: dict[str, str] | None = None) -> None:
    """Call CASE with a valid token in place of the fuzzer's and validate the answer.

    The fuzzer sends a random bearer token where the contract asks for one, and none when
    it tests that the token is required: only the random one is swapped for HEADERS.
    """
    unstated = case.operation.label in RULES_THE_SCHEMA_CANNOT_STATE
    excluded = [positive_data_acceptance] if unstated else []
    authorized = "Authorization" in (case.headers or {})
    if authorized:
        case.headers["Authorization"] = headers["Authorization"]
        case.query = {**(case.query or {}), **(query or {})}

    response = case.call_and_validate(app=app, excluded_checks=excluded)

    assert not (authorized and response.status_code == 401), "a valid token was refused"


fuzzing = hypothesis.settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "20")),
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


@contract.parametrize()
@fuzzing
def test_the_api_honours_its_contract_for_a_member(case, app, auth_headers):
    check_case(case, app, auth_headers)


@pytest.fixture
def admin_headers(make_user, headers_for) -> dict[str, str]:
    """Headers of an admin, who may see and change everyone's data."""
    return headers_for(make_user(role="admin"))


@contract.parametrize()
@fuzzing
def test_the_api_honours_its_contract_for_an_admin(case, app, admin_headers):
    check_case(case, app, admin_headers)


@pytest.fixture
def robot_headers(make_client, service_token) -> dict[str, str]:
    """Headers of a service client holding every scope a service may hold."""
    robot = make_client(*sorted(SERVICE_SCOPES))
    return {"Authorization": f"Bearer {service_token(robot)}"}


@contract.parametrize()
@fuzzing
def test_the_api_honours_its_contract_for_a_service_acting_for_a_user(
    case, app, user, robot_headers
):
    check_case(case, app, robot_headers, query={"user_id": user["id"]})


JOB_PATHS = ("/api/jobs", "/api/jobs/{job_id}")


def documented_statuses(spec: dict) -> set[tuple[str, str, int]]:
    """Every (method, path, status) the contract promises."""
    return {
        (method.upper(), path, int(status))
        for path, item in spec["paths"].items()
        for method, op in item.items()
        for status in op["responses"]
    }


def test_every_documented_status_is_reachable(
    make_app,
    database_url,
    client,
    user,
    auth_headers,
    make_entry,
    make_client,
    service_token,
    httpserver_ipv4,
    make_user,
    headers_for,
    people_statuses,
):
    spec = client.get("/openapi.json").json
    own = make_entry(source="toggl")["id"]
    doomed = make_entry()["id"]
    missing = "6b0f7c1e-49d4-4e38-9b4e-0f6f6f3c2a11"
    entry = {"date": "2026-11-02T09:00:00Z", "duration": 1}
    account = {"email": user["email"], "password": user["password"]}
    refresh = client.post("/auth/login", json=account).json["refresh_token"]
    spent = client.post("/auth/login", json=account).json["refresh_token"]
    bad_json = {"data": "{", "content_type": "application/json"}
    stale = {"If-Match": '"0"'}
    csv_file = (FIXTURES / "toggl_detailed_report.reconstructed.csv").read_bytes()

    def upload():
        # The sample names other people: a member's upload skips their rows.
        return {"file": (io.BytesIO(csv_file), "export.csv"), "unknown_users": "skip"}

    backwards = {"from": "2024-03-10", "to": "2024-03-01"}
    client.put("/api/integrations/toggl", json={"api_token": "t"}, headers=auth_headers)
    job = client.post("/api/sync/toggl", headers=auth_headers).json["id"]
    table = [
        ("GET", "/api/jobs", {}, 200),
        ("GET", "/api/jobs", {"query_string": {"source": "x"}}, 422),
        ("GET", "/api/jobs/{job_id}", {"id": job}, 200),
        ("GET", "/api/jobs/{job_id}", {"id": missing}, 404),
        ("GET", "/api/entries", {}, 200),
        ("GET", "/api/entries", {"query_string": {"cursor": "not-ours"}}, 400),
        ("GET", "/api/entries", {"query_string": {"limit": 0}}, 422),
        ("POST", "/api/entries", {"json": entry}, 201),
        ("POST", "/api/entries", bad_json, 400),
        (
            "POST",
            "/api/entries",
            {"json": {**entry, "source": "toggl", "external_id": own}},
            409,
        ),
        ("POST", "/api/entries", {"json": {}}, 422),
        ("GET", "/api/entries/{entry_id}", {"id": own}, 200),
        ("GET", "/api/entries/{entry_id}", {"id": missing}, 404),
        ("PATCH", "/api/entries/{entry_id}", {"id": own, "json": {"duration": 2}}, 200),
        ("PATCH", "/api/entries/{entry_id}", {"id": own, **bad_json}, 400),
        ("PATCH", "/api/entries/{entry_id}", {"id": missing, "json": {}}, 404),
        ("PATCH", "/api/entries/{entry_id}", {"id": own, "json": {"duration": -1}}, 422),
        ("PATCH", "/api/entries/{entry_id}", {"id": own, "json": {}, "headers": stale}, 412),
        ("DELETE", "/api/entries/{entry_id}", {"id": own, "headers": stale}, 412),
        ("DELETE", "/api/entries/{entry_id}", {"id": doomed}, 204),
        ("DELETE", "/api/entries/{entry_id}", {"id": missing}, 404),
        ("PUT", "/api/entries/bulk", {"json": {"entries": [{**entry, "external_id": "1"}]}}, 200),
        ("PUT", "/api/entries/bulk", bad_json, 400),
        ("PUT", "/api/entries/bulk", {"json": {"entries": []}}, 422),
        ("GET", "/api/entries/export", {}, 200),
        ("GET", "/api/entries/export", {"query_string": {"format": "xml"}}, 422),
        ("GET", "/api/reports/summary", {}, 200),
        ("GET", "/api/reports/summary", {"query_string": {"tz": "Mars/Base"}}, 422),
        # The running timer (issue 28).
        ("GET", "/api/timer", {}, 404),
        ("POST", "/api/timer", {}, 201),
        ("POST", "/api/timer", {"json": {"start": "1970-01-02T00:00:00Z"}}, 409),
        ("POST", "/api/timer", bad_json, 400),
        ("POST", "/api/timer", {"json": {"start": "soon"}}, 422),
        ("GET", "/api/timer", {}, 200),
        ("POST", "/api/timer/stop", {"json": {}}, 200),
        ("POST", "/api/timer/stop", {}, 404),
        ("POST", "/api/timer/stop", bad_json, 400),
        ("POST", "/api/timer/stop", {"json": {"stop": "soon"}}, 422),
        ("POST", "/api/timer", {"json": {}}, 201),
        ("DELETE", "/api/timer", {}, 204),
        ("DELETE", "/api/timer", {}, 404),
        ("GET", "/auth/me", {}, 200),
        ("POST", "/auth/register", {"json": {**account, "email": "new@example.com"}}, 201),
        ("POST", "/auth/register", bad_json, 400),
        ("POST", "/auth/register", {"json": {}}, 422),
        ("POST", "/auth/login", {"json": account}, 200),
        ("POST", "/auth/login", bad_json, 400),
        ("POST", "/auth/login", {"json": {**account, "password": "wrong-one"}}, 401),
        ("POST", "/auth/login", {"json": {}}, 422),
        ("POST", "/auth/refresh", {"json": {"refresh_token": spent}}, 200),
        ("POST", "/auth/refresh", bad_json, 400),
        ("POST", "/auth/refresh", {"json": {"refresh_token": spent}}, 401),
        ("POST", "/auth/refresh", {"json": {}}, 422),
        ("POST", "/auth/logout", {"json": {"refresh_token": refresh}}, 204),
        ("POST", "/auth/logout", bad_json, 400),
        ("POST", "/auth/logout", {"json": {"refresh_token": "x"}}, 401),
        ("POST", "/auth/logout", {"json": {}}, 422),
        ("POST", "/api/imports", {"data": upload}, 200),
        ("POST", "/api/imports", {"data": {}}, 422),
        ("PUT", "/api/integrations/toggl", {"json": {"api_token": "t"}}, 200),
        ("PUT", "/api/integrations/toggl", bad_json, 400),
        ("PUT", "/api/integrations/toggl", {"json": {}}, 422),
        ("PUT", "/api/integrations/tempo", {"json": {"api_token": "t", "account_id": "a"}}, 200),
        ("PUT", "/api/integrations/tempo", bad_json, 400),
        ("PUT", "/api/integrations/tempo", {"json": {}}, 422),
        ("GET", "/api/integrations", {}, 200),
        *[
            row
            for source in ("toggl", "tempo")
            for row in (
                ("GET", f"/api/integrations/{source}", {}, 200),
                ("POST", f"/api/sync/{source}", {"json": {}}, 202),
                ("POST", f"/api/sync/{source}", bad_json, 400),
                ("POST", f"/api/sync/{source}", {"json": backwards}, 422),
                ("GET", "/api/sync/status", {}, 200),
                ("DELETE", f"/api/integrations/{source}", {}, 204),
                ("GET", f"/api/integrations/{source}", {}, 404),
                ("DELETE", f"/api/integrations/{source}", {}, 404),
                ("POST", f"/api/sync/{source}", {"json": {}}, 404),
            )
        ],
        *[("GET", path, {}, 200) for path in ("/livez", "/health", "/readyz", "/metrics")],
        ("GET", "/openapi.json", {}, 200),
        ("GET", "/.well-known/jwks.json", {}, 200),
    ]
    robot = make_client("entries:read", "entries:write", "reports:read", "entries:any-user")
    form = {"grant_type": "client_credentials", "client_id": robot["id"]}
    token_rows = [
        ("POST", "/auth/token", {"data": {**form, "client_secret": robot["secret"]}}, 200),
        (
            "POST",
            "/auth/token",
            {"data": {**form, "client_secret": robot["secret"], "scope": "x"}},
            400,
        ),
        ("POST", "/auth/token", {"data": {**form, "client_secret": "wrong"}}, 401),
    ]
    table += token_rows
    seen = {call(client, auth_headers, row) for row in table}
    seen |= {call(client, {}, (*row[:3], 401)) for row in table if row[3] < 300}
    as_other_user = {"query_string": {"user_id": missing}}
    seen |= {
        call(client, auth_headers, (m, p, {**kwargs, **as_other_user}, 403))
        for m, p, kwargs, status in table
        if status < 300
    }
    robot_headers = {"Authorization": f"Bearer {service_token(robot)}"}
    seen |= {
        call(client, robot_headers, (m, p, {**kwargs, **as_other_user}, 404))
        for m, p, kwargs, status in table
        if status < 300 and m == "GET"
    }
    seen |= {call(client, robot_headers, ("GET", p, {"id": job}, 403)) for p in JOB_PATHS}
    limited = make_app(database_url, RATE_LIMIT_PER_ADDRESS="1 per minute").test_client()
    for row in [r for r in table if r[1] in {"/auth/login", "/auth/register", "/auth/token"}]:
        seen.add(call(limited, {}, (*row[:3], 429)))
    small = make_app(database_url, MAX_CONTENT_LENGTH=1024).test_client()
    bodies = {(m, p) for m, p, kwargs, _ in table if "json" in kwargs or "data" in kwargs}
    big = {"data": "x" * 2048, "content_type": "application/json", "id": own}
    seen |= {call(small, auth_headers, (m, p, big, 413)) for m, p in bodies}
    dead = make_app(f"postgresql://postgres@127.0.0.1:{closed_port()}/none").test_client()
    seen |= {call(dead, auth_headers, (m, p, {"id": own}, 503)) for m, p, *_ in table}
    seen |= sync_statuses(make_app, database_url, user, auth_headers, httpserver_ipv4)
    seen |= people_statuses(spec)
    tiny = make_app(database_url, IMPORT_MAX_BYTES=10).test_client()
    seen.add(call(tiny, auth_headers, ("POST", "/api/imports", {"data": upload}, 413)))
    seen |= account_statuses(make_app, database_url, client, make_user, headers_for)

    assert documented_statuses(spec) <= {row for row in seen if row is not None}


def sync_statuses(make_app, database_url, user, auth_headers, server) -> set:
    """Reach each sync's 202 (against fake sources), 401 and 403."""
    server.expect_request("/toggl/api/v9/me/time_entries").respond_with_json([])
    server.expect_request("/toggl/api/v9/me").respond_with_json({"id": 1})
    server.expect_request("/toggl/api/v9/me/workspaces").respond_with_json([])
    server.expect_request("/tempo/4/worklogs/user/a").respond_with_json(
        {"metadata": {}, "results": []}
    )
    urls = {"TOGGL_API_URL": server.url_for("/toggl"), "TEMPO_API_URL": server.url_for("/tempo")}
    synced = make_app(database_url, **urls).test_client()
    seen = set()
    for source in ("toggl", "tempo"):
        path = f"/api/sync/{source}"
        body = {"api_token": "t", "account_id": "a"} if source == "tempo" else {"api_token": "t"}
        synced.put(f"/api/integrations/{source}", json=body, headers=auth_headers)
        seen.add(call(synced, auth_headers, ("POST", path, {"json": {}}, 202)))
        seen.add(call(synced, {}, ("POST", path, {"json": {}}, 401)))
        as_other = {"json": {}, "query_string": {"user_id": str(uuid.uuid4())}}
        seen.add(call(synced, auth_headers, ("POST", path, as_other, 403)))
    return seen


def account_statuses(make_app, database_url, client, make_user, headers_for) -> set:
    """Reach the statuses of sign-up, password and invitation routes (an admin invites)."""
    admin, member, forgetful = make_user(role="admin"), make_user(), make_user()
    as_admin, as_member = headers_for(admin), headers_for(member)
    invited = {"email": "invited@example.com", "password": "invited password"}
    made = client.post("/api/invitations", json={"email": invited["email"]}, headers=as_admin)
    late = client.post("/api/invitations", json={"email": "late@example.com"}, headers=as_admin)
    client.post("/auth/register", json={"email": "late@example.com", "password": "p" * 8})
    doomed = client.post("/api/invitations", json={"email": "d@example.com"}, headers=as_admin)
    reset = (
        make_app(database_url)
        .test_cli_runner()
        .invoke(args=["users", "reset-password", forgetful["email"]])
    )
    bad_json = {"data": "{", "content_type": "application/json"}
    change = {"current_password": PASSWORD, "new_password": "n" * 8}
    late_body = {"email": "late@example.com", "password": "p" * 8, "invitation": late.json["token"]}
    rows = [
        ("POST", "/api/invitations", as_admin, {"json": {"email": "x@example.com"}}, 201),
        ("POST", "/api/invitations", as_admin, bad_json, 400),
        ("POST", "/api/invitations", as_admin, {"json": {}}, 422),
        ("POST", "/api/invitations", as_admin, {"json": {"email": admin["email"]}}, 409),
        ("POST", "/api/invitations", as_member, {"json": {"email": "y@example.com"}}, 403),
        ("GET", "/api/invitations", as_admin, {}, 200),
        ("GET", "/api/invitations", as_member, {}, 403),
        ("DELETE", "/api/invitations/{invitation_id}", as_member, {"id": doomed.json["id"]}, 403),
        ("DELETE", "/api/invitations/{invitation_id}", as_admin, {"id": doomed.json["id"]}, 204),
        ("DELETE", "/api/invitations/{invitation_id}", as_admin, {"id": doomed.json["id"]}, 404),
        (
            "POST",
            "/auth/register",
            {},
            {"json": {**invited, "invitation": made.json["token"]}},
            201,
        ),
        (
            "POST",
            "/auth/register",
            {},
            {"json": {**invited, "invitation": made.json["token"]}},
            403,
        ),
        ("POST", "/auth/register", {}, {"json": late_body}, 409),
        ("POST", "/auth/password", as_member, {"json": {**change, "current_password": "x"}}, 403),
        ("POST", "/auth/password", as_member, bad_json, 400),
        ("POST", "/auth/password", as_member, {"json": {}}, 422),
        ("POST", "/auth/password", as_member, {"json": change}, 200),
        ("POST", "/auth/password/reset", {}, {"json": {"token": "x", "password": "p" * 8}}, 401),
        ("POST", "/auth/password/reset", {}, bad_json, 400),
        ("POST", "/auth/password/reset", {}, {"json": {}}, 422),
        (
            "POST",
            "/auth/password/reset",
            {},
            {"json": {"token": reset.stdout.strip(), "password": "p" * 8}},
            204,
        ),
    ]
    seen = {call(client, headers, (m, p, kwargs, status)) for m, p, headers, kwargs, status in rows}
    seen |= {call(client, {}, (m, p, kwargs, 401)) for m, p, _, kwargs, _ in rows}
    limited = make_app(database_url, RATE_LIMIT_PER_ADDRESS="1 per minute").test_client()
    for path in ("/auth/register", "/auth/password/reset") * 2:
        seen.add(call(limited, {}, ("POST", path, {"json": {}}, 429)))
    locked = make_app(database_url, LOGIN_LOCKOUT_ATTEMPTS=1).test_client()
    wrong = {"json": {**change, "current_password": "wrong"}}
    fresh = headers_for(admin)
    for _ in range(2):
        seen.add(call(locked, fresh, ("POST", "/auth/password", wrong, 429)))
    small = make_app(database_url, MAX_CONTENT_LENGTH=1024).test_client()
    big = {"data": "x" * 2048, "content_type": "application/json"}
    seen |= {call(small, as_admin, (m, p, big, 413)) for m, p, *_ in rows if m == "POST"}
    dead = make_app(f"postgresql://postgres@127.0.0.1:{closed_port()}/none").test_client()
    seen |= {call(dead, as_admin, (m, p, {"id": str(uuid.uuid4())}, 503)) for m, p, *_ in rows}
    return seen


def call(client, headers, row) -> tuple[str, str, int] | None:
    """Send one row of the table; return (method, path, status) when the status is as hoped.

    A callable `data` is called for each request (a file can be sent only once).
    """
    method, template, kwargs, hoped = row
    kwargs = {k: v() if callable(v) else v for k, v in kwargs.items()}
    given = kwargs.pop("id", "")
    path = re.sub(r"\{\w+_id\}", given, template)
    headers = {**headers, **kwargs.pop("headers", {})}
    response = client.open(path, method=method, headers=headers, **kwargs)
    return (method, template, hoped) if response.status_code == hoped else None


# Users, teams and personal tokens (issue 27).
USER, TEAM = "/api/users/{user_id}", "/api/teams/{team_id}"
MEMBERS, MANAGERS = f"{TEAM}/members/{{user_id}}", f"{TEAM}/managers/{{user_id}}"
TOKENS, TOKEN = "/api/tokens", "/api/tokens/{token_id}"
BAD_JSON = {"data": "{", "content_type": "application/json"}
NEW_TOKEN = {"json": {"name": "script", "scopes": ["entries:read"]}}
# (who calls, method, path, request, status); "ids" names whose id a path parameter takes.
PEOPLE_ROWS = [
    ("admin", "GET", "/api/users", {}, 200),
    ("admin", "GET", "/api/users", {"query_string": {"cursor": "bm90LW91cnM"}}, 400),
    ("admin", "GET", "/api/users", {"query_string": {"limit": 0}}, 422),
    ("member", "GET", "/api/users", {}, 403),
    ("admin", "GET", USER, {}, 200),
    ("member", "GET", USER, {}, 403),
    ("admin", "PATCH", USER, {"json": {"display_name": "Ann"}}, 200),
    ("admin", "PATCH", USER, BAD_JSON, 400),
    ("admin", "PATCH", USER, {"json": {"role": "owner"}}, 422),
    ("admin", "PATCH", USER, {"json": {"role": "member"}, "ids": {"{user_id}": "admin"}}, 409),
    ("member", "PATCH", USER, {"json": {"role": "admin"}}, 403),
    ("admin", "PATCH", USER, {"json": {}, "ids": {"{user_id}": "missing"}}, 404),
    ("admin", "GET", "/api/teams", {}, 200),
    ("member", "GET", "/api/teams", {}, 403),
    ("admin", "POST", "/api/teams", {"json": {"name": "Gemini"}}, 201),
    ("admin", "POST", "/api/teams", {"json": {"name": "Gemini"}}, 409),
    ("admin", "POST", "/api/teams", BAD_JSON, 400),
    ("admin", "POST", "/api/teams", {"json": {}}, 422),
    ("manager", "POST", "/api/teams", {}, 403),
    ("admin", "GET", TEAM, {}, 200),
    ("member", "GET", TEAM, {}, 403),
    ("admin", "PATCH", TEAM, {"json": {"name": "Apollo 11"}}, 200),
    ("admin", "PATCH", TEAM, {"json": {"name": "Gemini"}}, 409),
    ("admin", "PATCH", TEAM, BAD_JSON, 400),
    ("admin", "PATCH", TEAM, {"json": {}}, 422),
    ("manager", "PATCH", TEAM, {}, 403),
    ("admin", "PATCH", TEAM, {"json": {"name": "Nowhere"}, "ids": {"{team_id}": "missing"}}, 404),
    ("admin", "PUT", MEMBERS, {}, 204),
    ("member", "PUT", MEMBERS, {}, 403),
    ("admin", "DELETE", MEMBERS, {}, 204),
    ("member", "DELETE", MEMBERS, {}, 403),
    ("admin", "PUT", MANAGERS, {}, 422),
    ("admin", "PUT", MANAGERS, {"ids": {"{user_id}": "manager"}}, 204),
    ("manager", "PUT", MANAGERS, {}, 403),
    ("admin", "DELETE", MANAGERS, {"ids": {"{user_id}": "manager"}}, 204),
    ("manager", "DELETE", MANAGERS, {}, 403),
    ("admin", "DELETE", TEAM, {"ids": {"{team_id}": "doomed"}}, 204),
    ("manager", "DELETE", TEAM, {}, 403),
    ("member", "GET", TOKENS, {}, 200),
    ("personal", "GET", TOKENS, {}, 403),
    ("member", "POST", TOKENS, NEW_TOKEN, 201),
    ("member", "POST", TOKENS, BAD_JSON, 400),
    ("member", "POST", TOKENS, {"json": {}}, 422),
    ("personal", "POST", TOKENS, NEW_TOKEN, 403),
    ("personal", "DELETE", TOKEN, {}, 403),
    ("member", "DELETE", TOKEN, {}, 204),
]
MISSING_ID = "6b0f7c1e-49d4-4e38-9b4e-0f6f6f3c2a11"


def reach(client, headers, row, ids) -> tuple[str, str, int] | None:
    """Send one row (method, path template, request, hoped status); a path parameter takes
    its value from IDS, by the names in the request's "ids", else the missing id."""
    method, template, kwargs, hoped = row
    kwargs = dict(kwargs)
    named = {key: ids[name] for key, name in kwargs.pop("ids", {}).items()}
    values = {**ids, **named}
    path = re.sub(r"\{\w+\}", lambda found: values.get(found.group(0), MISSING_ID), template)
    response = client.open(path, method=method, headers=headers, **kwargs)
    return (method, template, hoped) if response.status_code == hoped else None


@pytest.fixture
def people_statuses(make_app, database_url, client, make_user, make_team, headers_for):
    """Reach every status of the users, teams and tokens routes, and each protected route's 429."""

    def statuses(spec: dict) -> set:
        people = {role: make_user(role=role) for role in ("admin", "manager", "member")}
        callers = {name: headers_for(person) for name, person in people.items()}
        made = client.post(TOKENS, headers=callers["member"], **NEW_TOKEN).json
        callers["personal"] = {"Authorization": f"Bearer {made['token']}"}
        ids = {name: person["id"] for name, person in people.items()}
        ids |= {
            "doomed": make_team("Doomed")["id"],
            "{token_id}": made["id"],
            "missing": MISSING_ID,
        }
        ids |= {
            "{user_id}": ids["member"],
            "{team_id}": make_team(members=(people["member"],))["id"],
        }
        seen = {reach(client, callers[who], row, ids) for who, *row in PEOPLE_ROWS}
        routes = {(method, path) for _, method, path, *_ in PEOPLE_ROWS}
        seen |= {reach(client, {}, (m, p, {}, 401), ids) for m, p in routes}
        unknown = {"missing": MISSING_ID}
        for method, path in routes:
            who = "member" if path == TOKEN else "admin"
            seen.add(reach(client, callers[who], (method, path, {}, 404), unknown))
        small = make_app(database_url, MAX_CONTENT_LENGTH=1024).test_client()
        big = {"data": "x" * 2048, "content_type": "application/json"}
        seen |= {reach(small, callers["admin"], (m, p, big, 413), ids) for m, p in routes}
        dead = make_app(f"postgresql://postgres@127.0.0.1:{closed_port()}/none").test_client()
        seen |= {reach(dead, callers["admin"], (m, p, {}, 503), ids) for m, p in routes}
        return seen | over_the_limit(make_app, database_url, spec, callers["admin"])

    return statuses


def over_the_limit(make_app, database_url, spec, headers) -> set:
    """Spend a principal's API limit, then reach the 429 of every protected operation."""
    limited = make_app(database_url, RATE_LIMIT_API="1 per minute").test_client()
    limited.get("/auth/me", headers=headers)
    protected = [
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method, op in item.items()
        if "security" in op
    ]
    return {reach(limited, headers, (m, p, {}, 429), {}) for m, p in protected}
