"""Request models: what each route accepts, validated strictly (pydantic)."""

from __future__ import annotations

import uuid
from datetime import date
from datetime import timedelta
from typing import Annotated
from typing import Literal
from typing import Self

from pydantic import MISSING
from pydantic import AfterValidator
from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import EmailStr
from pydantic import Field
from pydantic import StringConstraints
from pydantic import ValidationInfo
from pydantic import field_validator
from pydantic import model_validator
from werkzeug.datastructures import MultiDict

from service.models import MAX_TAGS
from service.models import MEMBER
from service.permissions import PERSON_SCOPES
from service.schemas.fields import Description
from service.schemas.fields import ExternalId
from service.schemas.fields import Hours
from service.schemas.fields import Label
from service.schemas.fields import Name
from service.schemas.fields import NewPassword
from service.schemas.fields import Password
from service.schemas.fields import Project
from service.schemas.fields import Role
from service.schemas.fields import Source
from service.schemas.fields import Strict
from service.schemas.fields import Tag
from service.schemas.fields import Tags
from service.schemas.fields import Timestamp
from service.schemas.fields import TimeZone

MAX_BULK_ITEMS = 1000
MAX_PAGE_SIZE = 500
# The most people one query may name with repeated `user=`.
MAX_QUERY_USERS = 100
# The query parameters that say whose entries a read covers.
WHOSE = ("user_id", "user", "team", "all")
# The query parameters that may repeat.
REPEATABLE = ("user", "tag")
GROUPS = (
    "day",
    "week",
    "month",
    "project",
    "source",
    "user",
    "team",
    "client",
    "task",
    "tag",
    "billable",
)
GROUP_BY_CHOICES = GROUPS + tuple(f"{a},{b}" for a in GROUPS for b in GROUPS if a != b)
GroupBy = Literal[GROUP_BY_CHOICES]  # type: ignore[valid-type]
ImportFormat = Literal["toggl_csv", "clockify_csv", "harvest_csv", "generic_csv"]
# Length is checked as sent (as the contract says), then the token is trimmed: trimming
# first let 1,025 characters with padding through a declared maxLength of 1,024.
Secret = Annotated[
    str, StringConstraints(min_length=1, max_length=1024, pattern=r"\S"), AfterValidator(str.strip)
]


class Credentials(Strict):
    """Email and password, as sent to register and login."""

    email: EmailStr
    password: Password

    @field_validator("email")
    @classmethod
    def _lowercase(cls, value: str) -> str:
        return value.lower()


class Registration(Credentials):
    """A new account: the password must fit bcrypt's 72-byte limit; an invitation's token
    when sign-up is by invitation."""

    password: NewPassword
    invitation: Secret | None = None


class RefreshRequest(Strict):
    """A refresh token, to rotate or revoke."""

    refresh_token: Annotated[str, StringConstraints(min_length=1, max_length=4096)]


class TokenRequest(BaseModel):
    """The client-credentials grant's form (RFC 6749 4.4); the client may instead use Basic."""

    model_config = ConfigDict(extra="forbid")

    grant_type: Literal["client_credentials"]
    scope: str | None = None
    client_id: str | None = None
    client_secret: str | None = None


class EntryIn(Strict):
    """A new time entry."""

    date: Timestamp
    duration: Hours
    project: Project | None = None
    description: Description | None = None
    source: Source = "manual"
    external_id: ExternalId | None = None
    billable: bool = False
    tags: Tags = Field(default=[], description="A set: trimmed, repeats dropped, sorted.")
    client: Label | None = None
    task: Label | None = None


class EntryPatch(Strict):
    """Changes to a time entry: only the fields sent change; date, duration, billable and
    tags refuse null."""

    date: Timestamp | MISSING = MISSING
    duration: Hours | MISSING = MISSING
    project: Project | None = None
    description: Description | None = None
    billable: bool | MISSING = MISSING
    tags: Tags | MISSING = MISSING
    client: Label | None = None
    task: Label | None = None


class BulkEntry(EntryIn):
    """One entry of a bulk upsert: its key (source, external_id) is required."""

    external_id: ExternalId


