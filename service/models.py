"""Peewee models and their query helpers. No Flask here."""

from __future__ import annotations

import json
import os
import time
import uuid
from datetime import UTC
from datetime import datetime

import peewee

from service.db import db

TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S.%f+00:00"
# What an entry may hold. Requests, imports and syncs check these before a row is written.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
MAX_HOURS = 24
MAX_SECONDS = MAX_HOURS * 3600
MAX_PROJECT = 255
MAX_EXTERNAL_ID = 255
MAX_DESCRIPTION = 10_000
# An entry's tags: a set of at most MAX_TAGS names of at most MAX_TAG characters each.
MAX_TAGS = 20
MAX_TAG = 50
SOURCE_PATTERN = r"[a-z0-9][a-z0-9_-]{0,31}"
# The index that keeps a user's running timers (entries without a duration) to one.
ONE_RUNNING_INDEX = "time_entries_one_running"
# A job's states: waiting for a worker, taken by one, and the two ends.
QUEUED, RUNNING, SUCCEEDED, FAILED = "queued", "running", "succeeded", "failed"
ACTIVE = (QUEUED, RUNNING)
# What a sync did to the stored entries.
COUNTS = ("created", "updated", "unchanged", "deleted", "skipped")
# A person's role: admin (everything), manager (the teams they manage), member (their own).
ADMIN, MANAGER, MEMBER = "admin", "manager", "member"
ROLES = (ADMIN, MANAGER, MEMBER)
MAX_NAME = 100
# The hex digit after a UUIDv7's third dash: the variant (binary 10), then two random bits.
_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


def utcnow() -> datetime:
    """Return the current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


def time_ordered_ids(count: int) -> list[str]:
    """Return COUNT new UUIDv7s (RFC 9562) as text: the Unix time in ms, the version, then
    74 random bits, laid out as `tttttttt-tttt-7rrr-Vrrr-rrrrrrrrrrrr` (V holds the variant).

    Time entries' ids. Keys made at the same time sit together at the right end of the
    primary key's B-tree, where random ones touch a page each all over it, so big imports
    write fewer pages. Text, because the PostgreSQL upsert sends them in a JSON document.
    """
    stamp = f"{time.time_ns() // 1_000_000:012x}"
    head = f"{stamp[:8]}-{stamp[8:]}-7"
    noise = os.urandom(10 * count).hex()
    return [
        f"{head}{noise[at : at + 3]}-{_VARIANT[noise[at + 3]]}{noise[at + 4 : at + 7]}-"
        f"{noise[at + 7 : at + 19]}"
        for at in range(0, 20 * count, 20)
    ]


def time_ordered_id() -> uuid.UUID:
    """Return one new UUIDv7 (see time_ordered_ids)."""
    return uuid.UUID(time_ordered_ids(1)[0])


class UTCDateTimeField(peewee.DateTimeField):
    """A timezone-aware timestamp, always written in UTC and read back in UTC.

    PostgreSQL stores it as `timestamptz`. Values travel as fixed-width UTC text, which
    PostgreSQL casts exactly and which SQLite (no timestamp type) compares in time order.
    """

    field_type = "TIMESTAMPTZ"

    def db_value(self, value: datetime | None) -> str | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are ambiguous; pass a timezone-aware value")
        return value.astimezone(UTC).strftime(TIMESTAMP_FORMAT)

    def python_value(self, value: datetime | str | None) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        return value.astimezone(UTC)


class TagsField(peewee.Field):
    """A set of tags, stored as a JSON array sorted in code-point order, without repeats.

    One canonical text for each set, so equal sets compare equal in SQL and in Python.
    PostgreSQL keeps it as jsonb (containment, jsonb_array_elements_text); SQLite as that
    JSON text (json_each).
    """

    field_type = "JSONB"

    def db_value(self, value: list[str] | None) -> str | None:
        if value is None:
            return None
        return json.dumps(sorted(set(value)), ensure_ascii=False, separators=(",", ":"))

    def python_value(self, value: str | list[str] | None) -> list[str] | None:
        return json.loads(value) if isinstance(value, str) else value


class BaseModel(peewee.Model):
    """Every table lives in the database the proxy is bound to."""

    class Meta:
        database = db
        legacy_table_names = False


class User(BaseModel):
    """A person who signs in with email and password."""

    id = peewee.UUIDField(primary_key=True, default=uuid.uuid4)
    email = peewee.CharField(max_length=254, unique=True)
    password_hash = peewee.CharField(max_length=60)
    is_active = peewee.BooleanField(default=True)
    created_at = UTCDateTimeField(default=utcnow)
    # Added by a later migration, so last.
    # The database defaults give the people of an earlier version their role and version.
    role = peewee.CharField(
        max_length=16,
        default=MEMBER,
        constraints=[peewee.SQL(f"DEFAULT '{MEMBER}'"), peewee.Check(f"role IN {ROLES}")],
    )
    display_name = peewee.CharField(max_length=MAX_NAME, null=True)
    # Raised when a password changes or the account is deactivated: access tokens carry the
    # version they were issued at (`ver`), and an older one stops working at once.
    token_version = peewee.IntegerField(default=0, constraints=[peewee.SQL("DEFAULT 0")])

    class Meta:
        table_name = "users"


class Team(BaseModel):
    """A named group of people; its managers see and edit its members' time."""

    id = peewee.UUIDField(primary_key=True, default=uuid.uuid4)
    name = peewee.CharField(max_length=MAX_NAME, unique=True)
    created_at = UTCDateTimeField(default=utcnow)

    class Meta:
        table_name = "teams"


