"""Security headers on every response, CORS for the configured origins only, and the
client address behind trusted proxies."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterable
from typing import Any

from flask import Flask
from flask_cors import CORS
from werkzeug.middleware.proxy_fix import ProxyFix

# Nothing here is a page: forbid every fetch, frame and plugin. A view that serves HTML
# sets its own policy, which is kept.
CONTENT_SECURITY_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"
EXPOSED_HEADERS = ["Location", "Retry-After", "WWW-Authenticate"]
SECURITY_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
)
SECURITY_NAMES = frozenset(name.lower() for name, _ in SECURITY_HEADERS)
NO_STORE = (("Cache-Control", "no-store"), ("Pragma", "no-cache"))
NO_STORE_NAMES = frozenset(name.lower() for name, _ in NO_STORE)


class SecurityHeaders:
    """WSGI middleware: the security headers on every answer (a view's own are kept), and
    no-store on answers to credentials.

    It edits the header list gunicorn is handed, which costs a fraction of setting each
    header on Flask's response object (a quarter of /livez's time when it did that).
    """

    def __init__(self, app: Callable) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        private = "HTTP_AUTHORIZATION" in environ or environ.get("PATH_INFO", "").startswith(
            "/auth/"
        )

        def start(status: str, headers: list[tuple[str, str]], exc_info=None):
            present = {name.lower() for name, _ in headers}
            if present.isdisjoint(SECURITY_NAMES):
                headers.extend(SECURITY_HEADERS)
            else:  # the view set one itself (a page its own CSP, say): the view's wins
                headers.extend(pair for pair in SECURITY_HEADERS if pair[0].lower() not in present)
            if private:
                headers[:] = [pair for pair in headers if pair[0].lower() not in NO_STORE_NAMES]
                headers.extend(NO_STORE)
            return start_response(status, headers, exc_info)

        return self.app(environ, start)


def init_hardening(app: Flask) -> None:
    """Add the security headers, CORS for CORS_ORIGINS, and trust X-Forwarded-For as set."""
    app.wsgi_app = SecurityHeaders(app.wsgi_app)
    proxies = app.config["TRUSTED_PROXY_COUNT"]
    if proxies:
        # Only the last PROXIES hops are believed, so a client cannot spoof its address.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)
    if app.config["CORS_ORIGINS"]:
        CORS(
            app,
            origins=app.config["CORS_ORIGINS"],
            allow_headers=["Authorization", "Content-Type"],
            expose_headers=EXPOSED_HEADERS,
            supports_credentials=False,
            max_age=600,
        )
