"""Request models (pydantic, strict) and the to-JSON helpers for responses."""

from __future__ import annotations

import base64
import binascii
import functools
import json
import re
import uuid
import zoneinfo
from collections.abc import Mapping
from datetime import UTC
from datetime import date
from datetime import datetime
from typing import Annotated
from typing import Any
from typing import Literal
from typing import TypeVar
from zoneinfo import ZoneInfo
from zoneinfo import ZoneInfoNotFoundError

from flask import request
from pydantic import AfterValidator
from pydantic import AwareDatetime
from pydantic import BaseModel
from pydantic import BeforeValidator
from pydantic import ConfigDict
from pydantic import EmailStr
from pydantic import Field
from pydantic import RootModel
from pydantic import StringConstraints
from pydantic import field_validator
from pydantic import model_validator

from service.errors import APIError
from service.models import Integration
from service.models import SyncState
from service.models import TimeEntry
from service.models import User

MAX_BULK_ITEMS = 1000
MAX_PAGE_SIZE = 500
MAX_JSON_DEPTH = 16
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)

Source = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")]
# Text never holds NUL: PostgreSQL cannot store it, and no real name or note contains it.
NO_NUL = r"^[^\x00]*$"
ExternalId = Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=NO_NUL)]
Project = Annotated[str, StringConstraints(max_length=255, pattern=NO_NUL)]
Description = Annotated[str, StringConstraints(max_length=10_000, pattern=NO_NUL)]
Hours = Annotated[float, Field(gt=0, le=24, allow_inf_nan=False)]
# The pattern tells clients (and the contract's fuzzer) the years the service accepts.
YEARS_PATTERN = r"^(19[7-9][0-9]|20[0-9][0-9])-"


def _iso_text(value: Any) -> Any:
    """Accept timestamps as ISO-8601 text only, never as a number of seconds (lax mode would)."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not re.match(YEARS_PATTERN, value):
        raise ValueError("must be an ISO-8601 timestamp between 1970 and 2099")
    return value


Timestamp = Annotated[
    AwareDatetime,
    BeforeValidator(_iso_text),
    Field(strict=False),
    Field(json_schema_extra={"pattern": YEARS_PATTERN}, description="ISO-8601 with an offset."),
]
GROUPS = ("day", "week", "month", "project", "source")
GROUP_BY_CHOICES = GROUPS + tuple(f"{a},{b}" for a in GROUPS for b in GROUPS if a != b)
GroupBy = Literal[GROUP_BY_CHOICES]  # type: ignore[valid-type]
Password = Annotated[str, StringConstraints(min_length=1, max_length=1024)]


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys):
        repeated = next(key for key in keys if keys.count(key) > 1)
        raise APIError(400, f"The request body repeats the key {repeated[:50]!r} in one object.")
    return dict(pairs)


def _reject_constant(name: str) -> None:
    raise APIError(400, f"The request body is not valid JSON: {name} is not a number.")


def _depth(value: Any) -> int:
    """Return how deeply VALUE nests arrays and objects, without recursing."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, level + 1) for child in children)
    return deepest


