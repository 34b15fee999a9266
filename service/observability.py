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

access_log = logging.getLogger("service.access")

REQUEST_ID_HEADER = "X-Request-ID"
# Accept a caller's id only when it cannot forge log structure or grow without bound.
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{8,128}")
# Kubernetes probes these every few seconds per pod: their lines would bury the rest, so
# they are logged at DEBUG (metrics still count them).
PROBE_ROUTES = frozenset({"/livez", "/readyz", "/health"})


def request_id_of(header: str | None) -> str:
    """Return the caller's request id when it is sane, else a new one."""
    if header and SANE_REQUEST_ID.fullmatch(header):
        return header
    return uuid.uuid4().hex


def start_request() -> None:
    """Stamp the request with its id and start time."""
    g.request_id = request_id_of(request.headers.get(REQUEST_ID_HEADER))
    g.started = time.perf_counter()


def finish_request(response: Response) -> Response:
    """Echo the request id, write the access line and count the request."""
    response.headers[REQUEST_ID_HEADER] = g.request_id
    seconds = time.perf_counter() - g.started
    route = request.url_rule.rule if request.url_rule is not None else None
    status = response.status_code
    access_log.log(
        logging.DEBUG if route in PROBE_ROUTES else logging.INFO,
        "%s %s %s",
        request.method,
        request.path,
        status,
        extra={
            "method": request.method,
            "route": route,
            "path": request.path,
            "status": status,
            "duration_ms": round(seconds * 1000, 2),
        },
    )
    if current_app.config["METRICS_ENABLED"]:
        metrics.record_request(route, request.method, status, seconds)
    return response


def init_observability(app: Flask) -> None:
    """Give every request an id, an access-log line and (when enabled) metrics.

    Call it before anything else adds an app-wide before_request hook (create_app does), so
    a request that hook refuses has its id too.
    """
    app.before_request(start_request)
    app.after_request(finish_request)
