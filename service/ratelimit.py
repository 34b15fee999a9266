"""Rate limits on the sign-in routes and the failed-login lockout, in fixed windows.

Limits apply only to the endpoints named in LIMITED_ENDPOINTS, each per client address
and per account (the email, or the service client's id), so probes and metrics are never
limited. A window starts at its key's first hit and lasts the rate's period; its counter
lives in RATE_LIMIT_STORAGE_URI (`memory://`, this process, or Redis). When Redis fails,
the counters fall back to this process's memory for a few seconds at a time rather than
refusing every sign-in.

Not flask-limiter: it imports `limits`, and with it asyncio and wrapt, 3.3 MiB in every
worker for three routes and one kind of counter.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Any
from typing import NamedTuple
from typing import Protocol
from urllib.parse import unquote_plus

from flask import Flask
from flask import after_this_request
from flask import request
from flask.typing import ResponseReturnValue

from service.config import Rate
from service.errors import APIError
from service.schemas import load_json

log = logging.getLogger(__name__)

LIMITED_BLUEPRINT = "auth"
LIMITED_ENDPOINTS = tuple(f"{LIMITED_BLUEPRINT}.{view}" for view in ("register", "login", "token"))
TOO_MANY = "Too many requests; retry after the number of seconds in Retry-After."
# How long the counters stay in memory after the shared store failed, before trying it again.
STORE_RETRY_SECONDS = 5.0
STORE_TIMEOUT_SECONDS = 1.0


class Window(NamedTuple):
    """One key's counter: hits so far in its window, and when the window ends (epoch s)."""

    hits: int
    ends: float


class Counters(Protocol):
    """Fixed-window counters by key."""

    def hit(self, key: str, seconds: int) -> Window: ...
    def peek(self, key: str) -> Window: ...
    def clear(self, key: str) -> None: ...


class MemoryCounters:
    """Counters in this process; expired windows are dropped as the table grows."""

    def __init__(self, prune_at: int = 4096, clock: Callable[[], float] = time.time) -> None:
        self._windows: dict[str, Window] = {}
        self._lock = threading.Lock()
        self._prune_at = prune_at
        self._next_prune = prune_at
        self._clock = clock

    def tracked_keys(self) -> int:
        """Return how many keys have a window held (ended ones until the next prune).

        A method, not __len__: an empty store must not be falsy where it is passed on.
        """
        return len(self._windows)

    def hit(self, key: str, seconds: int) -> Window:
        """Count one hit for KEY; a window starts at the first hit after the last one ended."""
        now = self._clock()
        with self._lock:
            window = self._windows.get(key)
            if window is None or window.ends <= now:
                window = Window(0, now + seconds)
            window = self._windows[key] = Window(window.hits + 1, window.ends)
            if len(self._windows) >= self._next_prune:
                self._prune(now)
            return window

    def peek(self, key: str) -> Window:
        """Return KEY's window without counting (no hits: one that ends now)."""
        now = self._clock()
        window = self._windows.get(key)
        return window if window is not None and window.ends > now else Window(0, now)

    def clear(self, key: str) -> None:
        """Forget KEY's hits."""
        with self._lock:
            self._windows.pop(key, None)

    def _prune(self, now: float) -> None:
        self._windows = {k: w for k, w in self._windows.items() if w.ends > now}
        self._next_prune = max(self._prune_at, 2 * len(self._windows))


# INCR and the expiry in one step: a window can never be left without an end.
_HIT = """
local hits = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  ttl = tonumber(ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ttl)
end
return {hits, ttl}
"""


class RedisCounters:
    """Counters in Redis, shared by every worker and replica (redis-py is imported here)."""

    def __init__(self, url: str) -> None:
        import redis

        self.errors: tuple[type[Exception], ...] = (redis.RedisError, OSError)
        self._redis = redis.Redis.from_url(
            url,
            socket_connect_timeout=STORE_TIMEOUT_SECONDS,
            socket_timeout=STORE_TIMEOUT_SECONDS,
        )
        self._hit = self._redis.register_script(_HIT)

    def hit(self, key: str, seconds: int) -> Window:
        """Count one hit for KEY in Redis."""
        hits, ttl_ms = self._hit(keys=[key], args=[seconds * 1000])
        return Window(int(hits), time.time() + int(ttl_ms) / 1000)

    def peek(self, key: str) -> Window:
        """Read KEY's window from Redis without counting."""
        pipe = self._redis.pipeline(transaction=False)
        pipe.get(key)
        pipe.pttl(key)
        hits, ttl_ms = pipe.execute()
        now = time.time()
        if hits is None or ttl_ms < 0:
            return Window(0, now)
        return Window(int(hits), now + ttl_ms / 1000)

    def clear(self, key: str) -> None:
        """Delete KEY's counter."""
        self._redis.delete(key)