class Membership(BaseModel):
    """A person in a team, as a member or as one of its managers."""

    team = peewee.ForeignKeyField(Team, on_delete="CASCADE", backref="memberships", index=False)
    user = peewee.ForeignKeyField(User, on_delete="CASCADE", backref="memberships")
    is_manager = peewee.BooleanField(default=False)
    created_at = UTCDateTimeField(default=utcnow)

    class Meta:
        table_name = "memberships"
        primary_key = peewee.CompositeKey("team", "user")


class Invitation(BaseModel):
    """A one-time sign-up for one email, with the role and teams it grants.

    Only a SHA-256 digest of its token is kept; `team_ids` holds the teams' ids,
    space-separated.
    """

    id = peewee.UUIDField(primary_key=True, default=uuid.uuid4)
    token_hash = peewee.CharField(max_length=64, unique=True)
    email = peewee.CharField(max_length=254)
    role = peewee.CharField(max_length=16, default=MEMBER)
    team_ids = peewee.TextField(default="")
    invited_by = peewee.ForeignKeyField(User, on_delete="CASCADE", index=False)
    created_at = UTCDateTimeField(default=utcnow)
    expires_at = UTCDateTimeField()
    used_at = UTCDateTimeField(null=True)

    class Meta:
        table_name = "invitations"


class PersonalToken(BaseModel):
    """A person's long-lived token for scripts: its scopes, expiry and revocation.

    Only a SHA-256 digest of the token is kept; `scopes` is space-separated.
    """

    id = peewee.UUIDField(primary_key=True, default=uuid.uuid4)
    user = peewee.ForeignKeyField(User, on_delete="CASCADE", backref="personal_tokens")
    name = peewee.CharField(max_length=MAX_NAME)
    token_hash = peewee.CharField(max_length=64, unique=True)
    scopes = peewee.CharField(max_length=255)
    created_at = UTCDateTimeField(default=utcnow)
    expires_at = UTCDateTimeField(null=True)
    revoked_at = UTCDateTimeField(null=True)

    class Meta:
        table_name = "personal_tokens"


class RefreshToken(BaseModel):
    """One issued refresh token, usable once; rotation marks it used."""

    jti = peewee.UUIDField(primary_key=True)
    user = peewee.ForeignKeyField(User, on_delete="CASCADE", backref="refresh_tokens")
    expires_at = UTCDateTimeField()
    used_at = UTCDateTimeField(null=True)
    created_at = UTCDateTimeField(default=utcnow)

    class Meta:
        table_name = "refresh_tokens"


class TimeEntry(BaseModel):
    """A span of tracked time, owned by one user, from one source."""

    id = peewee.UUIDField(primary_key=True, default=time_ordered_id)
    user = peewee.ForeignKeyField(User, on_delete="CASCADE", backref="entries", index=False)
    source = peewee.CharField(max_length=32, default="manual")
    external_id = peewee.CharField(max_length=MAX_EXTERNAL_ID, null=True)
    date = UTCDateTimeField()
    # Null while the entry is a running timer (migration 011); the check passes a null.
    duration = peewee.DoubleField(
        null=True, constraints=[peewee.Check(f"duration > 0 AND duration <= {MAX_HOURS}")]
    )
    project = peewee.CharField(max_length=MAX_PROJECT, null=True)
    description = peewee.TextField(null=True)
    created_at = UTCDateTimeField(default=utcnow)
    updated_at = UTCDateTimeField(default=utcnow)
    # Added by a later migration, so last: the user or service client that last changed it.
    updated_by = peewee.UUIDField(null=True)
    # Added by migration 010, so last; the database defaults fill the earlier entries.
    billable = peewee.BooleanField(default=False, constraints=[peewee.SQL("DEFAULT FALSE")])
    tags = TagsField(default=list, constraints=[peewee.SQL("DEFAULT '[]'")])
    client = peewee.CharField(max_length=MAX_PROJECT, null=True)
    task = peewee.CharField(max_length=MAX_PROJECT, null=True)

    class Meta:
        table_name = "time_entries"
        indexes = (
            (("user", "source", "external_id"), True),
            (("user", "date"), False),
            # Organisation-wide and team lists, newest first (migration 008).
            (("date", "id"), False),
        )


# At most one running timer per user (migration 011): the database settles two starts at once.
TimeEntry.add_index(
    TimeEntry.index(
        TimeEntry.user, unique=True, where=TimeEntry.duration.is_null(), name=ONE_RUNNING_INDEX
    )
)


