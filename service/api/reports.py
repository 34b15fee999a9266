"""Summary reports (`/api/reports`): the caller's entries, or the people's they name.

Services with reports:read may report on anyone with `user=`, `team=` or `all=true`.
"""

from __future__ import annotations

from flask import Blueprint
from flask import jsonify
from flask import request

from service import reports
from service.api.whose import owners
from service.api.whose import settle_acting_user
from service.db import use_database
from service.openapi import documented
from service.permissions import REPORTS_READ
from service.schemas.requests import ReportQuery
from service.schemas.responses import ReportSummary
from service.schemas.responses import dump
from service.security import require_auth

bp = Blueprint("reports", __name__, url_prefix="/api/reports")
require_auth(bp, read=REPORTS_READ, acting_user=False)
use_database(bp)
settle_acting_user(bp)


@bp.get("/summary")
@documented({200: ReportSummary}, query=ReportQuery)
def summary():
    """Sum hours and count entries per day, week, month, project, source, user or team (one
    or two)."""
    query = ReportQuery.from_query(request.args)
    return jsonify(dump(ReportSummary, reports.summary(owners(query, REPORTS_READ), query)))