def load_json(raw: bytes) -> Any:
    """Decode a JSON body strictly: UTF-8, no repeated keys, no NaN, bounded nesting."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise APIError(400, "The request body is not valid UTF-8.") from None
    try:
        data = json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_reject_constant)
    except RecursionError:
        raise _too_deep() from None
    except ValueError:
        raise APIError(400, "The request body is not valid JSON.") from None
    if _depth(data) > MAX_JSON_DEPTH:
        raise _too_deep()
    return data


def _too_deep() -> APIError:
    return APIError(400, f"The request body nests deeper than {MAX_JSON_DEPTH} levels.")


Model = TypeVar("Model", bound=BaseModel)


def parse_json_body(model: type[Model]) -> Model:
    """Validate the request's JSON body as MODEL, after load_json's checks."""
    raw = request.get_data(cache=True)
    load_json(raw)
    return model.model_validate_json(raw)


class Strict(BaseModel):
    """Reject unknown fields and type coercions such as `true` for a number."""

    # pydantic keeps up to 16,384 decoded strings for reuse by default; request bodies are
    # mostly unique values (external ids), so only the keys are worth keeping. Measured
    # on 1,000-entry bulk bodies: 2.7 ms instead of 3.0 ms, and no 1 MiB cache to carry.
    model_config = ConfigDict(extra="forbid", strict=True, cache_strings="keys")


def _within_range(value: datetime | None) -> datetime | None:
    if value is None:
        return None
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

    password: Annotated[str, StringConstraints(min_length=8, max_length=72)]

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

    date: Timestamp
    duration: Hours
    project: Project | None = None
    description: Description | None = None
    source: Source = "manual"
    external_id: ExternalId | None = None

    _date_range = field_validator("date")(_within_range)


class EntryPatch(Strict):
    """Changes to a time entry; only the fields sent change."""

    # Absent means unchanged; the contract (no null) and validation both refuse null.
    date: Timestamp = None  # type: ignore[assignment]
    duration: Hours = None  # type: ignore[assignment]
    project: Project | None = None
    description: Description | None = None

    _date_range = field_validator("date")(_within_range)


class BulkEntry(EntryIn):
    """One entry of a bulk upsert: its key (source, external_id) is required."""

    external_id: ExternalId


class BulkRequest(Strict):
    """Up to 1,000 entries to upsert by (source, external_id)."""

    entries: Annotated[list[BulkEntry], Field(min_length=1, max_length=MAX_BULK_ITEMS)]


@functools.cache
def time_zones() -> frozenset[str]:
    """Return the IANA time zones this machine's tz database knows."""
    return frozenset(zoneinfo.available_timezones())


def _zone_names(schema: dict[str, Any]) -> None:
    schema["enum"] = sorted(time_zones())


class EntryFilters(Strict):
    """Which of the caller's entries a query covers (from query-string text, so not strict)."""

    model_config = ConfigDict(extra="forbid", strict=False, populate_by_name=True)

    from_: Timestamp | None = Field(default=None, alias="from")
    to: Timestamp | None = None
    source: Source | None = None
    project: Project | None = None
    user_id: uuid.UUID | None = Field(
        default=None, description="The acting user, for service tokens with entries:any-user."
    )

    _range = field_validator("from_", "to")(_within_range)


class EntryQuery(EntryFilters):
    """Filters and page of the entries list."""

    limit: Annotated[int, Field(ge=1, le=MAX_PAGE_SIZE)] = 50
    cursor: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None


class ExportQuery(EntryFilters):
    """Filters and file format of an export."""

    format: Literal["csv", "json"] = "csv"


class ReportQuery(EntryFilters):
    """Filters, groups and time zone of a summary report."""

    group_by: Annotated[
        GroupBy,
        Field(description="One or two of day, week, month, project, source, comma-separated."),
    ] = "day"
    tz: Annotated[str, Field(description="An IANA time zone.", json_schema_extra=_zone_names)] = (
        "UTC"
    )

    @field_validator("tz")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        if value not in time_zones():
            raise ValueError("is not an IANA time zone such as Europe/Berlin")
        return value

    @property
    def groups(self) -> tuple[str, ...]:
        """Return the group names in the order asked."""
        return tuple(self.group_by.split(","))


class Answer(BaseModel):
    """A response body: documented in the contract, never parsed from a request."""

    # Only the OpenAPI document reads these models; pydantic builds them for it, on demand.
    model_config = ConfigDict(extra="forbid", defer_build=True)


class FieldProblem(Answer):
    """One invalid field of a request (of an uploaded file: with the line its row starts on)."""

    field: str | None
    message: str
    line: int | None = None


