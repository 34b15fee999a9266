"""JSON log lines on stdout, each carrying the request id and user of its request.

gunicorn.conf.py formats gunicorn's own lines the same way (its logconfig_dict).
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from flask import g
from flask import has_request_context
from pythonjsonlogger.json import JsonFormatter

JSON_FIELDS = "{levelname}{name}{message}"
RENAMED = {"levelname": "level", "name": "logger"}
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


class RequestContext(logging.Filter):
    """Stamp each record with its request's id and user, when it has them."""

    def filter(self, record: logging.LogRecord) -> bool:
        if has_request_context():
            record.request_id = g.get("request_id")
            principal = g.get("principal")
            if principal is not None and principal.is_service:
                record.client_id = principal.subject
            user_id = g.get("acting_user_id")
            if user_id is None and principal is not None and not principal.is_service:
                user_id = principal.subject
            if user_id is not None:
                record.user_id = str(user_id)
        return True


class StdoutHandler(logging.StreamHandler):
    """Write to whatever sys.stdout is at the time (tests capture it per test)."""

    def __init__(self) -> None:
        super().__init__(sys.stdout)

    @property
    def stream(self) -> Any:
        return sys.stdout

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def json_formatter() -> logging.Formatter:
    """Return the formatter of every JSON line: time, level, logger, message and extras."""
    return JsonFormatter(JSON_FIELDS, style="{", rename_fields=RENAMED, timestamp="time")


def make_formatter(log_format: str) -> logging.Formatter:
    """Return the JSON formatter, or a plain one for LOG_FORMAT=text."""
    if log_format == "text":
        return logging.Formatter(TEXT_FORMAT, defaults={"request_id": "-"})
    return json_formatter()


def configure(level: str, log_format: str) -> None:
    """Send every log record to stdout, one line each, replacing our earlier handler."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, StdoutHandler)]:
        root.removeHandler(handler)
    handler = StdoutHandler()
    handler.setFormatter(make_formatter(log_format))
    handler.addFilter(RequestContext())
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("service").setLevel(level)
