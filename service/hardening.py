"""Security headers on every response, CORS for the configured origins only, and the
client address behind trusted proxies."""

from __future__ import annotations

from flask import Flask
from flask import Response
from flask import request
from flask_cors import CORS
from werkzeug.middleware.proxy_fix import ProxyFix

# Nothing here is a page: forbid every fetch, frame and plugin. A view that serves HTML
# sets its own policy, which is kept.
CONTENT_SECURITY_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"
EXPOSED_HEADERS = ["Location", "Retry-After", "WWW-Authenticate"]
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
}


def add_security_headers(response: Response) -> Response:
    """Add the security headers a view did not set, and no-store to answers to credentials."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if "Authorization" in request.headers or request.path.startswith("/auth/"):
        response.headers["Cache-Control"] = "no-store"
        response.headers["Pragma"] = "no-cache"
    return response


def init_hardening(app: Flask) -> None:
    """Add the security headers, CORS for CORS_ORIGINS, and trust X-Forwarded-For as set."""
    app.after_request(add_security_headers)
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
