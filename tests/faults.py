"""Real faults for tests: a TCP proxy that refuses, cuts and stalls PostgreSQL connections.

`FaultProxy` sits on 127.0.0.1 between the app and PostgreSQL; tests point DATABASE_URL
at it and break the link on purpose, while the app runs under a real gunicorn (the `serve`
fixture, tests/servers.py).
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import threading
import time
from urllib.parse import urlsplit
from urllib.parse import urlunsplit

import psycopg2
import requests

from tests.conftest import PASSWORD
from tests.servers import Server
from tests.servers import free_port

CHUNK = 65536
TICK = 0.05


def pg_rows(database_url: str, sql: str) -> list[tuple]:
    """Run one query on a connection of its own (outside the app's pool) and return its rows."""
    conn = psycopg2.connect(database_url)
    try:
        with conn.cursor() as cursor:
            cursor.execute(sql)
            return cursor.fetchall()
    finally:
        conn.close()


class _Link:
    """One proxied connection: a client socket, its upstream socket and two pumps."""

    def __init__(self, proxy: FaultProxy, client: socket.socket, upstream: socket.socket):
        self.proxy = proxy
        self.sockets = (client, upstream)
        self.closed = threading.Event()
        for source, target, upward in ((client, upstream, True), (upstream, client, False)):
            threading.Thread(target=self._pump, args=(source, target, upward), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket, upward: bool) -> None:
        try:
            while not self.closed.is_set():
                if self.proxy.stalled.is_set():
                    time.sleep(TICK)
                    continue
                readable, _, _ = select.select([source], [], [], TICK)
                if not readable:
                    continue
                data = source.recv(CHUNK)
                if not data:
                    break
                if upward and self.proxy.trips(data, self, after_forwarding=False):
                    return
                target.sendall(data)
                if upward and self.proxy.trips(data, self, after_forwarding=True):
                    return
        except OSError:
            pass
        self.close()

    def close(self) -> None:
        """Close both ends (a FIN, so the server still reads what it was sent)."""
        if self.closed.is_set():
            return
        self.closed.set()
        for sock in self.sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        self.proxy.forget(self)


class FaultProxy:
    """A TCP proxy in front of UPSTREAM that can refuse, cut and stall on command."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.port = free_port()
        self.stalled = threading.Event()
        self._links: set[_Link] = set()
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._trigger: tuple[bytes, bool] | None = None
        self.tripped = threading.Event()

    def url_for(self, database_url: str) -> str:
        """Return DATABASE_URL rewritten to reach its server through this proxy."""
        parts = urlsplit(database_url)
        netloc = parts.netloc.rsplit("@", 1)
        host = f"127.0.0.1:{self.port}"
        return urlunsplit(parts._replace(netloc=f"{netloc[0]}@{host}" if len(netloc) > 1 else host))

    def start(self) -> FaultProxy:
        """Listen and forward."""
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._links.add(_Link(self, client, upstream))

    def forget(self, link: _Link) -> None:
        with self._lock:
            self._links.discard(link)

    @property
    def live_links(self) -> int:
        """Count the connections currently proxied."""
        with self._lock:
            return len(self._links)

    def cut(self) -> None:
        """Close every live connection, as a database restart does."""
        with self._lock:
            links = list(self._links)
        for link in links:
            link.close()

    def refuse(self) -> None:
        """Stop listening (connections are refused) and cut the live ones: the server is down."""
        if self._listener is not None:
            # shutdown() wakes the thread blocked in accept(); close() alone would not.
            self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        self.cut()

    def stall(self) -> None:
        """Accept and hold connections but forward nothing: the server hangs.

        Returns once every pump has seen it: one already waiting in select() could still
        forward what arrives within its current tick.
        """
        self.stalled.set()
        time.sleep(2 * TICK)

    def restore(self) -> None:
        """Forward normally again (listening again if refused)."""
        self.stalled.clear()
        if self._listener is None:
            self.start()

    def cut_on(self, marker: bytes, *, after_forwarding: bool) -> None:
        """Cut the connection whose next client message contains MARKER, before or after it."""
        self.tripped.clear()
        self._trigger = (marker, after_forwarding)

    def trips(self, data: bytes, link: _Link, *, after_forwarding: bool) -> bool:
        """Cut LINK if DATA, before or after it is forwarded, is what cut_on waits for."""
        trigger = self._trigger
        if trigger is None or trigger[1] != after_forwarding or trigger[0] not in data:
            return False
        self._trigger = None
        self.tripped.set()
        link.close()
        return True

    def stop(self) -> None:
        """Stop listening and drop every connection."""
        self.refuse()
        self.stalled.clear()


def sign_up(server: Server) -> dict[str, str]:
    """Register a new user through SERVER and return its Authorization header."""
    body = {"email": f"user-{os.urandom(4).hex()}@example.com", "password": PASSWORD}
    registered = requests.post(server.url("/auth/register"), json=body, timeout=10)
    assert registered.status_code == 201, registered.text
    login = requests.post(server.url("/auth/login"), json=body, timeout=10)
    assert login.status_code == 200, login.text
    return {"Authorization": f"Bearer {login.json()['access_token']}"}
