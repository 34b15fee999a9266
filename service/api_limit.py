"""The per-principal limit on the API (RATE_LIMIT_API). No Flask here.

Each person (sign-in tokens), personal access token and service client has one count for
every protected API route, kept in the store the sign-in limits use
(RATE_LIMIT_STORAGE_URI). While that store is unreachable each process counts in its own
memory and tries the store again after STORE_RETRY_SECONDS, so an outage of the store
neither stops the API nor lifts the limit.
"""

from __future__ import annotations

import logging
import math
import time

from limits import RateLimitItem
from limits import parse
from limits.errors import StorageError
from limits.storage import MemoryStorage
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter
from limits.strategies import RateLimiter

from service.errors import APIError

log = logging.getLogger(__name__)

# How long a process counts in memory after the store failed, before asking it again.
STORE_RETRY_SECONDS = 30
# A hung store delays a request by at most this long before the count moves to memory.
STORE_TIMEOUT_SECONDS = 1
TOO_MANY = "Too many requests for this token; retry after the number of seconds in Retry-After."


class ApiLimit:
    """Count requests per principal in a fixed window; raise a 429 past the rate."""

    def __init__(self, rate: RateLimitItem, store: RateLimiter, prefix: str) -> None:
        self.rate = rate
        self._store = store
        self._memory = FixedWindowRateLimiter(MemoryStorage())
        self._prefix = prefix
        self._store_back_at = 0.0

    @classmethod
    def from_settings(cls, rate: str, storage_uri: str, prefix: str) -> ApiLimit:
        """Build the limit of RATE over the store at STORAGE_URI, its keys under PREFIX."""
        store = storage_from_string(
            storage_uri,
            wrap_exceptions=True,
            socket_connect_timeout=STORE_TIMEOUT_SECONDS,
            socket_timeout=STORE_TIMEOUT_SECONDS,
        )
        return cls(parse(rate), FixedWindowRateLimiter(store), prefix)

    def hit(self, key: str) -> None:
        """Count one request of KEY (a Principal's rate_key); raise a 429 once it is over."""
        identifiers = (self._prefix, "api", key)
        counters = self._counters()
        try:
            allowed = counters.hit(self.rate, *identifiers)
        except StorageError as exc:
            self._store_failed(exc)
            counters = self._memory
            allowed = counters.hit(self.rate, *identifiers)
        if not allowed:
            reset = counters.get_window_stats(self.rate, *identifiers).reset_time
            raise self._too_many(reset)

    def _counters(self) -> RateLimiter:
        """Return the store's counters, or memory's while the store is resting."""
        return self._memory if time.monotonic() < self._store_back_at else self._store

    def _store_failed(self, exc: StorageError) -> None:
        self._store_back_at = time.monotonic() + STORE_RETRY_SECONDS
        log.warning("API limit store unreachable, counting in memory: %s", exc.storage_error)

    def _too_many(self, reset: float) -> APIError:
        retry_after = max(1, math.ceil(reset - time.time()))
        headers = {
            "Retry-After": str(retry_after),
            "X-RateLimit-Limit": str(self.rate.amount),
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": str(math.ceil(reset)),
        }
        return APIError(429, TOO_MANY, headers=headers)
