"""Request models (pydantic, strict) and the to-JSON helpers for responses."""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Mapping
from datetime import UTC
from datetime import datetime
from typing import Annotated
from typing import Any

from pydantic import AwareDatetime
from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import EmailStr
from pydantic import Field
from pydantic import StringConstraints
from pydantic import field_validator

from service.errors import APIError
from service.models import TimeEntry
from service.models import User

MAX_BULK_ITEMS = 1000
MAX_PAGE_SIZE = 500
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)

Source = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")]
ExternalId = Annotated[str, StringConstraints(min_length=1, max_length=255)]
Project = Annotated[str, StringConstraints(max_length=255)]
Description = Annotated[str, StringConstraints(max_length=10_000)]
Hours = Annotated[float, Field(gt=0, le=24, allow_inf_nan=False)]
Password = Annotated[str, StringConstraints(min_length=1, max_length=1024)]


class Strict(BaseModel):
    """Reject unknown fields and type coercions such as `true` for a number."""

    model_config = ConfigDict(extra="forbid", strict=True)


def _within_range(value: datetime) -> datetime:
    if not EARLIEST <= value < LATEST:
        raise ValueError("must be between 1970-01-01 and 2100-01-01")
    return value.astimezone(UTC)


class Credentials(Strict):
    """Email and password, as sent to register and login."""

    email: EmailStr
    password: Password

    @field_validator("email")
    @classmethod
    def _lowercase(cls, value: str) -> str:
        return value.lower()


class Registration(Credentials):
    """A new account: the password must fit bcrypt's 72-byte limit."""

    @field_validator("password")
    @classmethod
    def _bcrypt_length(cls, value: str) -> str:
        size = len(value.encode())
        if not 8 <= size <= 72:
            raise ValueError("must be 8 to 72 bytes long in UTF-8")
        return value


class RefreshRequest(Strict):
    """A refresh token, to rotate or revoke."""

    refresh_token: Annotated[str, StringConstraints(min_length=1, max_length=4096)]


class EntryIn(Strict):
    """A new time entry."""

    date: AwareDatetime
    duration: Hours
    project: Project | None = None
    description: Description | None = None
    source: Source = "manual"
    external_id: ExternalId | None = None

    _date_range = field_validator("date")(_within_range)


class EntryPatch(Strict):
    """Changes to a time entry; only the fields sent change."""

    date: AwareDatetime | None = None
    duration: Hours | None = None
    project: Project | None = None
    description: Description | None = None

    @field_validator("date", "duration")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("cannot be null")
        return value

    _date_range = field_validator("date")(_within_range)


class BulkEntry(EntryIn):
    """One entry of a bulk upsert: its key (source, external_id) is required."""

    external_id: ExternalId


class BulkRequest(Strict):
    """Up to 1,000 entries to upsert by (source, external_id)."""

    entries: Annotated[list[BulkEntry], Field(min_length=1, max_length=MAX_BULK_ITEMS)]


class EntryQuery(Strict):
    """Filters and page of the entries list (from query-string text, so not strict)."""

    model_config = ConfigDict(extra="forbid", strict=False, populate_by_name=True)

    from_: AwareDatetime | None = Field(default=None, alias="from")
    to: AwareDatetime | None = None
    source: Source | None = None
    project: Project | None = None
    limit: Annotated[int, Field(ge=1, le=MAX_PAGE_SIZE)] = 50
    cursor: Annotated[str, StringConstraints(max_length=200)] | None = None


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
        return date, uuid.UUID(entry_id)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise APIError(400, "The cursor is not one this service issued.") from None


def iso(value: datetime) -> str:
    """Format an aware timestamp as ISO-8601 UTC with a Z."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def user_json(user: User) -> dict[str, Any]:
    """Serialize a user, never the password hash."""
    return {
        "id": str(user.id),
        "email": user.email,
        "is_active": user.is_active,
        "created_at": iso(user.created_at),
    }


def entry_json(entry: TimeEntry | Mapping[str, Any]) -> dict[str, Any]:
    """Serialize a time entry: a model, or a row selected with `.dicts()`."""
    row = entry.__data__ if isinstance(entry, TimeEntry) else entry
    return {
        "id": str(row["id"]),
        "date": iso(row["date"]),
        "duration": row["duration"],
        "project": row["project"],
        "description": row["description"],
        "source": row["source"],
        "external_id": row["external_id"],
        "created_at": iso(row["created_at"]),
        "updated_at": iso(row["updated_at"]),
    }
