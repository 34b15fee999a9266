"""File uploads (`/api/imports`): Toggl, Clockify, Harvest and plain CSV, JWT required.

A team's export lands on its people: see service.importers.owners for who may upload whose.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from flask import Blueprint
from flask import current_app
from flask import jsonify
from flask import request

from service import importers
from service.db import use_database
from service.errors import APIError
from service.openapi import documented
from service.permissions import IMPORTS_WRITE
from service.schemas.requests import ImportOptions
from service.schemas.requests import ImportUpload
from service.schemas.responses import ImportOutcome
from service.schemas.responses import dump
from service.security import current_principal
from service.security import current_user_id
from service.security import require_auth

# Room for the multipart envelope and the small form fields around the file.
MULTIPART_SLACK = 64 * 1024

bp = Blueprint("imports", __name__, url_prefix="/api/imports")
require_auth(bp, write=IMPORTS_WRITE)
use_database(bp)


@bp.before_request
def _allow_large_files() -> None:
    request.max_content_length = current_app.config["IMPORT_MAX_BYTES"] + MULTIPART_SLACK


def _uploaded_bytes() -> bytes:
    upload = request.files.get("file")
    if upload is None:
        raise APIError(
            422,
            "The request is invalid.",
            errors=[{"field": "file", "message": "a multipart file field is required"}],
        )
    limit = current_app.config["IMPORT_MAX_BYTES"]
    data = upload.read(limit + 1)
    if len(data) > limit:
        raise APIError(413, f"The file is larger than {limit} bytes.")
    return data


@bp.post("")
@documented(
    {200: ImportOutcome}, body=ImportUpload, body_media="multipart/form-data", errors=(422,)
)
def create_import():
    """Import an export file, each row for the person its email names (else the acting
    user): all rows or none, never twice."""
    options = ImportOptions.model_validate(request.form.to_dict())
    data = _uploaded_bytes()
    outcome = importers.import_file(
        current_user_id(),
        data,
        principal=current_principal(),
        format_name=options.format,
        zone=ZoneInfo(options.timezone),
        max_rows=current_app.config["IMPORT_MAX_ROWS"],
        dry_run=options.dry_run,
        skip_unknown_users=options.unknown_users == "skip",
    )
    return jsonify(dump(ImportOutcome, outcome))
