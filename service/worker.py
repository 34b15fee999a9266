"""The job worker: `python -m service.worker` runs huey's consumer with the app's settings.

JOB_WORKERS threads run jobs; huey's scheduler sends the sweep every minute. SIGTERM
stops taking jobs and waits for those running, up to the shutdown timeout; a job cut
short then is taken over by a sweep once its heartbeat is stale.
"""

from __future__ import annotations

import sys

from service import create_app
from service.config import ConfigError
from service.config import load_config

# Seconds a stopping worker waits for its running jobs (within the pod's grace period).
SHUTDOWN_TIMEOUT = 25


def main() -> None:
    """Build the app, then run the consumer until a signal stops it."""
    try:
        workers = load_config()["JOB_WORKERS"]
        # Each running job holds a connection, and its heartbeat another; one for the sweep.
        app = create_app({"DB_POOL_SIZE": 2 * workers + 1})
    except ConfigError as exc:
        sys.exit(f"configuration error: {exc}")
    consumer = app.extensions["jobs"].huey.create_consumer(
        workers=workers,
        worker_type="thread",
        graceful_signal="TERM",
        shutdown_timeout=SHUTDOWN_TIMEOUT,
    )
    consumer.run()


if __name__ == "__main__":
    main()
