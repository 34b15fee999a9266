"""Response models: the one description of every JSON answer, for views, export and contract."""

from __future__ import annotations

import uuid
from datetime import date
from datetime import datetime
from typing import Annotated
from typing import Any
from typing import Literal

from pydantic import BaseModel
from pydantic import BeforeValidator
from pydantic import ConfigDict
from pydantic import Field
from pydantic import RootModel
from pydantic import StringConstraints
from pydantic import computed_field

from service.schemas.fields import Role


def dump(model: type[BaseModel], value: Any) -> Any:
    """Return VALUE (an object, or a dict of its fields) as MODEL's JSON-ready data.

    A field VALUE lacks and MODEL has a default for is left out (a report row shows only
    the groups asked for).
    """
    answer = model.model_validate(value, from_attributes=True)
    return answer.model_dump(mode="json", exclude_unset=True)


class Answer(BaseModel):
    """A response body: what the service answers, never parsed from a client."""

    # Built on first use rather than at import, so a worker builds only what it answers.
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
    display_name: str | None
    role: Role
    is_active: bool
    created_at: datetime


class TokenPair(Answer):
    """The tokens a login or refresh hands out."""

    access_token: str
    token_type: Literal["Bearer"]
    expires_in: int
    refresh_token: str


class ServiceToken(Answer):
    """A service access token from the client-credentials grant (no refresh token)."""

    access_token: str
    token_type: Literal["Bearer"]
    expires_in: int
    scope: str


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


class Entry(Answer):
    """A stored time entry, whose it is and who changed it last."""

    id: uuid.UUID
    user_id: uuid.UUID
    date: datetime
    duration: float | None = Field(description="Hours; null while the entry is a running timer.")
    project: str | None
    description: str | None
    source: str
    external_id: str | None
    created_at: datetime
    updated_at: datetime
    updated_by: uuid.UUID | None = Field(
        description="The user or service client that created or last changed it."
    )
    billable: bool
    tags: list[str] = Field(description="A set of tags, sorted, without repeats.")
    client: str | None
    task: str | None

    @computed_field(description="True while the entry is a running timer (no duration yet).")
    @property
    def running(self) -> bool:
        """Tell whether the entry is a running timer."""
        return self.duration is None


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
    # Grouped by user or team (issue 27); a team's row names today's members' entries.
    user_id: uuid.UUID | None = None
    user_email: str | None = None
    team_id: uuid.UUID | None = Field(default=None, description="Null: people in no team.")
    team: str | None = Field(default=None, description="The team's name.")
    client: str | None = None
    task: str | None = None
    tag: str | None = Field(default=None, description="Null: entries with no tag.")
    billable: bool | None = None
    hours: float
    billable_hours: float = Field(description="The hours of billable entries.")
    entries: int


class ReportTotal(Answer):
    """The sum over every group."""

    hours: float
    billable_hours: float
    entries: int


class ReportSummary(Answer):
    """Hours and entry counts per group, and their total."""

    rows: list[ReportRow]
    total: ReportTotal
    rows_overlap: bool = Field(
        description="True when some entry counts in more than one row (grouped by team, a "
        "person in two teams; by tag, an entry with two tags): the rows then add up to more "
        "than the total, which counts each entry once."
    )


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
    skipped_users: list[SkippedUser] = Field(
        description="With unknown_users=skip: the emails whose rows were skipped, and why."
    )


class TogglIntegrationOut(Answer):
    """Stored Toggl Track credentials, without the token."""

    source: Literal["toggl"]
    workspace_id: str | None
    created_at: datetime
    updated_at: datetime


class TempoIntegrationOut(Answer):
    """Stored Tempo credentials, without the tokens."""

    source: Literal["tempo"]
    account_id: str | None
    timezone: str
    jira_site: str | None
    jira_email: str | None
    has_jira_token: bool
    created_at: datetime
    updated_at: datetime


class IntegrationOut(
    RootModel[Annotated[TogglIntegrationOut | TempoIntegrationOut, Field(discriminator="source")]]
):
    """A stored integration, without its tokens (Toggl and Tempo keep different fields)."""


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


class Job(Answer):
    """A sync job: who asked, its state, when it ran, what it did or why it failed."""

    model_config = ConfigDict(extra="forbid", defer_build=True, serialize_by_alias=True)

    id: uuid.UUID
    source: str
    kind: Literal["requested", "scheduled", "cli"]
    state: Literal["queued", "running", "succeeded", "failed"]
    from_: date | None = Field(validation_alias="from_day", serialization_alias="from")
    to: date | None = Field(validation_alias="to_day")
    counts: SyncCounts
    error: str | None
    attempts: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class JobList(Answer):
    """The caller's latest jobs, newest first."""

    items: list[Job]


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
    """What keeps the service from being ready: shutting down, the database, or migrations."""

    status: Literal["unready"]
    failed: Literal["draining", "database", "migrations"]
    detail: str


# Team imports: the people an upload skipped.
class SkippedUser(Answer):
    """An email whose rows an upload skipped: why, how many rows, the first one's line."""

    email: str
    reason: Literal["unknown_user", "not_permitted"]
    rows: int
    line: int


# Accounts: invitations.


def _ids(value: Any) -> Any:
    """Read a space-separated list of ids (as an invitation stores its teams) as a list."""
    return value.split() if isinstance(value, str) else value


class Invitation(Answer):
    """A pending invitation: for whom, with which role, into which teams, until when."""

    id: uuid.UUID
    email: str
    role: Role
    teams: Annotated[list[uuid.UUID], BeforeValidator(_ids)] = Field(validation_alias="team_ids")
    invited_by: uuid.UUID = Field(validation_alias="invited_by_id")
    created_at: datetime
    expires_at: datetime


class IssuedInvitation(Invitation):
    """A new invitation with its token: shown this once, only its digest is kept."""

    token: str


class InvitationList(Answer):
    """The pending invitations the caller may see, newest first."""

    items: list[Invitation]


# Users, teams and personal access tokens (issue 27).
class TeamRef(Answer):
    """A team a person is in, and whether they manage it."""

    id: uuid.UUID
    name: str
    is_manager: bool


class Person(Account):
    """A user and the teams they are in."""

    teams: list[TeamRef]


class UserPage(Answer):
    """One page of users, oldest account first, and the cursor of the next page."""

    items: list[Account]
    next_cursor: str | None


class TeamSummary(Answer):
    """A team."""

    id: uuid.UUID
    name: str
    created_at: datetime


class TeamMember(Answer):
    """A person in a team."""

    user_id: uuid.UUID
    email: str
    display_name: str | None
    is_manager: bool


class TeamDetail(TeamSummary):
    """A team and its people."""

    members: list[TeamMember]


class TeamList(Answer):
    """The teams the caller may see, by name."""

    items: list[TeamSummary]


class PersonalTokenOut(Answer):
    """A personal access token, without the token itself."""

    id: uuid.UUID
    name: str
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None


class PersonalTokenCreated(PersonalTokenOut):
    """A new personal access token; `token` is shown this once."""

    token: str


class PersonalTokenList(Answer):
    """The caller's personal access tokens that are not revoked, newest first."""

    items: list[PersonalTokenOut]


class StartedTimer(Entry):
    """A timer just started (an entry), and the running one this start stopped, if any."""

    stopped: Entry | None = Field(
        description="The timer that was running, now stopped at this one's start; null if none."
    )
