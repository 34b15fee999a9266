"""The worker process's lifecycle: the shutdown state /readyz reads, set by the server's
SIGTERM hook, and a sync worker's heartbeat during long requests."""

from __future__ import annotations

import threading
from collections.abc import Callable

# Set once SIGTERM arrives: the worker still serves, but tells the load balancer to stop.
draining = threading.Event()

# Set while a sync worker's app runs its request (gunicorn's pre_request, post_request).
in_request = threading.Event()


def beat_during_requests(
    beat: Callable[[], None], every: float, stop: threading.Event | None = None
) -> threading.Thread:
    """Call BEAT every EVERY seconds while a request runs, from a daemon thread, until STOP.

    gunicorn restarts a worker that has not beaten for WORKER_TIMEOUT seconds, and a sync
    worker beats only between requests: a pull waiting on Toggl, or a big import, would be
    killed mid-request. Beating only inside the app keeps the limit on a client that
    connects and sends nothing, which holds a sync worker before the app sees it.
    """

    stop = stop or threading.Event()

    def run() -> None:
        while not stop.wait(every):
            if in_request.is_set():
                beat()

    thread = threading.Thread(target=run, name="heartbeat", daemon=True)
    thread.start()
    return thread
