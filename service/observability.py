"""Per-request bookkeeping: the request id, one access-log line and the request metrics."""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable
from collections.abc import Iterable
from typing import Any

from flask import Flask
from flask import Response
from flask import request

from service import metrics
from service.logs import REQUEST_ID_KEY

access_log = logging.getLogger("service.access")

REQUEST_ID_HEADER = "X-Request-ID"
STARTED_KEY = "service.started"
# Accept a caller's id only when it cannot forge log structure or grow without bound.
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{8,128}")
# Kubernetes probes these every few seconds per pod: their lines would bury the rest, so
# they are logged at DEBUG (metrics still count them).
PROBE_ROUTES = frozenset({"/livez", "/readyz", "/health"})


def request_id_of(header: str | None) -> str:
    """Return the caller's request id when it is sane, else a new one."""
    if header and SANE_REQUEST_ID.fullmatch(header):
        return header
    return os.urandom(16).hex()  # 128 random bits like uuid4().hex: 0.7 us, not 5 us


class RequestIds:
    """WSGI middleware: stamp each request with its id and start time, echo the id back.

    Working on the WSGI environ and header list, it costs a fraction of Flask hooks and
    response-header objects.
    """

    def __init__(self, app: Callable) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        request_id = request_id_of(environ.get("HTTP_X_REQUEST_ID"))
        environ[REQUEST_ID_KEY] = request_id
        environ[STARTED_KEY] = time.perf_counter()

        def start(status: str, headers: list[tuple[str, str]], exc_info=None):
            headers.append((REQUEST_ID_HEADER, request_id))
            return start_response(status, headers, exc_info)

        return self.app(environ, start)


def _access_log_and_metrics(record_metrics: bool) -> Callable[[Response], Response]:
    def finish(response: Response) -> Response:
        current = request._get_current_object()  # one context lookup, not one per attribute
        seconds = time.perf_counter() - current.environ[STARTED_KEY]
        rule = current.url_rule
        route = rule.rule if rule is not None else None
        level = logging.DEBUG if route in PROBE_ROUTES else logging.INFO
        if access_log.isEnabledFor(level):
            _log_access(level, route, response.status_code, seconds)
        if record_metrics:
            metrics.record_request(route, current.method, response.status_code, seconds)
        return response

    return finish


def _log_access(level: int, route: str | None, status: int, seconds: float) -> None:
    access_log.log(
        level,
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


def init_observability(app: Flask) -> None:
    """Give every request an id, an access-log line and (when enabled) metrics."""
    app.wsgi_app = RequestIds(app.wsgi_app)
    app.after_request(_access_log_and_metrics(app.config["METRICS_ENABLED"]))
