"""gunicorn refuses oversized request lines and headers before the application sees them."""

from __future__ import annotations

import socket

import pytest

from service.migrate import migrate
from service.migrate import open_database
from tests.servers import launching
from tests.servers import serve_under_gunicorn


def status_line(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request)
        return sock.recv(200).split(b"\r\n")[0]


@pytest.fixture(scope="module")
def gunicorn_port(tmp_path_factory):
    """Run the app under gunicorn with the project's config; yield its port."""
    directory = tmp_path_factory.mktemp("gunicorn")
    url = f"sqlite:///{directory / 'app.db'}"
    migrate(open_database(url))
    with launching(directory) as launch:
        yield serve_under_gunicorn(launch, url, workers=1).port


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET /livez HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n", b"431"),
        (b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: t\r\n\r\n", b"414"),
        (
            b"GET /livez HTTP/1.1\r\nHost: t\r\n"
            + b"".join(b"X-%d: y\r\n" % i for i in range(60))
            + b"\r\n",
            b"431",
        ),
        (b"GET /livez HTTP/1.1\r\nHost: t\r\n\r\n", b"200"),
    ],
)
def test_request_line_and_header_limits(gunicorn_port, request_bytes, status):
    assert status_line(gunicorn_port, request_bytes).split(b" ")[1] == status
