"""The worker process's shutdown state, set by the server's SIGTERM hook, read by /readyz."""

from __future__ import annotations

import threading

# Set once SIGTERM arrives: the worker still serves, but tells the load balancer to stop.
draining = threading.Event()
