"""The worker process's lifecycle: the shutdown state /readyz reads, set by the server's
SIGTERM hook."""

from __future__ import annotations

import threading

# Set once SIGTERM arrives: the worker still serves, but tells the load balancer to stop.
draining = threading.Event()
