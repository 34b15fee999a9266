"""Per-request bookkeeping: the request id, one access-log line and the request metrics."""

from __future__ import annotations

import logging
import re
import time
import uuid

from flask import Flask
from flask import Response
from flask import current_app
from flask import g
from flask import request

from service import metrics
from service.db import pool_in_use

access_log = logging.getLogger("service.access")

REQUEST_ID_HEADER = "X-Request-ID"
# Accept a caller's id only when it cannot forge log structure or grow without bound.
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{8,128}")


def request_id_of(header: str | None) -> str:
    """Return the caller's request id when it is sane, else a new one."""
    if header and SANE_REQUEST_ID.fullmatch(header):
        return header
    return uuid.uuid4().hex


def _start() -> None:
    g.request_id = request_id_of(request.headers.get(REQUEST_ID_HEADER))
    g.started = time.perf_counter()


def _finish(response: Response) -> Response:
    response.headers[REQUEST_ID_HEADER] = g.request_id
    seconds = time.perf_counter() - g.started
    route = request.url_rule.rule if request.url_rule else None
    access_log.info(
        "%s %s %s",
        request.method,
        request.path,
        response.status_code,
        extra={
            "method": request.method,
            "route": route,
            "path": request.path,
            "status": response.status_code,
            "duration_ms": round(seconds * 1000, 2),
        },
    )
    if current_app.config["METRICS_ENABLED"]:
        metrics.record_request(route, request.method, response.status_code, seconds)
    return response


def _pool_gauge(_exc: BaseException | None) -> None:
    # App-level teardown runs after the blueprints' have returned their connections.
    if current_app.config["METRICS_ENABLED"]:
        metrics.record_pool_in_use(pool_in_use())


def init_observability(app: Flask) -> None:
    """Give every request an id, an access-log line and (when enabled) metrics."""
    app.before_request(_start)
    app.after_request(_finish)
    app.teardown_request(_pool_gauge)
