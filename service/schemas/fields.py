"""The field types and checks request models share: timestamps, hours, text, time zones."""

from __future__ import annotations

import functools
import re
import zoneinfo
from datetime import UTC
from datetime import datetime
from typing import Annotated
from typing import Any
from typing import Literal

from pydantic import AfterValidator
from pydantic import AwareDatetime
from pydantic import BaseModel
from pydantic import BeforeValidator
from pydantic import ConfigDict
from pydantic import Field
from pydantic import StringConstraints

from service.models import EARLIEST
from service.models import LATEST
from service.models import MAX_DESCRIPTION
from service.models import MAX_EXTERNAL_ID
from service.models import MAX_HOURS
from service.models import MAX_NAME
from service.models import MAX_PROJECT
from service.models import MAX_TAG
from service.models import MAX_TAGS
from service.models import ROLES
from service.models import SOURCE_PATTERN
from service.security import BCRYPT_MAX_BYTES

# Text never holds NUL: PostgreSQL cannot store it, and no real name or note contains it.
NO_NUL = r"^[^\x00]*$"
# The pattern tells clients (and the contract's fuzzer) the years the service accepts.
YEARS_PATTERN = r"^(19[7-9][0-9]|20[0-9][0-9])-"

Source = Annotated[str, StringConstraints(pattern=f"^{SOURCE_PATTERN}$")]
ExternalId = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_EXTERNAL_ID, pattern=NO_NUL)
]
Project = Annotated[str, StringConstraints(max_length=MAX_PROJECT, pattern=NO_NUL)]
# A client's or a task's name, bounded as a project's.
Label = Project
# A tag: trimmed, not blank, no comma (a CSV cell joins an entry's tags with ", ").
Tag = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=MAX_TAG, pattern=r"^[^,\x00]*$"
    ),
]


def canonical_tags(tags: list[str]) -> list[str]:
    """Return TAGS as the set they are: without repeats, in code-point order."""
    return sorted(set(tags))


Tags = Annotated[list[Tag], Field(max_length=MAX_TAGS), AfterValidator(canonical_tags)]
Description = Annotated[str, StringConstraints(max_length=MAX_DESCRIPTION, pattern=NO_NUL)]
Hours = Annotated[float, Field(gt=0, le=MAX_HOURS, allow_inf_nan=False)]
Password = Annotated[str, StringConstraints(min_length=1, max_length=1024)]
MIN_PASSWORD_BYTES = 8


def _bcrypt_length(value: str) -> str:
    if not MIN_PASSWORD_BYTES <= len(value.encode()) <= BCRYPT_MAX_BYTES:
        raise ValueError(f"must be {MIN_PASSWORD_BYTES} to {BCRYPT_MAX_BYTES} bytes long in UTF-8")
    return value


# A password being set (sign-up, change, reset, the CLI): it must fit bcrypt's 72 bytes.
NewPassword = Annotated[
    str,
    StringConstraints(min_length=MIN_PASSWORD_BYTES, max_length=BCRYPT_MAX_BYTES),
    AfterValidator(_bcrypt_length),
]
Role = Literal[ROLES]  # type: ignore[valid-type]
# A person's or a team's name: trimmed, not blank.
Name = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_NAME, pattern=NO_NUL)
]


class Strict(BaseModel):
    """Reject unknown fields and type coercions such as `true` for a number."""

    # Request bodies are mostly unique values (external ids): only the keys are worth reusing.
    model_config = ConfigDict(extra="forbid", strict=True, cache_strings="keys")


def _iso_text(value: Any) -> Any:
    """Accept timestamps as ISO-8601 text only, never as a number of seconds (lax mode would)."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not re.match(YEARS_PATTERN, value):
        raise ValueError("must be an ISO-8601 timestamp between 1970 and 2099")
    return value


def within_range(value: datetime) -> datetime:
    """Return VALUE in UTC; a ValueError outside EARLIEST to LATEST."""
    if not EARLIEST <= value < LATEST:
        raise ValueError("must be between 1970-01-01 and 2100-01-01")
    return value.astimezone(UTC)


Timestamp = Annotated[
    AwareDatetime,
    BeforeValidator(_iso_text),
    AfterValidator(within_range),
    Field(strict=False),
    Field(json_schema_extra={"pattern": YEARS_PATTERN}, description="ISO-8601 with an offset."),
]


@functools.cache
def time_zones() -> frozenset[str]:
    """Return the IANA time zones this machine's tz database knows."""
    return frozenset(zoneinfo.available_timezones())


def _known_zone(name: str) -> str:
    if name not in time_zones():
        raise ValueError("is not an IANA time zone such as Europe/Berlin")
    return name


def _zone_names(schema: dict[str, Any]) -> None:
    schema["enum"] = sorted(time_zones())


TimeZone = Annotated[
    str,
    AfterValidator(_known_zone),
    Field(description="An IANA time zone.", json_schema_extra=_zone_names),
]
