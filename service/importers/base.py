"""What every CSV importer shares: decoding, header mapping, durations, times and keys."""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections import Counter
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from typing import NamedTuple
from zoneinfo import ZoneInfo

from service.errors import APIError
from service.models import EARLIEST
from service.models import LATEST
from service.models import MAX_SECONDS
from service.models import MAX_TAG
from service.models import MAX_TAGS

DELIMITERS = ",;\t"
CLOCK = re.compile(r"(\d+):([0-5]\d)(?::([0-5]\d))?")
HMS = re.compile(r"(\d+):([0-5]\d):([0-5]\d)")
NUMBER = re.compile(r"\d+(?:[.,]\d+)?|[.,]\d+")
UNIT = re.compile(r"^(?P<amount>.*?)\s*(?P<unit>min|h)?$")
# How exports write billable: Toggl, Clockify and Harvest Yes/No, ours true/false.
BILLABLE = {
    "yes": True,
    "true": True,
    "1": True,
    "no": False,
    "false": False,
    "0": False,
    "": False,
}
# The columns of an entry's labels; a format maps its own header names onto them.
LABEL_COLUMNS = ("billable", "tags", "client", "task")


class RowInvalid(ValueError):
    """One field of a row cannot be read; COLUMN names it as the file's header does."""

    def __init__(self, column: str | None, reason: str) -> None:
        super().__init__(reason)
        self.column = column
        self.reason = reason


@dataclass(frozen=True)
class RowError:
    """A bad row: where it starts in the file, which column, and why."""

    line: int
    column: str | None
    reason: str

    def as_dict(self) -> dict[str, object]:
        """Return the error in the problem+json `errors` shape, plus the line."""
        return {"line": self.line, "field": self.column, "message": self.reason}


class Span(NamedTuple):
    """What a format read from one row, before the shared rules apply."""

    start: datetime
    seconds: float | None
    project: str | None = None
    description: str | None = None
    identity: str = ""
    external_id: str | None = None
    duration_column: str | None = None
    source: str | None = None
    email: str = ""
    billable: bool = False
    tags: tuple[str, ...] = ()
    client: str | None = None
    task: str | None = None


@dataclass
class Named:
    """A person a file's rows name by email (not the acting user): where first, how often."""

    line: int
    rows: int = 0


@dataclass
class ImportResult:
    """The entries (plain dicts for service.entries) and the bad and skipped rows of a file.

    `people` holds every other email the entries name, `email_column` the file's own name
    of the column they come from.
    """

    format: str
    source: str
    rows: int = 0
    entries: list[dict[str, object]] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    people: dict[str, Named] = field(default_factory=dict)
    email_column: str | None = None


class Header:
    """A file's header row: its own names, and where each normalised name is first found."""

    def __init__(self, names: list[str]) -> None:
        self.names = names
        self.normalised = [normalise_header(name) for name in names]
        self._index = {name: i for i, name in reversed(list(enumerate(self.normalised)))}

    def find(self, keys: tuple[str, ...]) -> int | None:
        """Return the position of the first present column of KEYS (None: none is)."""
        return next((self._index[key] for key in keys if key in self._index), None)


class Layout:
    """Where a format's fields sit in one file: each field's column, found once per file.

    A format names its fields and, for each, the header names it is known by, the first
    present one winning (`"identity": ("email", "user")`). `read` turns a record into a
    dict of every field's stripped value ('' where the file has no such column);
    `names` gives the file's own name of each field's column, for errors.
    """

    def __init__(self, header: Header, columns: Mapping[str, tuple[str, ...]]) -> None:
        found = {field: header.find(keys) for field, keys in columns.items()}
        self._present = [(field, index) for field, index in found.items() if index is not None]
        self._absent = {field: "" for field, index in found.items() if index is None}
        self.names = {
            field: columns[field][0] if index is None else header.names[index]
            for field, index in found.items()
        }

    def read(self, values: list[str]) -> dict[str, str]:
        """Return the record VALUES as {field: stripped value}."""
        row = {field: values[index].strip() for field, index in self._present}
        row.update(self._absent)
        return row


def require(row: Mapping[str, str], names: Mapping[str, str], field: str) -> str:
    """Return the row's FIELD; empty is an error naming the file's column."""
    value = row[field]
    if not value:
        raise RowInvalid(names[field], "is required")
    return value


RowParser = Callable[[dict[str, str], Mapping[str, str], ZoneInfo], Span | None]


@dataclass(frozen=True)
class CsvFormat:
    """A format: its name, the source its entries keep, the header it is known by, and
    its fields with the header names each is known by."""

    name: str
    source: str
    required: frozenset[str]
    columns: Mapping[str, tuple[str, ...]]
    parse_row: RowParser


def normalise_header(name: str) -> str:
    """Lower-case and trim a header cell so variants of one export compare equal."""
    return " ".join(name.replace("\ufeff", "").strip().lower().split())


def decode(data: bytes) -> str:
    """Return DATA as text: UTF-8 with or without a BOM; binary, other encodings, empty: 422."""
    if b"\x00" in data:
        raise APIError(422, "The file is binary, not a CSV text file.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise APIError(
            422, f"The file is not UTF-8 text (byte {exc.start} cannot be decoded)."
        ) from None
    if not text.strip():
        raise APIError(422, "The file is empty.")
    return text


