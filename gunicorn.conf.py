"""gunicorn settings, read from the environment (`gunicorn -c gunicorn.conf.py wsgi:app`).

Every value comes from service.config.server_settings, so docs/configuration.md is
the one reference. No preload: each worker builds the app (and its pool) after the fork.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading

from gunicorn.glogging import Logger

from service import lifecycle
from service.config import ConfigError
from service.config import load_config
from service.config import server_settings

try:
    settings = server_settings()
    # The app's settings too, here in the master: a bad one stops start-up with its one
    # line, where a worker that failed to boot would print a traceback and be restarted.
    app_settings = load_config()
except ConfigError as exc:
    sys.exit(f"configuration error: {exc}")

bind = f"{settings['HOST']}:{settings['PORT']}"
workers = settings["WEB_CONCURRENCY"]
worker_class = settings["WORKER_CLASS"]
threads = settings["THREADS"]
timeout = settings["WORKER_TIMEOUT"]
# Counted from SIGTERM: the drain pause plus the slowest in-flight request must fit.
graceful_timeout = settings["GRACEFUL_TIMEOUT"]
keepalive = settings["KEEPALIVE"]
if worker_class == "gthread" and keepalive == 0:
    # A gthread worker then takes a connection only when one of its threads is free, so
    # waiting requests queue in the kernel, shared by every worker, first come first
    # served. With keep-alive on it holds up to 1,000, each staying where it was accepted.
    # (For gevent this is the number of greenlets; a sync worker takes one at a time.)
    worker_connections = threads
max_requests = settings["MAX_REQUESTS"]
max_requests_jitter = settings["MAX_REQUESTS_JITTER"]
forwarded_allow_ips = settings["FORWARDED_ALLOW_IPS"]
preload_app = False
# The heartbeat file lives in memory: a container's disk may be slow or read-only.
SHARED_MEMORY = "/dev/shm"  # noqa: S108 - a tmpfs the kernel provides, not a temp file
worker_tmp_dir = SHARED_MEMORY if os.path.isdir(SHARED_MEMORY) else None
control_socket_disable = True
# Refuse oversized request lines and headers before the application sees them.
limit_request_line = 4094
limit_request_fields = 50
limit_request_field_size = 8190

errorlog = "-"
# gunicorn's own lines on stdout, shaped like the app's (service/logs.py); the
# app writes one access line per request, so gunicorn's access log is off. child_exit
# drops a dead worker's live gauges when PROMETHEUS_MULTIPROC_DIR makes /metrics sum
# every worker (point it at an empty directory, e.g. an emptyDir volume).
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "app": {"()": "service.logs.make_formatter", "log_format": app_settings["LOG_FORMAT"]}
    },
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "formatter": "app",
            "stream": "ext://sys.stdout",
        }
    },
    "root": {"level": "INFO", "handlers": []},
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": ["stdout"], "propagate": False},
    },
}
accesslog = None


class AppWritesAccessLines(Logger):
    """gunicorn's logger, minus the access line the app already writes.

    With `logconfig_dict` set, gunicorn would build every request's access-log fields
    (headers, times) for a logger that has nowhere to write them.
    """

    def access(self, resp, req, environ, request_time):
        """Write nothing: service.observability logs each request."""


logger_class = AppWritesAccessLines


def child_exit(server, worker):
    """Tell the Prometheus multiprocess collector that WORKER is gone."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def post_worker_init(worker):
    """On SIGTERM, fail /readyz for DRAIN_SECONDS while still serving, then stop gracefully."""

    def stop(sig, frame):
        worker.handle_exit(sig, frame)
        # Called from a timer thread, not by a signal: wake a sync worker's select().
        with contextlib.suppress(BlockingIOError):
            os.write(worker.PIPE[1], b"\0")

    def drain_then_stop(sig, frame):
        if lifecycle.draining.is_set():
            return
        lifecycle.draining.set()
        worker.log.info("worker %s draining for %s s", worker.pid, settings["DRAIN_SECONDS"])
        timer = threading.Timer(settings["DRAIN_SECONDS"], stop, args=(sig, frame))
        timer.daemon = True
        timer.start()

    signal.signal(signal.SIGTERM, drain_then_stop)
    signal.siginterrupt(signal.SIGTERM, False)
