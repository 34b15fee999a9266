"""Summary reports over the caller's entries (`/api/reports`), JWT required."""

from __future__ import annotations

from flask import Blueprint
from flask import jsonify
from flask import request

from service import reports
from service.db import use_database
from service.openapi import documented
from service.permissions import REPORTS_READ
from service.schemas.requests import ReportQuery
from service.schemas.responses import ReportSummary
from service.schemas.responses import dump
from service.security import current_user_id
from service.security import require_auth

bp = Blueprint("reports", __name__, url_prefix="/api/reports")
require_auth(bp, read=REPORTS_READ)
use_database(bp)


@bp.get("/summary")
@documented({200: ReportSummary}, query=ReportQuery)
def summary():
    """Sum hours and count entries per day, week, month, project or source (one or two)."""
    query = ReportQuery.model_validate(request.args.to_dict())
    return jsonify(dump(ReportSummary, reports.summary(current_user_id(), query)))