class BulkRequest(Strict):
    """Up to 1,000 entries to upsert by (source, external_id)."""

    entries: Annotated[list[BulkEntry], Field(min_length=1, max_length=MAX_BULK_ITEMS)]


class EntryFilters(Strict):
    """Whose entries a query covers and which of them (from query-string text, so not strict).

    Without `user`, `team` or `all` it covers the acting user's entries (the caller's, or
    `user_id`'s); those four name whose entries in different ways, so at most one is given.
    """

    model_config = ConfigDict(extra="forbid", strict=False, populate_by_name=True)

    from_: Timestamp | None = Field(default=None, alias="from")
    to: Timestamp | None = None
    source: Source | None = None
    project: Project | None = None
    billable: bool | None = None
    tag: Annotated[list[Tag], Field(min_length=1, max_length=MAX_TAGS)] | None = Field(
        default=None, description="Entries with every one of these tags (repeat the parameter)."
    )
    client: Label | None = None
    task: Label | None = None
    user_id: uuid.UUID | None = Field(
        default=None, description="The acting user, for service tokens with entries:any-user."
    )
    # Organisation-wide reads (issue 27), within the people the caller may see.
    user: Annotated[list[uuid.UUID], Field(min_length=1, max_length=MAX_QUERY_USERS)] | None = (
        Field(default=None, description="These people's entries (repeat the parameter).")
    )
    team: uuid.UUID | None = Field(default=None, description="The entries of a team's people.")
    all_: bool = Field(
        default=False, alias="all", description="The entries of everyone the caller may see."
    )

    @classmethod
    def from_query(cls, args: MultiDict[str, str]) -> Self:
        """Validate a query string: repeated `user` and `tag` keys as lists, any other key's
        first value."""
        data: dict[str, object] = dict(args.items())
        for repeatable in REPEATABLE:
            if repeatable in args:
                data[repeatable] = args.getlist(repeatable)
        return cls.model_validate(data)

    @model_validator(mode="after")
    def _one_way_to_say_whose(self) -> Self:
        said = (self.user_id is not None, self.user is not None, self.team is not None, self.all_)
        given = [name for name, yes in zip(WHOSE, said, strict=True) if yes]
        if len(given) > 1:
            raise ValueError(f"give at most one of {', '.join(WHOSE)} (got {', '.join(given)})")
        return self

    @property
    def org_wide(self) -> bool:
        """Tell whether the query names whose entries by user, team or all."""
        return bool(self.user or self.team or self.all_)


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
        Field(
            description="One or two of day, week, month, project, source, user, team, "
            "client, task, tag, billable, comma-separated. By tag an entry counts in the row "
            "of each of its tags."
        ),
    ] = "day"
    tz: TimeZone = "UTC"
    include_running: bool = Field(
        default=False, description="Count running timers too, each up to now."
    )

    @property
    def groups(self) -> tuple[str, ...]:
        """Return the group names in the order asked."""
        return tuple(self.group_by.split(","))


class ImportOptions(Strict):
    """The form fields of an upload besides the file (form text, so not strict)."""

    model_config = ConfigDict(extra="forbid", strict=False)

    format: ImportFormat | None = None
    timezone: TimeZone = "UTC"
    dry_run: bool = False
    unknown_users: Annotated[
        Literal["reject", "skip"],
        Field(
            description="What to do with rows naming people you may not import for: refuse "
            "the file (reject), or skip those rows and count them (skip)."
        ),
    ] = "reject"


class ImportUpload(ImportOptions):
    """The multipart form of an upload: the export file and its options."""

    file: bytes
    # A form field is absent, never null: without it the header row decides.
    format: ImportFormat | MISSING = MISSING


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
    timezone: TimeZone = "UTC"
    jira_site: (
        Annotated[str, StringConstraints(pattern=r"^https?://[^/\s\x00]+[^\x00]*$", max_length=255)]
        | None
    ) = None
    jira_email: EmailStr | None = None
    jira_token: Secret | None = None

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


class JobQuery(Strict):
    """Which of the caller's latest jobs to list (from query-string text, so not strict)."""

    model_config = ConfigDict(extra="forbid", strict=False)

    source: Literal["toggl", "tempo"] | None = None


