"""The running timer (`/api/timer`): entries:read to read it, entries:write to change it.

The caller's own; another person's with `user_id=` (admins, the managers of their teams,
services with entries:any-user). The timer is an entry: `/api/entries/<id>` reads,
changes and deletes it too.
"""

from __future__ import annotations

from flask import Blueprint
from flask import Response
from flask import jsonify
from flask import request
from flask import url_for
from pydantic import BaseModel

from service import entries
from service import timers
from service.db import use_database
from service.models import TimeEntry
from service.openapi import documented
from service.permissions import ENTRIES_READ
from service.permissions import ENTRIES_WRITE
from service.schemas.json_body import Model
from service.schemas.json_body import parse_json_body
from service.schemas.requests import TimerStart
from service.schemas.requests import TimerStop
from service.schemas.responses import Entry
from service.schemas.responses import StartedTimer
from service.schemas.responses import dump
from service.security import current_principal
from service.security import current_user_id
from service.security import require_auth

bp = Blueprint("timer", __name__, url_prefix="/api/timer")
require_auth(bp, read=ENTRIES_READ, write=ENTRIES_WRITE)
use_database(bp)


def optional_body(model: type[Model]) -> Model:
    """Validate the JSON body as MODEL; no body at all means every default."""
    if not request.get_data(cache=True):
        return model()
    return parse_json_body(model)


def answer(model: type[BaseModel], value: object, entry: TimeEntry, status: int = 200) -> Response:
    """Answer VALUE as MODEL, with ENTRY's version as a strong ETag (for If-Match)."""
    response = jsonify(dump(model, value))
    response.status_code = status
    response.set_etag(entries.entry_version(entry))
    return response


@bp.get("")
@documented({200: Entry}, errors=(404,))
def get_timer():
    """Return the running timer (404 when none runs)."""
    entry = timers.running_timer(current_user_id())
    return answer(Entry, entry, entry)


@bp.post("")
@documented({201: StartedTimer}, body=TimerStart, body_required=False, errors=(409,))
def start_timer():
    """Start a timer (at `start`, default now); a running one is stopped at that start and
    shown as `stopped`. A start not after the running one's is a 409."""
    body = optional_body(TimerStart)
    started = timers.start_timer(current_user_id(), body, current_principal().subject)
    fields = {name: getattr(started.entry, name) for name in Entry.model_fields}
    response = answer(StartedTimer, {**fields, "stopped": started.stopped}, started.entry, 201)
    response.headers["Location"] = url_for("entries.get_entry", entry_id=started.entry.id)
    return response


@bp.post("/stop")
@documented({200: Entry}, body=TimerStop, body_required=False, errors=(404,))
def stop_timer():
    """Stop the running timer at `stop` (default now); one that ran longer than an entry may
    last needs `stop` (422)."""
    body = optional_body(TimerStop)
    entry = timers.stop_timer(current_user_id(), body.stop, current_principal().subject)
    return answer(Entry, entry, entry)


@bp.delete("")
@documented({204: None}, errors=(404,))
def discard_timer():
    """Discard the running timer (404 when none runs)."""
    timers.discard_timer(current_user_id())
    return "", 204