def records(text: str) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    """Split TEXT into its header and (first line, values) records, quoting understood."""
    first_line = text.split("\n", 1)[0]
    delimiter = max(DELIMITERS, key=first_line.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = next(reader)
    except csv.Error as exc:
        raise APIError(422, f"The header row cannot be read: {exc}.") from None

    def rest() -> Iterator[tuple[int, list[str]]]:
        while True:
            line = reader.line_num + 1
            try:
                values = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise APIError(422, f"Line {line} cannot be read as CSV: {exc}.") from None
            if values and any(value.strip() for value in values):
                yield line, values

    return header, rest()


def parse_hours(text: str, column: str) -> float:
    """Read a duration as seconds: `H:MM:SS`, `H:MM`, `MM:SS min`, `1.5`, `1,5`, `90 min`."""
    exported = HMS.fullmatch(text)
    if exported:  # Toggl's and Clockify's own form, so most rows take this short path
        hours, minutes, seconds = exported.groups()
        return int(hours) * 3600 + int(minutes) * 60 + int(seconds)
    match = UNIT.match(text.strip().lower())
    amount, unit = match["amount"], match["unit"]
    clock = CLOCK.fullmatch(amount)
    if clock:
        first, second, third = (int(part) if part else None for part in clock.groups())
        if third is not None:
            return first * 3600 + second * 60 + third
        return first * 60 + second if unit == "min" else first * 3600 + second * 60
    if NUMBER.fullmatch(amount):
        value = float(amount.replace(",", "."))
        return value * 60 if unit == "min" else value * 3600
    raise RowInvalid(column, f"{text!r} is not a duration (H:MM:SS, H:MM, MM:SS min or hours)")


def parse_moment(text: str, zone: ZoneInfo, column: str) -> datetime:
    """Read a date and time; without an offset it is local time in ZONE. Return it in UTC."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        # Imported on the first date ISO 8601 cannot read: most exports never need it, so
        # serving workers do not carry it.
        from dateutil import parser as dateutil_parser

        try:
            moment = dateutil_parser.parse(text, dayfirst=False)
        except (ValueError, OverflowError):
            raise RowInvalid(column, f"{text!r} is not a date and time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    moment = moment.astimezone(UTC)
    if not EARLIEST <= moment < LATEST:
        raise RowInvalid(column, f"{text!r} is outside 1970-2100")
    return moment


def elapsed(start: datetime, end: datetime) -> float:
    """Return the seconds from START to END; an END earlier in the day crossed midnight."""
    seconds = (end - start).total_seconds()
    if -MAX_SECONDS < seconds < 0:
        seconds += MAX_SECONDS
    return seconds


def entry_key(source: str, span: Span, seconds: int) -> str:
    """Derive the stable external_id of a row that carries none, from its normalised content."""
    parts = (
        source,
        span.start.isoformat(),
        str(seconds),
        span.description or "",
        span.project or "",
        span.identity,
    )
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:40]


def parse_billable(text: str, column: str) -> bool:
    """Read a billable cell: Yes/No, true/false, 1/0 in any case; empty is not billable."""
    try:
        return BILLABLE[text.lower()]
    except KeyError:
        raise RowInvalid(column, f"{text!r} is not Yes or No") from None


def parse_tags(text: str, column: str) -> tuple[str, ...]:
    """Read a tags cell, its tags separated by commas, as a canonical set (sorted)."""
    tags = sorted({tag.strip() for tag in text.split(",") if tag.strip()})
    if len(tags) > MAX_TAGS:
        raise RowInvalid(column, f"has more than {MAX_TAGS} tags")
    if any(len(tag) > MAX_TAG for tag in tags):
        raise RowInvalid(column, f"has a tag longer than {MAX_TAG} characters")
    return tuple(tags)


def labels(row: Mapping[str, str], names: Mapping[str, str]) -> dict[str, object]:
    """Return the row's LABEL_COLUMNS as Span fields: billable, tags, client and task
    (a format without one of them, such as Harvest's without tags, leaves its default)."""
    return {
        "billable": parse_billable(row["billable"], names["billable"]),
        "tags": parse_tags(row.get("tags", ""), names.get("tags", "tags")),
        "client": row["client"] or None,
        "task": row["task"] or None,
    }


# The columns Toggl's and Clockify's exports share; each adds its own "duration".
TIMED_COLUMNS: dict[str, tuple[str, ...]] = {
    "start date": ("start date",),
    "start time": ("start time",),
    "end date": ("end date",),
    "end time": ("end time",),
    "project": ("project",),
    "description": ("description",),
    "identity": ("email", "user"),
    "email": ("email",),
    "billable": ("billable",),
    "tags": ("tags",),
    "client": ("client",),
    # Clockify's variant export calls the task "Activity".
    "task": ("task", "activity"),
}


def timed_span(row: dict[str, str], names: Mapping[str, str], zone: ZoneInfo) -> Span:
    """Read start date/time and the duration (or, without one, the end) of a row of
    TIMED_COLUMNS and a "duration", with project, description, identity and labels."""
    start_date = require(row, names, "start date")
    start_time = require(row, names, "start time")
    start = parse_moment(f"{start_date} {start_time}", zone, names["start date"])
    content = {
        "project": row["project"],
        "description": row["description"],
        "identity": row["identity"],
        "duration_column": names["duration"],
        "email": row["email"],
        **labels(row, names),
    }
    if row["duration"]:
        return Span(start, parse_hours(row["duration"], names["duration"]), **content)
    if not row["end time"]:
        return Span(start, None, **content)
    end_date = row["end date"] or start_date
    end = parse_moment(f"{end_date} {row['end time']}", zone, names["end time"])
    return Span(start, elapsed(start, end), **content)
