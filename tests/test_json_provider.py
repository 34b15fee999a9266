"""The service's JSON answers: what Flask's default provider writes, with pre-rendered JSON
embedded, keys in the models' order."""

from __future__ import annotations

import dataclasses
import decimal
import uuid
from datetime import UTC
from datetime import datetime

import orjson
import pytest
from flask import Flask
from flask.json.provider import DefaultJSONProvider

from service.json_provider import OrjsonProvider


@dataclasses.dataclass
class Point:
    x: int
    y: int


VALUES = {
    "text": 'Grüße, "quoted" \\ and\nnewline',
    "numbers": [0, -3, 1.5, 1e-7, 2**53],
    "uuid": uuid.UUID("12345678-1234-5678-1234-567812345678"),
    "datetime": datetime(2026, 11, 2, 9, 30, tzinfo=UTC),
    "decimal": decimal.Decimal("1.10"),
    "dataclass": Point(1, 2),
    "nested": {"none": None, "bool": True, "list": [{"a": []}]},
    "int_keys": {1: "one"},
    "huge": 10**30,
}


@pytest.fixture
def flask_app() -> Flask:
    return Flask(__name__)


def test_every_value_renders_as_flasks_default_provider_renders_it(flask_app):
    fast = OrjsonProvider(flask_app)
    default = DefaultJSONProvider(flask_app)

    assert fast.loads(fast.dumps(VALUES)) == default.loads(default.dumps(VALUES))


def test_jsonify_answers_compact_json_in_the_order_given_ending_in_a_newline(flask_app):
    flask_app.json = OrjsonProvider(flask_app)

    with flask_app.app_context():
        response = flask_app.json.response(status="alive", checked="now")

    assert response.mimetype == "application/json"
    assert response.get_data() == b'{"status":"alive","checked":"now"}\n'


def test_jsonify_falls_back_for_integers_orjson_refuses(flask_app):
    flask_app.json = OrjsonProvider(flask_app)

    with flask_app.app_context():
        response = flask_app.json.response(duration=10**30)

    assert response.get_data() == b'{"duration":1000000000000000000000000000000}\n'


def test_pre_rendered_json_is_embedded_compact_and_in_debug_mode_indented(flask_app):
    flask_app.json = OrjsonProvider(flask_app)
    item = orjson.Fragment('{"id":"a","duration":2.0}')

    with flask_app.app_context():
        compact = flask_app.json.response(items=[item]).get_data()
        flask_app.debug = True
        indented = flask_app.json.response(items=[item]).get_data()

    assert compact == b'{"items":[{"id":"a","duration":2.0}]}\n'
    assert indented.startswith(b'{\n  "items": [')
    assert orjson.loads(indented) == orjson.loads(compact)


def test_request_bodies_parse_as_flask_parses_them_and_bad_json_is_a_value_error(flask_app):
    provider = OrjsonProvider(flask_app)

    assert provider.loads(b'{"a": [1, 2.5, null, 1000000000000000000000]}') == {
        "a": [1, 2.5, None, 10**21]
    }
    with pytest.raises(ValueError):
        provider.loads(b"{not json")
