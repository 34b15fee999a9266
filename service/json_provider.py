"""Flask's JSON provider, writing with orjson so an answer can embed JSON rendered elsewhere."""

from __future__ import annotations

from typing import Any

import orjson
from flask.json.provider import DefaultJSONProvider

# Datetimes and dataclasses pass through to Flask's own `default`, so every type renders
# exactly as Flask's default provider renders it (dates as HTTP dates, for instance).
OPTIONS = (
    orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_NON_STR_KEYS
)


class OrjsonProvider(DefaultJSONProvider):
    """Write JSON with orjson: the entry list embeds the items PostgreSQL rendered as JSON
    (orjson.Fragment), which the standard library cannot write.

    Keys keep the order of the response models. What orjson refuses (integers beyond 64
    bits) is written the standard way. Parsing stays the standard library's.
    """

    sort_keys = False

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        """Serialize OBJ to a JSON string, indented when Flask asks for an indent."""
        options = OPTIONS | orjson.OPT_INDENT_2 if kwargs.get("indent") else OPTIONS
        try:
            return orjson.dumps(obj, default=self.default, option=options).decode()
        except orjson.JSONEncodeError:
            return super().dumps(obj, **kwargs)
