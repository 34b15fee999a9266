"""The caller's sync jobs (`/api/jobs`): what `POST /api/sync/<source>` queued, JWT required."""

from __future__ import annotations

import uuid

from flask import Blueprint
from flask import jsonify
from flask import request

from service import jobs
from service.db import use_database
from service.openapi import documented
from service.schemas.requests import JobQuery
from service.schemas.responses import Job
from service.schemas.responses import JobList
from service.schemas.responses import dump
from service.security import current_user_id
from service.security import require_auth

bp = Blueprint("jobs", __name__, url_prefix="/api/jobs")
require_auth(bp)
use_database(bp)


@bp.get("")
@documented({200: JobList}, query=JobQuery)
def list_jobs():
    """List the caller's latest jobs (of one source, if asked), newest first."""
    query = JobQuery.model_validate(request.args.to_dict())
    items = jobs.recent_jobs(current_user_id(), query.source)
    return jsonify(dump(JobList, {"items": items}))


@bp.get("/<uuid:job_id>")
@documented({200: Job})
def get_job(job_id: uuid.UUID):
    """Show one of the caller's jobs: state, counts, error, times."""
    return jsonify(dump(Job, jobs.get_job(current_user_id(), job_id)))
