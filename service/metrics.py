"""Prometheus metrics: HTTP requests, database pool, imports and sync runs.

Under gunicorn, set PROMETHEUS_MULTIPROC_DIR (an empty directory, before start): every
worker then writes its samples there and /metrics adds them up across workers.
Other modules report outcomes with `record_import(...)` and `record_sync(...)`.
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client import REGISTRY
from prometheus_client import CollectorRegistry
from prometheus_client import Counter
from prometheus_client import Histogram
from prometheus_client import generate_latest
from prometheus_client import multiprocess

UNMATCHED_ROUTE = "<unmatched>"
# Any other method a client invents is counted as OTHER, so it cannot grow the label set.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

REQUESTS = Counter("http_requests_total", "HTTP requests answered.", ["route", "method", "status"])
LATENCY = Histogram(
    "http_request_duration_seconds",
    "Time to answer an HTTP request (to the first byte of a streamed body).",
    ["route", "method"],
)
IMPORTS = Counter("imports_total", "File imports, by outcome.", ["outcome"])
SYNC_RUNS = Counter("sync_runs_total", "Sync runs, by source and outcome.", ["source", "outcome"])


def record_request(route: str | None, method: str, status: int, seconds: float) -> None:
    """Count one request answered in SECONDS under its route template (never its raw path)."""
    route = route or UNMATCHED_ROUTE
    method = method if method in KNOWN_METHODS else "OTHER"
    REQUESTS.labels(route, method, str(status)).inc()
    LATENCY.labels(route, method).observe(seconds)


def record_import(outcome: str) -> None:
    """Count one import run that ended with OUTCOME (e.g. succeeded, failed, rejected)."""
    IMPORTS.labels(outcome).inc()


def record_sync(source: str, outcome: str) -> None:
    """Count one sync run from SOURCE that ended with OUTCOME (e.g. succeeded, failed)."""
    SYNC_RUNS.labels(source, outcome).inc()


def exposition(multiproc_dir: str | None) -> tuple[bytes, str]:
    """Render every metric in the text format: all workers' when MULTIPROC_DIR is set."""
    if multiproc_dir:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=multiproc_dir)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
