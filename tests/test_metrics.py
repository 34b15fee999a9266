"""Prometheus metrics: per route template, public, switchable, and summed over workers."""

from __future__ import annotations

import json
import signal

import pytest
import requests
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from service import metrics
from service.migrate import migrate
from service.migrate import open_database


def sample(name: str, **labels: str) -> float:
    """The value of one sample of this process's registry (0 when absent)."""
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
    """The app under gunicorn: two workers, multiprocess metrics, on SQLite."""
    url = f"sqlite:///{tmp_path / 'served.db'}"
    migrate(open_database(url))
    (tmp_path / "prometheus").mkdir()
    return serve(url, workers=2, threads=2, PROMETHEUS_MULTIPROC_DIR=tmp_path / "prometheus")


def test_metrics_add_up_across_gunicorn_workers_and_its_logs_are_json(gunicorn):
    jwks = "/.well-known/jwks.json"

    for _ in range(40):
        requests.get(gunicorn.url(jwks), timeout=5, headers={"Connection": "close"})
    text = requests.get(gunicorn.url("/metrics"), timeout=5).text
    gunicorn.process.send_signal(signal.SIGTERM)
    gunicorn.process.wait(timeout=30)

    assert scraped(text, "http_requests_total", route=jwks) == 40
    logged = [json.loads(line) for line in gunicorn.output().splitlines()]
    assert sum(line["message"].startswith("Booting worker") for line in logged) >= 2
    assert sum(line.get("route") == jwks for line in logged) == 40
