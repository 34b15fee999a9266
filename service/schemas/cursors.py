"""The opaque keyset cursors of the entries list."""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import UTC
from datetime import datetime

from service.errors import APIError
from service.schemas.fields import within_range


def encode_cursor(date: datetime, entry_id: uuid.UUID) -> str:
    """Make the opaque keyset cursor that points just past (DATE, ENTRY_ID)."""
    raw = f"{date.astimezone(UTC).isoformat()}|{entry_id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    """Read a cursor made by encode_cursor; anything else is a 400."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        date_text, entry_id = raw.split("|")
        date = datetime.fromisoformat(date_text)
        if date.tzinfo is None:
            raise ValueError("naive")
        return within_range(date), uuid.UUID(entry_id)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise APIError(400, "The cursor is not one this service issued.") from None
