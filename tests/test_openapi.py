"""The contract: every route is in /openapi.json, and the API honours it under fuzzing."""

from __future__ import annotations

import hypothesis
import schemathesis
from hypothesis import HealthCheck
from schemathesis.checks import positive_data_acceptance

from service import create_app
from service.openapi import IGNORED_METHODS
from service.openapi import operation_of
from service.security import is_protected
from tests.conftest import settings


def served_operations(app) -> set[tuple[str, str]]:
    """Every (path in OpenAPI form, method) the app answers, but Flask's static files."""
    operations = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = rule.rule.replace("<uuid:", "{").replace("<", "{").replace(">", "}")
        operations.update((path, m.lower()) for m in rule.methods - IGNORED_METHODS)
    return operations


def test_every_route_declares_its_contract(app):
    undocumented = sorted(
        rule.endpoint
        for rule in app.url_map.iter_rules()
        if rule.endpoint != "static" and operation_of(app.view_functions[rule.endpoint]) is None
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
        if int(status) >= 400 and op["operationId"] not in {"health_health", "health_readyz"}
        for media in answer["content"]
    }

    assert error_media == {"application/problem+json"}


def test_protected_operations_document_401_and_bodies_document_422(client):
    paths = client.get("/openapi.json").json["paths"]

    for item in paths.values():
        for op in item.values():
            if "security" in op:
                assert "401" in op["responses"], op["operationId"]
            if "requestBody" in op:
                assert {"400", "422"} <= set(op["responses"]), op["operationId"]


def test_the_contract_names_its_models_as_components(client):
    spec = client.get("/openapi.json").json

    schemas = spec["components"]["schemas"]

    assert {"Entry", "EntryIn", "Problem", "ReportSummary", "TokenPair"} <= set(schemas)
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


# Operations that rightly refuse some schema-valid requests, and the rule that refuses them.
RULES_THE_SCHEMA_CANNOT_STATE = {
    "GET /api/entries": "a cursor must be one the service issued",
    "PUT /api/entries/bulk": "a batch names each (source, external_id) once",
    "POST /auth/register": "a password fits bcrypt's 72 bytes of UTF-8; emails are deliverable",
    "POST /auth/login": "emails are deliverable addresses",
}

# Loaded once from an app's own /openapi.json; each test calls its own app (and database).
contract = schemathesis.openapi.from_wsgi(
    "/openapi.json", create_app(settings("sqlite:///unused-by-the-contract.db"))
)


@contract.parametrize()
@hypothesis.settings(
    max_examples=25,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_the_api_honours_its_contract_under_fuzzing(case, app, auth_headers):
    unstated = case.operation.label in RULES_THE_SCHEMA_CANNOT_STATE
    excluded = [positive_data_acceptance] if unstated else []

    # The fuzzer sends a random bearer token where the contract asks for one, and none
    # when it tests that the token is required: swap the random one for a valid one.
    authorized = "Authorization" in (case.headers or {})
    if authorized:
        case.headers["Authorization"] = auth_headers["Authorization"]

    response = case.call_and_validate(app=app, excluded_checks=excluded)

    assert not (authorized and response.status_code == 401), "a valid token was refused"
