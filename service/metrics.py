"""Prometheus metrics: HTTP requests, database pool, imports and sync runs.

Under gunicorn, set PROMETHEUS_MULTIPROC_DIR (an empty directory, before start): every
worker then writes its samples there and /metrics adds them up across workers.
Other modules report outcomes with `record_import(...)` and `record_sync(...)`.
"""

from __future__ import annotations

import os
import threading
import time
from bisect import bisect_left

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

# How often a process writes the requests it has tallied to the metrics (and so how far a
# scrape may lag behind another worker); a scrape writes its own worker's first.
FLUSH_SECONDS = 1.0
LATENCY_BUCKETS = Histogram.DEFAULT_BUCKETS

REQUESTS = Counter("http_requests_total", "HTTP requests answered.", ["route", "method", "status"])
LATENCY = Histogram(
    "http_request_duration_seconds",
    "Time to answer an HTTP request (to the first byte of a streamed body).",
    ["route", "method"],
    buckets=LATENCY_BUCKETS,
)
IMPORTS = Counter("imports_total", "File imports, by outcome.", ["outcome"])
SYNC_RUNS = Counter("sync_runs_total", "Sync runs, by source and outcome.", ["source", "outcome"])


RequestKey = tuple[str | None, str, int]


class RequestTally:
    """Answered requests, counted in memory and written to REQUESTS and LATENCY in batches.

    In multiprocess mode every write to a metric is a locked store into a memory-mapped
    file: three per request (the count, the latency's sum and its bucket) cost 2.7 us in a
    loop, and 7-11 us of a worker's CPU per /health under gunicorn (bench/README.md).
    Counting in a dict costs 0.15 us; a daemon thread writes the counts every
    FLUSH_SECONDS, a scrape writes its own process's first, and gunicorn's worker_exit hook
    writes a stopping worker's last.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[tuple[RequestKey, int], int] = {}
        self._seconds: dict[RequestKey, float] = {}
        # The labelled children, per key: looking them up through labels() is not free.
        self._children: dict[RequestKey, tuple[Counter, Histogram]] = {}
        self._writer: threading.Thread | None = None
        os.register_at_fork(after_in_child=self._forget_writer)

    def add(self, route: str | None, method: str, status: int, seconds: float) -> None:
        """Count one request answered in SECONDS."""
        key = (route, method, status)
        # The first bucket whose upper bound is >= SECONDS, as Histogram.observe picks it.
        counted = (key, bisect_left(LATENCY_BUCKETS, seconds))
        with self._lock:
            self._counts[counted] = self._counts.get(counted, 0) + 1
            self._seconds[key] = self._seconds.get(key, 0.0) + seconds
            if self._writer is None:
                self._writer = threading.Thread(target=self._write_often, daemon=True)
                self._writer.start()

    def flush(self) -> None:
        """Write every request counted so far to the metrics."""
        with self._lock:
            counts, self._counts = self._counts, {}
            seconds, self._seconds = self._seconds, {}
        for (key, bucket), count in counts.items():
            requests, latency = self._children_of(key)
            requests.inc(count)
            # Histogram has no public way to observe many values at once; these are the
            # stores observe() makes (tests/test_metrics.py checks them against it).
            latency._buckets[bucket].inc(count)
        for key, total in seconds.items():
            self._children_of(key)[1]._sum.inc(total)

    def _children_of(self, key: RequestKey) -> tuple[Counter, Histogram]:
        children = self._children.get(key)
        if children is None:
            route, method, status = key
            route = route or UNMATCHED_ROUTE
            children = (REQUESTS.labels(route, method, str(status)), LATENCY.labels(route, method))
            self._children[key] = children
        return children

    def _write_often(self) -> None:
        while True:
            time.sleep(FLUSH_SECONDS)
            self.flush()

    def _forget_writer(self) -> None:
        """In a forked child: the writer thread and the parent's counts stay behind."""
        self._lock = threading.Lock()
        self._counts, self._seconds = {}, {}
        self._writer = None


_tally = RequestTally()


def record_request(route: str | None, method: str, status: int, seconds: float) -> None:
    """Count one answered request under its route template (never its raw path)."""
    _tally.add(route, method if method in KNOWN_METHODS else "OTHER", status, seconds)


def flush_requests() -> None:
    """Write the requests this process has counted to the metrics now."""
    _tally.flush()


def record_import(outcome: str) -> None:
    """Count one import run that ended with OUTCOME (e.g. succeeded, failed, rejected)."""
    IMPORTS.labels(outcome).inc()


def record_sync(source: str, outcome: str) -> None:
    """Count one sync run from SOURCE that ended with OUTCOME (e.g. succeeded, failed)."""
    SYNC_RUNS.labels(source, outcome).inc()


def exposition(multiproc_dir: str | None) -> tuple[bytes, str]:
    """Render every metric in the text format: all workers' when MULTIPROC_DIR is set.

    This process's requests are all in it; another worker's, up to FLUSH_SECONDS late.
    """
    flush_requests()
    if multiproc_dir:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=multiproc_dir)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