class FallingBack:
    """The shared counters, with this process's memory standing in while they fail."""

    def __init__(
        self,
        shared: RedisCounters,
        memory: MemoryCounters | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._shared = shared
        self._memory = MemoryCounters() if memory is None else memory
        self._clock = clock
        self._retry_at = 0.0

    def hit(self, key: str, seconds: int) -> Window:
        return self._call("hit", key, seconds)

    def peek(self, key: str) -> Window:
        return self._call("peek", key)

    def clear(self, key: str) -> None:
        self._call("clear", key)

    def _call(self, name: str, *args: Any) -> Any:
        if self._clock() >= self._retry_at:
            try:
                return getattr(self._shared, name)(*args)
            except self._shared.errors as exc:
                log.warning(
                    "rate-limit store failed (%s); counting in memory for %.0f s",
                    exc,
                    STORE_RETRY_SECONDS,
                )
                self._retry_at = self._clock() + STORE_RETRY_SECONDS
        return getattr(self._memory, name)(*args)


def open_counters(uri: str) -> Counters:
    """Return the counters RATE_LIMIT_STORAGE_URI names (config.py checked the scheme)."""
    if uri.startswith("memory://"):
        return MemoryCounters()
    return FallingBack(RedisCounters(uri))


def _digest(text: str) -> str:
    """Name an account in the counter store without storing the email itself."""
    return hashlib.sha256(text.strip().lower().encode()).hexdigest()[:32]


def remote_address() -> str:
    """Return the client's address (the proxies' view when TRUSTED_PROXY_COUNT is set)."""
    return request.remote_addr or "unknown"


def account_key() -> str:
    """Return the account a sign-in request is for, or its address when it names none."""
    basic = request.authorization
    if basic is not None and basic.type == "basic" and basic.username:
        return f"client:{_digest(unquote_plus(basic.username))}"
    if request.form.get("client_id"):
        return f"client:{_digest(request.form['client_id'])}"
    try:
        body = load_json(request.get_data(cache=True))
    except APIError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("email"), str):
        return f"account:{_digest(body['email'])}"
    return f"address:{remote_address()}"


def _seconds_until(moment: float) -> int:
    return max(1, math.ceil(moment - time.time()))


class SignInLimits:
    """Count each sign-in request per address and per account, per route; 429 over a limit."""

    def __init__(
        self,
        counters: Counters,
        per_address: tuple[Rate, ...],
        per_account: tuple[Rate, ...],
        prefix: str,
    ) -> None:
        self._counters = counters
        self._limits = (
            ("address", remote_address, per_address),
            ("account", account_key, per_account),
        )
        self._prefix = prefix

    def check(self, endpoint: str) -> dict[str, str]:
        """Count this request; return its X-RateLimit headers or raise a 429 problem."""
        headers: dict[str, str] = {}
        fewest_left = math.inf
        for scope, key_of, rates in self._limits:
            key = key_of()
            for rate in rates:
                name = f"{self._prefix}:{endpoint}:{scope}:{rate.amount}/{rate.seconds}:{key}"
                window = self._counters.hit(name, rate.seconds)
                left = rate.amount - window.hits
                if left < 0:
                    raise APIError(429, TOO_MANY, headers=_headers(rate, window, retry_after=True))
                if left < fewest_left:
                    fewest_left, headers = left, _headers(rate, window, retry_after=False)
        return headers

    def wrap(self, endpoint: str, view: Callable[..., ResponseReturnValue]) -> Callable:
        """Return VIEW behind this endpoint's limits, its answers carrying the headers."""

        @functools.wraps(view)
        def limited(*args: Any, **kwargs: Any) -> ResponseReturnValue:
            headers = self.check(endpoint)

            @after_this_request
            def add_headers(response):
                response.headers.update(headers)
                return response

            return view(*args, **kwargs)

        return limited


def _headers(rate: Rate, window: Window, *, retry_after: bool) -> dict[str, str]:
    headers = {
        "X-RateLimit-Limit": str(rate.amount),
        "X-RateLimit-Remaining": str(max(0, rate.amount - window.hits)),
        "X-RateLimit-Reset": str(math.ceil(window.ends)),
    }
    if retry_after:
        headers["Retry-After"] = str(_seconds_until(window.ends))
    return headers


class LoginLockout:
    """Refuse sign-ins to an account for a while after too many failed ones.

    Unknown emails are counted and locked exactly like real ones, so the lockout tells
    nobody which accounts exist.
    """

    def __init__(self, counters: Counters, attempts: int, seconds: int, prefix: str) -> None:
        self._counters = counters
        self._attempts = attempts
        self._seconds = seconds
        self._prefix = prefix

    def _key(self, email: str) -> str:
        return f"{self._prefix}:login-failures:{_digest(email)}"

    def check(self, email: str) -> None:
        """Raise a 429 while EMAIL is locked out."""
        window = self._counters.peek(self._key(email))
        if window.hits < self._attempts:
            return
        raise APIError(
            429,
            "Too many failed sign-ins for this account; retry after the seconds in Retry-After.",
            headers={"Retry-After": str(_seconds_until(window.ends))},
        )

    def failed(self, email: str) -> None:
        """Count one failed sign-in for EMAIL."""
        self._counters.hit(self._key(email), self._seconds)

    def succeeded(self, email: str) -> None:
        """Forget EMAIL's failed sign-ins."""
        self._counters.clear(self._key(email))


def init_rate_limits(app: Flask) -> None:
    """Limit the sign-in endpoints and set up the lockout, both in the configured storage."""
    config = app.config
    counters = open_counters(config["RATE_LIMIT_STORAGE_URI"])
    limits = SignInLimits(
        counters,
        config["RATE_LIMIT_PER_ADDRESS"],
        config["RATE_LIMIT_PER_ACCOUNT"],
        config["RATE_LIMIT_KEY_PREFIX"],
    )
    for endpoint in LIMITED_ENDPOINTS:
        app.view_functions[endpoint] = limits.wrap(endpoint, app.view_functions[endpoint])
    app.extensions["lockout"] = LoginLockout(
        counters,
        config["LOGIN_LOCKOUT_ATTEMPTS"],
        config["LOGIN_LOCKOUT_SECONDS"],
        config["RATE_LIMIT_KEY_PREFIX"],
    )