class SyncRequest(Strict):
    """An optional range of days to (re)read; without it the sync continues from its cursor.

    Validate it with the context {"history_days": SYNC_HISTORY_DAYS, "today": date}: no
    day may lie further back than that.
    """

    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True)

    from_: date | None = Field(
        default=None, alias="from", description="The first day; at most SYNC_HISTORY_DAYS ago."
    )
    to: date | None = Field(default=None, description="The last day; not before `from`.")

    @field_validator("from_", "to")
    @classmethod
    def _within_history(cls, value: date | None, info: ValidationInfo) -> date | None:
        context = info.context or {}
        earliest = context["today"] - timedelta(days=context["history_days"])
        if value is not None and value < earliest:
            raise ValueError(
                f"must not be before {earliest.isoformat()} (SYNC_HISTORY_DAYS days back)"
            )
        return value

    @model_validator(mode="after")
    def _ordered(self) -> SyncRequest:
        if self.from_ and self.to and self.from_ > self.to:
            raise ValueError("from must not be after to")
        return self


# Accounts: password change and reset, invitations.


class PasswordChange(Strict):
    """The current password and the one to set instead."""

    current_password: Password
    new_password: NewPassword


class PasswordReset(Strict):
    """A one-time reset token (from `flask users reset-password`) and the password to set."""

    token: Annotated[str, StringConstraints(min_length=1, max_length=4096)]
    password: NewPassword


class InvitationIn(Strict):
    """Whom to invite, with which role, into which teams."""

    email: EmailStr
    role: Role = MEMBER
    teams: Annotated[list[uuid.UUID], Field(max_length=100)] = []

    @field_validator("email")
    @classmethod
    def _lowercase(cls, value: str) -> str:
        return value.lower()

    @field_validator("teams")
    @classmethod
    def _distinct(cls, value: list[uuid.UUID]) -> list[uuid.UUID]:
        return list(dict.fromkeys(value))


# Users, teams and personal access tokens (issue 27).
# How long a personal access token lives unless asked otherwise, and at most.
TOKEN_TTL_DEFAULT = 90 * 24 * 3600
TOKEN_TTL_MAX = 365 * 24 * 3600
ScopeName = Literal[tuple(sorted(PERSON_SCOPES))]  # type: ignore[valid-type]


class UserQuery(Strict):
    """Filters and page of the users list (from query-string text, so not strict)."""

    model_config = ConfigDict(extra="forbid", strict=False)

    email: Annotated[str, StringConstraints(min_length=1, max_length=254)] | None = Field(
        default=None, description="The exact email, in any case."
    )
    team: uuid.UUID | None = Field(default=None, description="Only the members of this team.")
    active: bool | None = None
    limit: Annotated[int, Field(ge=1, le=MAX_PAGE_SIZE)] = 50
    cursor: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None


class UserPatch(Strict):
    """Changes to an account: role and is_active (admins), display_name (admins, or oneself)."""

    role: Role | MISSING = MISSING
    is_active: bool | MISSING = MISSING
    display_name: Name | None = None


class TeamIn(Strict):
    """A team's name: a new team's, or a new name."""

    name: Name


class PersonalTokenIn(Strict):
    """A new personal access token: its name, scopes (at most the role's) and lifetime."""

    name: Name
    scopes: Annotated[list[ScopeName], Field(min_length=1, max_length=len(PERSON_SCOPES))]
    expires_in: Annotated[
        int, Field(ge=60, le=TOKEN_TTL_MAX, description="Seconds until it expires.")
    ] = TOKEN_TTL_DEFAULT


class TimerStart(Strict):
    """A timer to start: what it is for and when it started (default: now).

    Every field but `start` is stored on the entry as sent.
    """

    project: Project | None = None
    description: Description | None = None
    billable: bool = False
    tags: Tags = Field(default=[], description="A set: trimmed, repeats dropped, sorted.")
    client: Label | None = None
    task: Label | None = None
    start: Timestamp | None = None


class TimerStop(Strict):
    """When the running timer stopped (default: now)."""

    stop: Timestamp | None = None
