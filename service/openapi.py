"""The OpenAPI 3.1 contract, generated from the routes and their pydantic models.

Each view declares what it takes and answers with `@documented(...)`; `build_spec(app)`
walks `app.url_map`, so a route cannot be served without appearing in the contract.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from flask import Blueprint
from flask import Flask
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from service.db import uses_database
from service.errors import PROBLEM_MIMETYPE
from service.schemas.responses import Problem
from service.security import is_protected

REF_TEMPLATE = "#/components/schemas/{model}"
IGNORED_METHODS = {"HEAD", "OPTIONS"}
CONVERTER_SCHEMAS = {
    "uuid": {"type": "string", "format": "uuid"},
    "int": {"type": "integer"},
    "default": {"type": "string"},
}

# A response is a model (JSON), None (no body), or {media type: model or raw schema}.
Body = type[BaseModel] | Mapping[str, type[BaseModel] | dict[str, Any]] | None


@dataclass(frozen=True)
class Operation:
    """What one view takes and answers, as declared by @documented."""

    responses: Mapping[int, Body]
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    errors: tuple[int, ...] = ()
    body_media: str = "application/json"
    body_required: bool = True


def documented(
    responses: Mapping[int, Body],
    *,
    query: type[BaseModel] | None = None,
    body: type[BaseModel] | None = None,
    errors: tuple[int, ...] = (),
    body_media: str = "application/json",
    body_required: bool = True,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare a view's query model, body (JSON) or form (multipart) model, responses and
    extra error statuses.

    401 (protected blueprints), 400/413/422 (a body), 422 (a query) and 404 (a path
    parameter) are added by the generator; ERRORS lists any others the view raises.
    BODY_MEDIA names the body's media type when it is not JSON (a form, a file upload);
    BODY_REQUIRED is false when the view also serves a request without a body.
    """

    def attach(view: Callable[..., Any]) -> Callable[..., Any]:
        operation = Operation(responses, query, body, errors, body_media, body_required)
        view.openapi = operation  # type: ignore[attr-defined]
        return view

    return attach


def operation_of(view: Callable[..., Any]) -> Operation | None:
    """Return the view's declaration, or None when it has none."""
    return getattr(view, "openapi", None)


class _Components:
    """Collects the models the operations use, then renders them as components at once."""

    def __init__(self) -> None:
        self.models: dict[tuple[type[BaseModel], str], dict[str, Any]] = {}

    def ref(self, model: type[BaseModel], mode: str) -> dict[str, Any]:
        """Return a placeholder that becomes the model's $ref once rendered."""
        return self.models.setdefault((model, mode), {})

    def render(self) -> dict[str, Any]:
        """Fill every placeholder with its $ref and return the components' schemas."""
        keys = list(self.models)
        refs, schemas = models_json_schema(keys, ref_template=REF_TEMPLATE)
        for key in keys:
            self.models[key].update(refs[key])
        return schemas.get("$defs", {})