class Problem(Answer):
    """RFC 9457 problem details: the body of every error."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[FieldProblem] | None = None


class Account(Answer):
    """A user as the API shows it (never the password hash)."""

    id: uuid.UUID
    email: str
    is_active: bool
    created_at: datetime


class TokenPair(Answer):
    """The tokens a login or refresh hands out."""

    access_token: str
    token_type: Literal["Bearer"]
    expires_in: int
    refresh_token: str


class Entry(Answer):
    """A stored time entry."""

    id: uuid.UUID
    date: datetime
    duration: float
    project: str | None
    description: str | None
    source: str
    external_id: str | None
    created_at: datetime
    updated_at: datetime


class EntryList(RootModel[list[Entry]]):
    """Entries, as a JSON export holds them."""


class EntryPage(Answer):
    """One page of entries, newest first, and the cursor of the next page."""

    items: list[Entry]
    next_cursor: str | None


class BulkResult(Answer):
    """What a bulk upsert did, item by item."""

    created: int
    updated: int
    unchanged: int


class ReportRow(Answer):
    """One group of a summary: its keys (only the groups asked for), hours and entry count."""

    day: date | None = None
    week: date | None = Field(default=None, description="The Monday of the ISO week.")
    month: Annotated[str, StringConstraints(pattern=r"^[0-9]{4}-[0-9]{2}$")] | None = None
    project: str | None = None
    source: str | None = None
    hours: float
    entries: int


class ReportTotal(Answer):
    """The sum over every group."""

    hours: float
    entries: int


class ReportSummary(Answer):
    """Hours and entry counts per group, and their total."""

    rows: list[ReportRow]
    total: ReportTotal


class ServiceToken(Answer):
    """A service access token from the client-credentials grant (no refresh token)."""

    access_token: str
    token_type: Literal["Bearer"]
    expires_in: int
    scope: str


class TokenRequest(BaseModel):
    """The client-credentials grant's form (RFC 6749 4.4); the client may instead use Basic."""

    model_config = ConfigDict(extra="forbid")

    grant_type: Literal["client_credentials"]
    scope: str | None = None
    client_id: str | None = None
    client_secret: str | None = None


class OAuthProblem(Answer):
    """A token-endpoint error in RFC 6749 section 5.2's shape."""

    error: Literal[
        "invalid_request",
        "invalid_client",
        "invalid_grant",
        "unsupported_grant_type",
        "invalid_scope",
        "unauthorized_client",
    ]
    error_description: str


class Jwk(Answer):
    """One Ed25519 public key (RFC 8037 OKP)."""

    kty: Literal["OKP"]
    crv: Literal["Ed25519"]
    x: str
    kid: str
    alg: Literal["EdDSA"]
    use: Literal["sig"]


class JwkSet(Answer):
    """The public keys tokens are verified with, by kid."""

    keys: list[Jwk]


class Alive(Answer):
    """The process serves requests."""

    status: Literal["alive"]


class Healthy(Answer):
    """The database answered at TIMESTAMP."""

    status: Literal["healthy"]
    timestamp: datetime


class Unhealthy(Answer):
    """The database did not answer."""

    status: Literal["unhealthy"]
    error: str


class Ready(Answer):
    """The database answers and every migration is applied."""

    status: Literal["ready"]


class Unready(Answer):
    """What keeps the service from being ready: the database or pending migrations."""

    status: Literal["unready"]
    failed: Literal["database", "migrations"]
    detail: str


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
        return _within_range(date), uuid.UUID(entry_id)
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
    """Serialize a time entry: a model, or a dict of its fields."""
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


ImportFormat = Literal["toggl_csv", "clockify_csv", "harvest_csv", "generic_csv"]


class ImportOptions(Strict):
    """The form fields of an upload besides the file (form text, so not strict)."""

    model_config = ConfigDict(extra="forbid", strict=False)

    format: ImportFormat | None = None
    timezone: Annotated[str, StringConstraints(min_length=1, max_length=64)] = "UTC"
    dry_run: bool = False

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        zone(value)
        return value

    def zone(self) -> ZoneInfo:
        """Return the timezone as a ZoneInfo."""
        return zone(self.timezone)


