"""One error shape for every failure: RFC 9457 problem details (application/problem+json)."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

import peewee
from flask import Flask
from flask import Response
from flask import json
from playhouse.pool import MaxConnectionsExceeded
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

PROBLEM_MIMETYPE = "application/problem+json"


class APIError(Exception):
    """An error the client can act on; raised anywhere, rendered once in problem_response."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        title: str | None = None,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.title = title
        self.errors = errors
        self.headers = headers or {}


class OAuthError(Exception):
    """A token-endpoint error, answered in RFC 6749 section 5.2's own JSON shape."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


def problem_response(
    status: int,
    detail: str,
    *,
    title: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """Render one problem+json response."""
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    if errors is not None:
        body["errors"] = errors
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM_MIMETYPE)
    response.headers.update(headers or {})
    return response


def validation_errors(exc: ValidationError) -> list[dict[str, Any]]:
    """Turn pydantic's errors into field-level problems without echoing the input back."""
    return [
        {
            "field": ".".join(str(part) for part in error["loc"]) or None,
            # A model's own rule (ValueError) reads "Value error, <why>": keep the why.
            "message": error["msg"].removeprefix("Value error, "),
        }
        for error in exc.errors(include_url=False, include_input=False)
    ]


def _api_error(exc: APIError) -> Response:
    return problem_response(
        exc.status, exc.detail, title=exc.title, errors=exc.errors, headers=exc.headers
    )


def _oauth_error(exc: OAuthError) -> Response:
    body = {"error": exc.error, "error_description": exc.description}
    response = Response(json.dumps(body), status=exc.status, mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"
    if exc.status == 401:
        response.headers["WWW-Authenticate"] = 'Basic realm="time-tracker"'
    return response


def _http_error(exc: HTTPException) -> Response:
    headers = {k: v for k, v in exc.get_headers() if k.lower() != "content-type"}
    return problem_response(exc.code or 500, exc.description or "", headers=headers)


def _validation_error(exc: ValidationError) -> Response:
    errors = validation_errors(exc)
    if any(error["message"].startswith("Invalid JSON") for error in errors):
        return problem_response(400, "The request body is not valid JSON.")
    return problem_response(422, "The request is invalid.", errors=errors)


def _not_found(_exc: peewee.DoesNotExist) -> Response:
    return problem_response(404, "The requested resource was not found.")


def _conflict(_exc: peewee.IntegrityError) -> Response:
    return problem_response(409, "The request conflicts with an existing resource.")


def _bad_value(_exc: peewee.DataError) -> Response:
    return problem_response(422, "A value is out of the range the database accepts.")


def _database_unavailable(exc: Exception) -> Response:
    log.warning("database unavailable: %s", exc.__class__.__name__)
    return problem_response(
        503, "The database is unavailable; try again shortly.", headers={"Retry-After": "5"}
    )


def _unexpected(exc: Exception) -> Response:
    log.exception("unhandled error", exc_info=exc)
    return problem_response(500, "An unexpected error occurred.")


def register_error_handlers(app: Flask) -> None:
    """Render every error, including Flask's own 404/405/413/400, as problem+json."""
    app.register_error_handler(APIError, _api_error)
    app.register_error_handler(OAuthError, _oauth_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(ValidationError, _validation_error)
    app.register_error_handler(peewee.DoesNotExist, _not_found)
    app.register_error_handler(peewee.IntegrityError, _conflict)
    app.register_error_handler(peewee.DataError, _bad_value)
    app.register_error_handler(peewee.OperationalError, _database_unavailable)
    app.register_error_handler(peewee.InterfaceError, _database_unavailable)
    app.register_error_handler(MaxConnectionsExceeded, _database_unavailable)
    app.register_error_handler(Exception, _unexpected)