class Integration(BaseModel):
    """A user's credentials for one source (toggl, tempo); tokens only as Fernet ciphertext."""

    id = peewee.UUIDField(primary_key=True, default=uuid.uuid4)
    user = peewee.ForeignKeyField(User, on_delete="CASCADE", backref="integrations", index=False)
    source = peewee.CharField(max_length=32)
    token_ciphertext = peewee.TextField()
    workspace_id = peewee.CharField(max_length=64, null=True)
    timezone = peewee.CharField(max_length=64, default="UTC")
    jira_site = peewee.CharField(max_length=255, null=True)
    jira_email = peewee.CharField(max_length=254, null=True)
    jira_token_ciphertext = peewee.TextField(null=True)
    created_at = UTCDateTimeField(default=utcnow)
    updated_at = UTCDateTimeField(default=utcnow)
    # Added by a later migration, so last: the Atlassian account whose Tempo worklogs are read.
    account_id = peewee.CharField(max_length=64, null=True)

    class Meta:
        table_name = "integrations"
        indexes = ((("user", "source"), True),)

    @property
    def has_jira_token(self) -> bool:
        """Tell whether a Jira token is stored (never which)."""
        return self.jira_token_ciphertext is not None


class SyncState(BaseModel):
    """The sync of one user and source: who runs it now, the cursor, the last run's outcome."""

    id = peewee.UUIDField(primary_key=True, default=uuid.uuid4)
    user = peewee.ForeignKeyField(User, on_delete="CASCADE", backref="sync_states", index=False)
    source = peewee.CharField(max_length=32)
    running_since = UTCDateTimeField(null=True)
    last_started_at = UTCDateTimeField(null=True)
    last_finished_at = UTCDateTimeField(null=True)
    last_status = peewee.CharField(max_length=16, null=True)
    last_error = peewee.TextField(null=True)
    cursor = peewee.CharField(max_length=64, null=True)
    created = peewee.IntegerField(default=0)
    updated = peewee.IntegerField(default=0)
    unchanged = peewee.IntegerField(default=0)
    deleted = peewee.IntegerField(default=0)
    skipped = peewee.IntegerField(default=0)

    class Meta:
        table_name = "sync_states"
        indexes = ((("user", "source"), True),)


class Job(BaseModel):
    """One sync of a user's source, asked for or due: its state, timestamps and outcome.

    PostgreSQL holds the work to do; the queue only carries wake-ups naming a job's id.
    """

    id = peewee.UUIDField(primary_key=True, default=uuid.uuid4)
    user = peewee.ForeignKeyField(User, on_delete="CASCADE", backref="jobs", index=False)
    source = peewee.CharField(max_length=32)
    kind = peewee.CharField(max_length=16)
    state = peewee.CharField(max_length=16, default="queued")
    from_day = peewee.DateField(null=True)
    to_day = peewee.DateField(null=True)
    created = peewee.IntegerField(default=0)
    updated = peewee.IntegerField(default=0)
    unchanged = peewee.IntegerField(default=0)
    deleted = peewee.IntegerField(default=0)
    skipped = peewee.IntegerField(default=0)
    error = peewee.TextField(null=True)
    attempts = peewee.IntegerField(default=0)
    created_at = UTCDateTimeField(default=utcnow)
    woken_at = UTCDateTimeField(null=True)
    started_at = UTCDateTimeField(null=True)
    heartbeat_at = UTCDateTimeField(null=True)
    finished_at = UTCDateTimeField(null=True)

    class Meta:
        table_name = "jobs"
        indexes = ((("user", "source", "created_at"), False),)

    @property
    def counts(self) -> dict[str, int]:
        """Return what the job did to the stored entries (zeros until it succeeded)."""
        return {name: getattr(self, name) for name in COUNTS}


# At most one queued or running job per user and source; the sweep's scans use it too.
Job.add_index(
    Job.index(
        Job.user, Job.source, unique=True, where=Job.state.in_(ACTIVE), name="jobs_one_active"
    )
)


class ServiceClient(BaseModel):
    """Another service that gets tokens by the client-credentials grant.

    Only a SHA-256 digest of its secret is kept; `scopes` is the space-separated grant.
    """

    id = peewee.UUIDField(primary_key=True, default=uuid.uuid4)
    name = peewee.CharField(max_length=100)
    secret_hash = peewee.CharField(max_length=64)
    scopes = peewee.CharField(max_length=255)
    created_at = UTCDateTimeField(default=utcnow)
    revoked_at = UTCDateTimeField(null=True)

    class Meta:
        table_name = "service_clients"

    @property
    def scope_set(self) -> frozenset[str]:
        """Return the scopes this client may request."""
        return frozenset(self.scopes.split())

    @classmethod
    def active(cls, client_id: object) -> ServiceClient | None:
        """Return the unrevoked client with CLIENT_ID (any text), or None."""
        try:
            key = uuid.UUID(str(client_id))
        except ValueError:
            return None
        return cls.get_or_none((cls.id == key) & cls.revoked_at.is_null())


MODELS: tuple[type[BaseModel], ...] = (
    User,
    RefreshToken,
    Team,
    Membership,
    Invitation,
    PersonalToken,
    TimeEntry,
    Integration,
    SyncState,
    Job,
    ServiceClient,
)
