"""Prometheus metrics: per route template, public, switchable, and summed over workers."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest
import requests
from prometheus_client import REGISTRY
from prometheus_client import CollectorRegistry
from prometheus_client import Histogram
from prometheus_client.parser import text_string_to_metric_families

from service import metrics
from service.migrate import migrate
from service.migrate import open_database


def sample(name: str, **labels: str) -> float:
    """The value of one sample of this process's registry, as a scrape would read it now
    (0 when absent)."""
    metrics.flush_requests()
    return REGISTRY.get_sample_value(name, labels) or 0.0


def scraped(text: str, name: str, **labels: str) -> float:
    """Sum the samples called NAME with LABELS in a scraped /metrics page."""
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name and labels.items() <= s.labels.items()
    )


def test_requests_are_counted_by_route_template_method_and_status(client, auth_headers):
    route = "/api/entries/<uuid:entry_id>"
    labels = {"route": route, "method": "GET", "status": "404"}
    before = sample("http_requests_total", **labels)
    timed_before = sample("http_request_duration_seconds_count", route=route, method="GET")

    for _ in range(3):
        client.get("/api/entries/6b0f7c1e-49d4-4e38-9b4e-0f6f6f3c2a11", headers=auth_headers)
    page = client.get("/metrics")

    assert page.status_code == 200
    assert page.mimetype == "text/plain"
    assert sample("http_requests_total", **labels) - before == 3
    assert (
        sample("http_request_duration_seconds_count", route=route, method="GET") - timed_before == 3
    )
    assert "6b0f7c1e" not in page.get_data(as_text=True)


def test_unknown_urls_share_one_label(client):
    before = sample("http_requests_total", route="<unmatched>", method="GET", status="404")

    client.get("/no/such/page-1")
    client.get("/no/such/page-2")

    assert (
        sample("http_requests_total", route="<unmatched>", method="GET", status="404") - before == 2
    )


def test_invented_methods_share_one_label(client):
    before = sample("http_requests_total", route="<unmatched>", method="OTHER", status="405")

    for method in ("BREW", "WHEN", "PROPFIND"):
        client.open("/livez", method=method)

    assert (
        sample("http_requests_total", route="<unmatched>", method="OTHER", status="405") - before
        == 3
    )
    assert sample("http_requests_total", route="<unmatched>", method="BREW", status="405") == 0


def test_requests_counted_in_batches_read_as_if_each_was_observed():
    route = "/test/batched"
    durations = [0.0, 0.004, 0.005, 0.0051, 0.3, 9.99, 10.0, 60.0]
    reference = Histogram(
        "reference", "", ["route"], buckets=metrics.LATENCY_BUCKETS, registry=CollectorRegistry()
    )
    for seconds in durations:
        reference.labels(route).observe(seconds)
        metrics.record_request(route, "GET", 200, seconds)
    metrics.record_request(route, "GET", 500, 0.02)
    reference.labels(route).observe(0.02)

    metrics.flush_requests()

    expected = {
        (s.name.removeprefix("reference"), s.labels.get("le")): s.value
        for s in reference.collect()[0].samples
        if not s.name.endswith("_created")
    }
    for (suffix, le), value in expected.items():
        labels = {"route": route, "method": "GET"} | ({"le": le} if le else {})
        read = REGISTRY.get_sample_value(f"http_request_duration_seconds{suffix}", labels)
        assert read == pytest.approx(value), (suffix, le)
    assert sample("http_requests_total", route=route, method="GET", status="200") == 8
    assert sample("http_requests_total", route=route, method="GET", status="500") == 1


def test_counted_requests_reach_the_metrics_on_their_own_without_a_scrape():
    labels = {"route": "/test/unscraped", "method": "GET", "status": "200"}

    metrics.record_request("/test/unscraped", "GET", 200, 0.001)
    deadline = time.monotonic() + metrics.FLUSH_SECONDS + 2
    while not REGISTRY.get_sample_value("http_requests_total", labels):
        assert time.monotonic() < deadline, "never written"
        time.sleep(0.05)

    assert REGISTRY.get_sample_value("http_requests_total", labels) == 1


def test_a_forked_child_does_not_write_its_parents_counts_again():
    labels = {"route": "/test/forked", "method": "GET", "status": "200"}
    metrics.record_request("/test/forked", "GET", 200, 0.001)

    child = os.fork()
    if child == 0:
        before = REGISTRY.get_sample_value("http_requests_total", labels) or 0
        metrics.flush_requests()
        after = REGISTRY.get_sample_value("http_requests_total", labels) or 0
        os._exit(int(after - before))
    _, status = os.waitpid(child, 0)

    assert os.waitstatus_to_exitcode(status) == 0
    assert sample("http_requests_total", **labels) == 1


def test_metrics_need_no_token_and_list_every_family(client):
    metrics.record_import("succeeded")
    metrics.record_sync("toggl", "failed")

    text = client.get("/metrics").get_data(as_text=True)

    families = {family.name for family in text_string_to_metric_families(text)}
    assert {
        "http_requests",
        "http_request_duration_seconds",
        "imports",
        "sync_runs",
    } <= families
    assert scraped(text, "imports_total", outcome="succeeded") >= 1
    assert scraped(text, "sync_runs_total", source="toggl", outcome="failed") >= 1


def test_import_and_sync_outcomes_are_counted(client):
    imports = sample("imports_total", outcome="rejected")
    syncs = sample("sync_runs_total", source="tempo", outcome="succeeded")

    metrics.record_import("rejected")
    metrics.record_sync("tempo", "succeeded")
    metrics.record_sync("tempo", "succeeded")

    assert sample("imports_total", outcome="rejected") - imports == 1
    assert sample("sync_runs_total", source="tempo", outcome="succeeded") - syncs == 2


def test_metrics_can_be_switched_off(make_app, database_url):
    client = make_app(database_url, METRICS_ENABLED="false").test_client()
    before = sample("http_requests_total", route="/livez", method="GET", status="200")

    client.get("/livez")

    assert client.get("/metrics").status_code == 404
    assert sample("http_requests_total", route="/livez", method="GET", status="200") == before


@pytest.fixture
def gunicorn(serve, tmp_path):
    """Serve the app with gunicorn.conf.py, two workers, multiprocess metrics, on SQLite."""
    url = f"sqlite:///{tmp_path / 'served.db'}"
    migrate(open_database(url))
    (tmp_path / "prometheus").mkdir()
    return serve(
        url,
        workers=2,
        threads=2,
        ready="/.well-known/jwks.json",
        PROMETHEUS_MULTIPROC_DIR=tmp_path / "prometheus",
    )


def test_metrics_add_up_across_gunicorn_workers_and_its_logs_are_json(gunicorn):
    base, process = gunicorn.url(""), gunicorn.process
    jwks = "/.well-known/jwks.json"

    for _ in range(40):
        requests.get(f"{base}{jwks}", timeout=5, headers={"Connection": "close"})
    deadline = time.monotonic() + metrics.FLUSH_SECONDS + 5
    while True:  # each worker writes its counts at least once a second
        text = requests.get(f"{base}/metrics", timeout=5).text
        if scraped(text, "http_requests_total", route=jwks) >= 41 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=30)
    output = gunicorn.output()

    # 40, and the fixture's one request that found the server up.
    assert scraped(text, "http_requests_total", route=jwks) == 41
    logged = [json.loads(line) for line in output.splitlines()]
    assert sum(line["message"].startswith("Booting worker") for line in logged) >= 2
    assert sum(line.get("route") == jwks for line in logged) >= 40
