"""Prometheus scrape endpoint (`/metrics`): public to the cluster, off with METRICS_ENABLED."""

from __future__ import annotations

from flask import Blueprint
from flask import Response
from flask import current_app

from service import metrics as service_metrics
from service.openapi import documented

bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
@documented({200: {"text/plain": {"type": "string"}}})
def metrics():
    """Return every metric in the Prometheus text format, summed over the workers."""
    body, content_type = service_metrics.exposition(current_app.config["PROMETHEUS_MULTIPROC_DIR"])
    return Response(body, content_type=content_type)
