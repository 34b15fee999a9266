"""Time entries (`/api/entries`): entries:read to read, entries:write to change.

The caller's own by default; another person's with `user_id=`, and several people's
(`user=`, `team=`, `all=true`) in the list and the export, within what the caller may see.
"""

from __future__ import annotations

import json
import uuid

from flask import Blueprint
from flask import Response
from flask import jsonify
from flask import request
from flask import stream_with_context
from flask import url_for

from service import entries
from service import export
from service import upserts
from service.api.whose import item_owners
from service.api.whose import owners
from service.api.whose import settle_acting_user
from service.db import use_database
from service.errors import APIError
from service.models import TimeEntry
from service.openapi import documented
from service.permissions import ENTRIES_READ
from service.permissions import ENTRIES_WRITE
from service.schemas.json_body import parse_json_body
from service.schemas.requests import BulkRequest
from service.schemas.requests import EntryIn
from service.schemas.requests import EntryPatch
from service.schemas.requests import EntryQuery
from service.schemas.requests import ExportQuery
from service.schemas.responses import BulkResult
from service.schemas.responses import Entry
from service.schemas.responses import EntryList
from service.schemas.responses import EntryPage
from service.schemas.responses import dump
from service.security import current_principal
from service.security import current_user_id
from service.security import require_auth

bp = Blueprint("entries", __name__, url_prefix="/api/entries")
require_auth(bp, read=ENTRIES_READ, write=ENTRIES_WRITE, acting_user=False)
use_database(bp)
settle_acting_user(bp)


@bp.get("")
@documented({200: EntryPage}, query=EntryQuery, errors=(400,))
def list_entries():
    """List entries (the caller's, or those of the people named), newest first, one keyset
    page at a time."""
    filters = EntryQuery.from_query(request.args)
    page = entries.list_entries(owners(filters), filters)
    if not page.rendered:
        return jsonify(dump(EntryPage, page))
    # EntryPage around the items PostgreSQL wrote as Entry JSON (entries.ENTRY_FIELDS).
    cursor = json.dumps(page.next_cursor)
    body = f'{{"items":[{",".join(page.items)}],"next_cursor":{cursor}}}\n'
    return Response(body, mimetype="application/json")


def versioned(entry: TimeEntry, status: int = 200) -> Response:
    """Answer with the entry and its version as a strong ETag."""
    response = jsonify(dump(Entry, entry))
    response.status_code = status
    response.set_etag(entries.entry_version(entry))
    return response


def if_match() -> list[str] | None:
    """Return the versions If-Match accepts (None without the header); weak tags never match."""
    if "If-Match" not in request.headers:
        return None
    tags = request.if_match
    return ["*"] if tags.star_tag else sorted(tags.as_set())


@bp.post("")
@documented({201: Entry}, body=EntryIn, errors=(409,))
def create_entry():
    """Store a new entry (for `user_id=`: the managers of their teams, admins, services)."""
    body = parse_json_body(EntryIn)
    entry = entries.create_entry(current_user_id(), body, current_principal().subject)
    response = versioned(entry, 201)
    response.headers["Location"] = url_for(".get_entry", entry_id=entry.id)
    return response


@bp.get("/export")
@documented(
    {200: {"text/csv": {"type": "string"}, "application/json": EntryList}}, query=ExportQuery
)
def export_entries():
    """Download entries (same filters as the list), oldest first, as CSV or JSON."""
    filters = ExportQuery.from_query(request.args)
    rows = entries.export_entries(owners(filters), filters)
    chunks = export.csv_chunks(rows) if filters.format == "csv" else export.json_chunks(rows)
    mimetype = "text/csv" if filters.format == "csv" else "application/json"
    disposition = f'attachment; filename="time-entries.{filters.format}"'
    return Response(
        stream_with_context(chunks),
        mimetype=mimetype,
        headers={"Content-Disposition": disposition},
    )


@bp.get("/<uuid:entry_id>")
@documented({200: Entry})
def get_entry(entry_id: uuid.UUID):
    """Return an entry of the caller's, or of someone they may see."""
    return versioned(entries.get_entry(item_owners(), entry_id))


@bp.patch("/<uuid:entry_id>")
@documented({200: Entry}, body=EntryPatch, errors=(412,))
def update_entry(entry_id: uuid.UUID):
    """Change some fields of an entry the caller may see (If-Match: only from that version)."""
    changes = parse_json_body(EntryPatch).model_dump(exclude_unset=True)
    writer = current_principal().subject
    return versioned(entries.update_entry(item_owners(), entry_id, changes, writer, if_match()))


@bp.delete("/<uuid:entry_id>")
@documented({204: None}, errors=(412,))
def delete_entry(entry_id: uuid.UUID):
    """Delete an entry the caller may see (If-Match: only that version)."""
    entries.delete_entry(item_owners(), entry_id, if_match())
    return "", 204


@bp.put("/bulk")
@documented({200: BulkResult}, body=BulkRequest)
def bulk_upsert():
    """Create or update up to 1,000 entries by (source, external_id), all or nothing."""
    body = parse_json_body(BulkRequest)
    duplicates = upserts.duplicate_keys(body.entries)
    if duplicates:
        errors = [
            {
                "field": f"entries.{i}.external_id",
                "message": "repeats an earlier (source, external_id)",
            }
            for i in duplicates
        ]
        raise APIError(422, "The batch names an entry twice.", errors=errors)
    writer = uuid.UUID(current_principal().subject)
    counts = upserts.bulk_upsert(current_user_id(), body.entries, writer=writer)
    return jsonify(dump(BulkResult, counts))