def _path_and_parameters(rule: str) -> tuple[str, list[dict[str, Any]]]:
    parameters = []
    for converter, name in re.findall(r"<(?:([a-z]+):)?([A-Za-z_]\w*)>", rule):
        schema = CONVERTER_SCHEMAS.get(converter or "default", CONVERTER_SCHEMAS["default"])
        parameters.append({"name": name, "in": "path", "required": True, "schema": schema})
    return re.sub(r"<(?:[a-z]+:)?([A-Za-z_]\w*)>", r"{\1}", rule), parameters


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A query parameter is absent rather than null: drop `null` from optional ones."""
    options = [s for s in schema.get("anyOf", []) if s.get("type") != "null"]
    if len(options) != 1:
        return schema
    rest = {k: v for k, v in schema.items() if k != "anyOf"}
    return {**options[0], **rest}


def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(by_alias=True, mode="validation")
    required = set(schema.get("required", []))
    parameters = []
    for name, prop in schema["properties"].items():
        prop = _without_null({k: v for k, v in prop.items() if k != "title"})
        if prop.get("default", 0) is None:
            del prop["default"]
        description = prop.pop("description", None)
        parameter = {"name": name, "in": "query", "required": name in required, "schema": prop}
        if description:
            parameter["description"] = description
        parameters.append(parameter)
    return parameters


def _content(body: Body, components: _Components) -> dict[str, Any] | None:
    if body is None:
        return None
    if isinstance(body, type):
        body = {"application/json": body}
    return {
        media: {"schema": components.ref(schema, "serialization")}
        if isinstance(schema, type)
        else {"schema": schema}
        for media, schema in body.items()
    }


def _error_statuses(op: Operation, blueprint: Blueprint | None, path_parameters: bool) -> set[int]:
    statuses = set(op.errors)
    if blueprint is not None and is_protected(blueprint):
        statuses.update({401, 403, 429})  # 429: the per-principal API limit
    if blueprint is not None and uses_database(blueprint):
        statuses.add(503)
    if op.body is not None:
        statuses.update({400, 413, 422} if op.body_media == "application/json" else {413})
    if op.query is not None:
        statuses.add(422)
        if "user_id" in op.query.model_fields:
            statuses.add(404)  # a service token acting for a user who does not exist
    if path_parameters:
        statuses.add(404)
    return statuses - set(op.responses)


def _operation(
    view: Callable[..., Any],
    endpoint: str,
    blueprint: Blueprint | None,
    path_parameters: list[dict[str, Any]],
    components: _Components,
) -> dict[str, Any]:
    """Describe one documented view: summary, parameters, body, security and responses."""
    op = operation_of(view)
    assert op is not None
    summary, _, description = (view.__doc__ or endpoint).strip().partition("\n")
    spec: dict[str, Any] = {"operationId": endpoint.replace(".", "_"), "summary": summary}
    if description.strip():
        spec["description"] = description.strip()
    spec["tags"] = [endpoint.split(".")[0]]
    parameters = path_parameters + (_query_parameters(op.query) if op.query else [])
    if parameters:
        spec["parameters"] = parameters
    if op.body is not None:
        spec["requestBody"] = {
            "required": op.body_required,
            "content": {op.body_media: {"schema": components.ref(op.body, "validation")}},
        }
    if blueprint is not None and is_protected(blueprint):
        spec["security"] = [{"bearerAuth": []}]
    spec["responses"] = _responses(op, blueprint, bool(path_parameters), components)
    return spec


def _responses(
    op: Operation, blueprint: Blueprint | None, path_parameters: bool, components: _Components
) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for status, body in sorted(op.responses.items()):
        answer: dict[str, Any] = {"description": HTTPStatus(status).phrase}
        content = _content(body, components)
        if content:
            answer["content"] = content
        responses[str(status)] = answer
    problem = {PROBLEM_MIMETYPE: {"schema": components.ref(Problem, "serialization")}}
    for status in sorted(_error_statuses(op, blueprint, path_parameters)):
        responses[str(status)] = {"description": HTTPStatus(status).phrase, "content": problem}
    return responses


def build_spec(app: Flask) -> dict[str, Any]:
    """Describe every documented route of APP as an OpenAPI 3.1 document."""
    components = _Components()
    paths: dict[str, dict[str, Any]] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        view = app.view_functions.get(rule.endpoint)
        if view is None or operation_of(view) is None:
            continue
        blueprint = app.blueprints.get(rule.endpoint.rpartition(".")[0])
        path, path_parameters = _path_and_parameters(rule.rule)
        methods = sorted(rule.methods - IGNORED_METHODS)
        for method in methods:
            spec = _operation(view, rule.endpoint, blueprint, path_parameters, components)
            if len(methods) > 1:
                spec["operationId"] += f"_{method.lower()}"
            paths.setdefault(path, {})[method.lower()] = spec
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Time tracker",
            "version": app.config.get("API_VERSION", "1.0.0"),
            "description": "Self-hosted time tracking: entries, imports, reports.",
        },
        "paths": paths,
        "components": {
            "schemas": components.render(),
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
    }
