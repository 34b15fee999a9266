"""One psycopg2 connection pool per worker, opened on first use (after gunicorn's fork)."""

import os
import threading
from contextlib import contextmanager

from psycopg2.pool import ThreadedConnectionPool

_lock = threading.Lock()
_pool: ThreadedConnectionPool | None = None


def pool() -> ThreadedConnectionPool:
    """Return this worker's pool, every connection opened up front."""
    global _pool
    with _lock:
        if _pool is None:
            size = int(os.environ.get("THREADS", "4")) + 1
            _pool = ThreadedConnectionPool(size, size, os.environ["BENCH_DATABASE_URL"])
    return _pool


@contextmanager
def connection():
    """Check a connection out of the pool and back in, in autocommit mode."""
    conn = pool().getconn()
    conn.autocommit = True
    try:
        yield conn
    finally:
        pool().putconn(conn)
