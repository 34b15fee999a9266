"""gunicorn settings, read from the environment (`gunicorn -c gunicorn.conf.py wsgi:app`)."""

import os

bind = f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
threads = int(os.environ.get("THREADS", "4"))
control_socket_disable = True
accesslog = "-"
errorlog = "-"

# --- Observability (issue 5) ---------------------------------------------------------
# gunicorn's own lines as JSON on stdout, shaped like the app's (service/logs.py); the
# app writes one access line per request, so gunicorn's access log is off. child_exit
# drops a dead worker's live gauges when PROMETHEUS_MULTIPROC_DIR makes /metrics sum
# every worker (point it at an empty directory, e.g. an emptyDir volume).
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "{levelname}{name}{message}",
            "style": "{",
            "rename_fields": {"levelname": "level", "name": "logger"},
            "timestamp": "time",
        }
    },
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "stream": "ext://sys.stdout",
        }
    },
    "root": {"level": "INFO", "handlers": []},
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": ["stdout"], "propagate": False},
    },
}
accesslog = None


def child_exit(server, worker):
    """Tell the Prometheus multiprocess collector that WORKER is gone."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