def zone(name: str) -> ZoneInfo:
    """Return the IANA zone NAME; an unknown name is a ValueError."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{name!r} is not an IANA timezone name") from None


# Length is checked as sent (as the contract says), then the token is trimmed: trimming
# first let 1,025 characters with padding through a declared maxLength of 1,024.
Secret = Annotated[
    str, StringConstraints(min_length=1, max_length=1024, pattern=r"\S"), AfterValidator(str.strip)
]


class TogglIntegrationIn(Strict):
    """Toggl Track credentials: the API token and, optionally, one workspace to sync."""

    api_token: Secret
    workspace_id: Annotated[int, Field(gt=0)] | None = None

    @field_validator("workspace_id")
    @classmethod
    def _as_text(cls, value: int | None) -> str | None:
        return None if value is None else str(value)


# An Atlassian account id (`5b10ac8d82e05b22cc7d4ef5`, `557058:f58131cb-...`), as stored.
AccountId = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9:_-]*$")
]


class TempoIntegrationIn(Strict):
    """Tempo credentials, whose worklogs to read, the zone of start times, and a Jira.

    Only `account_id`'s worklogs are read; without it, those of the Jira token's owner.
    """

    api_token: Secret
    account_id: AccountId | None = None
    timezone: Annotated[str, StringConstraints(min_length=1, max_length=64)] = "UTC"
    jira_site: (
        Annotated[str, StringConstraints(pattern=r"^https?://[^/\s\x00]+[^\x00]*$", max_length=255)]
        | None
    ) = None
    jira_email: EmailStr | None = None
    jira_token: Secret | None = None

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        zone(value)
        return value

    @model_validator(mode="after")
    def _jira_together(self) -> TempoIntegrationIn:
        if (self.jira_site is None) != (self.jira_token is None):
            raise ValueError("jira_site and jira_token go together")
        if self.account_id is None and self.jira_site is None:
            raise ValueError(
                "account_id (whose worklogs to read) is required without jira_site and jira_token"
            )
        if self.jira_site:
            self.jira_site = self.jira_site.rstrip("/")
        return self


IntegrationIn = TogglIntegrationIn | TempoIntegrationIn


class SyncRequest(Strict):
    """An optional range of days to (re)read; without it the sync continues from its cursor."""

    model_config = ConfigDict(extra="forbid", strict=False, populate_by_name=True)

    from_: date | None = Field(default=None, alias="from")
    to: date | None = None

    @model_validator(mode="after")
    def _ordered(self) -> SyncRequest:
        if self.from_ and self.to and self.from_ > self.to:
            raise ValueError("from must not be after to")
        return self


def integration_json(integration: Integration) -> dict[str, Any]:
    """Serialize an integration, never its tokens."""
    body: dict[str, Any] = {"source": integration.source}
    if integration.source == "toggl":
        body["workspace_id"] = integration.workspace_id
    else:
        body.update(
            timezone=integration.timezone,
            jira_site=integration.jira_site,
            jira_email=integration.jira_email,
            has_jira_token=integration.jira_token_ciphertext is not None,
        )
    return {
        **body,
        "created_at": iso(integration.created_at),
        "updated_at": iso(integration.updated_at),
    }


def sync_state_json(source: str, state: SyncState | None, configured: bool) -> dict[str, Any]:
    """Serialize the sync status of one source (never run: nulls and zeros)."""

    def when(value: datetime | None) -> str | None:
        return None if value is None else iso(value)

    counts = ("created", "updated", "unchanged", "deleted", "skipped")
    return {
        "source": source,
        "configured": configured,
        "running": state is not None and state.running_since is not None,
        "last_started_at": when(state and state.last_started_at),
        "last_finished_at": when(state and state.last_finished_at),
        "last_status": state and state.last_status,
        "last_error": state and state.last_error,
        "cursor": state and state.cursor,
        "counts": {name: getattr(state, name) if state else 0 for name in counts},
    }


class ImportUpload(ImportOptions):
    """The multipart form of an upload: the export file and its options."""

    file: bytes
    # A form field is absent, never null: without it the header row decides.
    format: ImportFormat = Field(default=None)


class ImportOutcome(Answer):
    """What an upload did (or, with dry_run, would do)."""

    format: str
    source: str
    timezone: str
    dry_run: bool
    rows: int
    created: int
    updated: int
    unchanged: int
    skipped: int
    skipped_by_reason: dict[str, int]


class IntegrationOut(Answer):
    """A stored integration, without its tokens (Toggl and Tempo fill different fields)."""

    source: str
    workspace_id: str | None = None
    timezone: str | None = None
    jira_site: str | None = None
    jira_email: str | None = None
    has_jira_token: bool | None = None
    created_at: datetime
    updated_at: datetime


class IntegrationList(Answer):
    """The caller's integrations."""

    items: list[IntegrationOut]


class SyncCounts(Answer):
    """What a sync run did to the stored entries."""

    created: int
    updated: int
    unchanged: int
    deleted: int
    skipped: int


class SyncOutcome(SyncCounts):
    """A finished sync run and the cursor the next one continues from."""

    source: str
    status: str
    cursor: str


class SyncSourceStatus(Answer):
    """The sync of one source: configured, running, and its last run."""

    source: str
    configured: bool
    running: bool
    last_started_at: datetime | None
    last_finished_at: datetime | None
    last_status: str | None
    last_error: str | None
    cursor: str | None
    counts: SyncCounts


class SyncStatusList(Answer):
    """The sync status of every source."""

    items: list[SyncSourceStatus]
