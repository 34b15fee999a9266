"""The strict reader of JSON request bodies: UTF-8, no repeated keys, no NaN, bounded depth."""

from __future__ import annotations

import json
from typing import Any
from typing import TypeVar

from flask import request
from pydantic import BaseModel

from service.errors import APIError

MAX_JSON_DEPTH = 16

Model = TypeVar("Model", bound=BaseModel)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys):
        repeated = next(key for key in keys if keys.count(key) > 1)
        raise APIError(400, f"The request body repeats the key {repeated[:50]!r} in one object.")
    return dict(pairs)


def _reject_constant(name: str) -> None:
    raise APIError(400, f"The request body is not valid JSON: {name} is not a number.")


def _depth(value: Any) -> int:
    """Return how deeply VALUE nests arrays and objects, without recursing."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, level + 1) for child in children)
    return deepest


def _too_deep() -> APIError:
    return APIError(400, f"The request body nests deeper than {MAX_JSON_DEPTH} levels.")


def load_json(raw: bytes) -> Any:
    """Decode a JSON body strictly: UTF-8, no repeated keys, no NaN, bounded nesting."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise APIError(400, "The request body is not valid UTF-8.") from None
    try:
        data = json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_reject_constant)
    except RecursionError:
        raise _too_deep() from None
    except ValueError:
        raise APIError(400, "The request body is not valid JSON.") from None
    if _depth(data) > MAX_JSON_DEPTH:
        raise _too_deep()
    return data


def parse_json_body(model: type[Model], context: dict[str, Any] | None = None) -> Model:
    """Validate the request's JSON body as MODEL (with CONTEXT), after load_json's checks."""
    raw = request.get_data(cache=True)
    load_json(raw)
    return model.model_validate_json(raw, context=context)
