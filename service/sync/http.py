"""Read JSON from a source API: timeouts, bounded 429 retries honouring Retry-After."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING
from typing import Any

if TYPE_CHECKING:
    import requests

DEFAULT_RETRY_AFTER = 1.0


def new_session() -> requests.Session:
    """Return a new HTTP session for one run.

    requests loads here, with the first sync, not with the app, so a worker that never
    syncs does not carry it (the worker memory budget in docs/benchmarks.md).
    """
    import requests

    return requests.Session()


class SourceError(Exception):
    """The source failed the run; the message is safe to show the user (no secrets)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class QuotaSpent(SourceError):
    """The source's request quota is spent (Toggl's 402): stop, do not retry."""


def retry_after(response: requests.Response) -> float:
    """Return the seconds a 429 asks us to wait (delta or HTTP date), 1 s when unsaid."""
    value = response.headers.get("Retry-After", "").strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return DEFAULT_RETRY_AFTER
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


@dataclass
class Fetcher:
    """One run's HTTP session to a source, with its auth, timeout and retry policy."""

    name: str
    session: requests.Session
    timeout: float
    max_retries: int
    max_wait: float
    sleep: Callable[[float], None] = field(default=time.sleep)

    def get_json(self, url: str, params: dict[str, Any] | None = None) -> Any:
        """GET URL and return its JSON; every failure is a SourceError naming the source."""
        return self.json_of(self.send("GET", url, params=params))

    def send(
        self,
        method: str,
        url: str,
        *,
        params: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
    ) -> requests.Response:
        """Send a read (GET, or a search by POST) and return its answer once it succeeded."""
        response = self._send(method, url, params, body)
        if response.status_code == 402:
            raise QuotaSpent(f"{self.name} answered 402: the API quota is spent; try later.", 402)
        if response.status_code in (401, 403):
            raise SourceError(
                f"{self.name} refused the stored credentials ({response.status_code}); "
                "store the integration again.",
                response.status_code,
            )
        if not response.ok:
            raise SourceError(f"{self.name} answered {response.status_code}.", response.status_code)
        return response

    def json_of(self, response: requests.Response) -> Any:
        """Return the JSON body of RESPONSE; a body that is not JSON is a SourceError."""
        try:
            return response.json()
        except ValueError:
            raise SourceError(f"{self.name} answered with a body that is not JSON.") from None

    def _send(
        self, method: str, url: str, params: dict[str, Any] | None, body: dict[str, Any] | None
    ) -> requests.Response:
        import requests

        for attempt in range(self.max_retries + 1):
            try:
                response = self.session.request(
                    method, url, params=params, json=body, timeout=self.timeout
                )
            except requests.RequestException as exc:
                raise SourceError(
                    f"{self.name} could not be read ({exc.__class__.__name__})."
                ) from None
            if response.status_code != 429 or attempt == self.max_retries:
                break
            self.sleep(min(retry_after(response), self.max_wait))
        if response.status_code == 429:
            raise SourceError(
                f"{self.name} kept answering 429 (rate limited) after {self.max_retries} retries.",
                429,
            )
        return response
