"""Read the service's settings from the environment, once, and fail fast on bad ones."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography.fernet import Fernet
from jwt.utils import is_pem_format
from jwt.utils import is_ssh_key
from limits import parse_many

INSTANCE_DIR = Path("instance")
MIN_SECRET_BYTES = 32
# A SQLite URL's prefix; the file's path follows (relative, or absolute with one more /).
SQLITE_FILE = "sqlite:///"
# Who may sign up: anyone, only people holding an invitation, or nobody (REGISTRATION).
OPEN, INVITE, CLOSED = "open", "invite", "closed"


class ConfigError(RuntimeError):
    """A setting is missing or invalid; the message names the variable."""


def shared_secret_problem(secret: str) -> str | None:
    """Say why SECRET cannot be an HS256 secret, or return None when it can.

    A PEM or SSH key or a JWK pasted as the secret is the mistake PyJWT guards against when
    it signs; here it stops the service at start instead.
    """
    raw = secret.encode()
    if len(raw) < MIN_SECRET_BYTES:
        return f"at least {MIN_SECRET_BYTES} bytes long"
    if is_pem_format(raw) or is_ssh_key(raw) or raw.lstrip().startswith(b"{"):
        return "a random shared secret, not a PEM or SSH key or a JWK"
    return None


def _int(env: Mapping[str, str], name: str, default: int, *, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float, *, minimum: float = 0) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if not value >= minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {raw}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in {"1", "true", "yes", "on"}:
        return True
    if raw.lower() in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def _choice(env: Mapping[str, str], name: str, default: str, choices: set[str]) -> str:
    value = env.get(name) or default
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(sorted(choices))}, got {value!r}")
    return value


def _worker_class(env: Mapping[str, str]) -> str:
    return _choice(env, "WORKER_CLASS", "sync", {"gthread", "sync", "gevent"})


def _threads(env: Mapping[str, str]) -> int:
    """Threads per worker: 1 by default, and sync workers cannot run more.

    Given a sync worker and more threads, gunicorn silently runs gthread instead.
    """
    threads = _int(env, "THREADS", 1, minimum=1)
    if _worker_class(env) == "sync" and threads > 1:
        raise ConfigError(
            f"THREADS must be 1 with WORKER_CLASS=sync, got {threads}: "
            "gunicorn would run gthread workers instead"
        )
    return threads


def _read_secret(env: Mapping[str, str], name: str) -> str | None:
    """Return NAME_FILE's content if set (the file form wins), else NAME, else None."""
    path = env.get(f"{name}_FILE")
    if path:
        try:
            return Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"{name}_FILE cannot be read: {exc.strerror} ({path})") from None
    return env.get(name) or None


def _development_secret() -> str:
    """Create (once) and return a random signing secret under instance/ for local runs."""
    path = INSTANCE_DIR / "jwt_secret"
    if not path.exists():
        INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
    return path.read_text(encoding="utf-8").strip()


def _jwt_secret(env: Mapping[str, str], app_env: str, algorithm: str) -> str | None:
    secret = _read_secret(env, "JWT_SECRET")
    if secret is None and app_env == "development" and algorithm == "HS256":
        secret = _development_secret()
    if secret is None and algorithm != "HS256":
        return None
    if secret is None:
        raise ConfigError("JWT_SECRET (or JWT_SECRET_FILE) must be set in production")
    problem = shared_secret_problem(secret)
    if problem:
        raise ConfigError(f"JWT_SECRET must be {problem}")
    return secret


def _integrations_key(env: Mapping[str, str]) -> str | None:
    """Return the Fernet key that encrypts integration tokens, or None (integrations off)."""
    key = _read_secret(env, "INTEGRATIONS_KEY")
    if key is None:
        return None
    try:
        Fernet(key)
    except ValueError:
        raise ConfigError(
            "INTEGRATIONS_KEY must be a Fernet key (32 url-safe base64-encoded bytes)"
        ) from None
    return key


def _sync_settings(env: Mapping[str, str]) -> dict[str, Any]:
    """Settings of the imports and of the Toggl and Tempo sync."""
    return {
        "IMPORT_MAX_BYTES": _int(env, "IMPORT_MAX_BYTES", 64 * 1024 * 1024, minimum=1),
        "IMPORT_MAX_ROWS": _int(env, "IMPORT_MAX_ROWS", 200_000, minimum=1),
        "INTEGRATIONS_KEY": _integrations_key(env),
        "TOGGL_API_URL": (env.get("TOGGL_API_URL") or "https://api.track.toggl.com").rstrip("/"),
        "TEMPO_API_URL": (env.get("TEMPO_API_URL") or "https://api.tempo.io").rstrip("/"),
        "SYNC_TIMEOUT": _float(env, "SYNC_TIMEOUT", 30.0, minimum=0.1),
        "SYNC_MAX_RETRIES": _int(env, "SYNC_MAX_RETRIES", 3),
        "SYNC_MAX_WAIT": _float(env, "SYNC_MAX_WAIT", 60.0),
        "SYNC_STALE_AFTER": _int(env, "SYNC_STALE_AFTER", 3600, minimum=1),
        "SYNC_HISTORY_DAYS": _int(env, "SYNC_HISTORY_DAYS", 365, minimum=1),
        "SYNC_WINDOW_DAYS": _int(env, "SYNC_WINDOW_DAYS", 30, minimum=1),
        "SYNC_RECONCILE_DAYS": _int(env, "SYNC_RECONCILE_DAYS", 30, minimum=1),
        "TEMPO_PAGE_SIZE": _int(env, "TEMPO_PAGE_SIZE", 1000, minimum=1),
        "SYNC_INTERVAL": _int(env, "SYNC_INTERVAL", 15 * 60, minimum=60),
    }


def _account_settings(env: Mapping[str, str], app_env: str) -> dict[str, Any]:
    """Settings of sign-up, invitations and password resets."""
    policy = INVITE if app_env == "production" else OPEN
    return {
        "REGISTRATION": _choice(env, "REGISTRATION", policy, {OPEN, INVITE, CLOSED}),
        "INVITATION_TTL": _int(env, "INVITATION_TTL", 7 * 24 * 3600, minimum=60),
        "PASSWORD_RESET_TTL": _int(env, "PASSWORD_RESET_TTL", 3600, minimum=60),
    }


def _jobs_settings(env: Mapping[str, str], database: str) -> dict[str, Any]:
    """Settings of the job queue and its worker."""
    return {
        "JOBS_URL": _jobs_url(env, database),
        "JOB_WORKERS": _int(env, "JOB_WORKERS", 4, minimum=1),
        "JOB_STALE_AFTER": _int(env, "JOB_STALE_AFTER", 60, minimum=3),
    }


def _jobs_url(env: Mapping[str, str], database: str) -> str:
    """Return JOBS_URL, else a SQLite file next to a SQLite database (or under instance/)."""
    value = env.get("JOBS_URL")
    production = (env.get("APP_ENV") or "production") == "production"
    if not value and production and not database.startswith(SQLITE_FILE):
        # The web pods queue what the workers run: a file of one pod's would reach none.
        raise ConfigError(
            "JOBS_URL must be set in production: the Redis the web and worker pods share"
        )
    if not value:
        folder = INSTANCE_DIR.resolve()
        if database.startswith(SQLITE_FILE):
            folder = Path(database.removeprefix(SQLITE_FILE)).resolve().parent
        return f"{SQLITE_FILE}{folder / 'jobs.db'}"
    if value.startswith(("redis://", "rediss://")):
        if _has_valid_port(value):
            return value
        problem = "a URL whose port is a number from 1 to 65535"
    elif value.startswith(SQLITE_FILE) and len(value) > len(SQLITE_FILE):
        return value
    else:
        problem = "a Redis URL (redis://, rediss://) or a SQLite file (sqlite:///path)"
    raise ConfigError(f"JOBS_URL must be {problem}, got {value!r}")


def _previous_secrets(env: Mapping[str, str]) -> list[str]:
    """Return the retired HS256 secrets still accepted, one per line of the setting."""
    text = _read_secret(env, "JWT_PREVIOUS_SECRETS") or ""
    retired = [line.strip() for line in text.splitlines() if line.strip()]
    for secret in retired:
        problem = shared_secret_problem(secret)
        if problem:
            raise ConfigError(f"JWT_PREVIOUS_SECRETS must each be {problem}")
    return retired


def _rate(env: Mapping[str, str], name: str, default: str) -> str:
    value = env.get(name) or default
    try:
        rates = parse_many(value)
    except ValueError:
        raise ConfigError(f"{name} must be a rate such as '10 per minute', got {value!r}") from None
    if not all(rate.amount for rate in rates):
        raise ConfigError(f"{name} must allow at least 1 request, got {value!r}")
    return value


def _api_rate(env: Mapping[str, str]) -> str | None:
    """Return RATE_LIMIT_API, or None when it is `off` (no per-principal API limit)."""
    if (env.get("RATE_LIMIT_API") or "").strip().lower() == "off":
        return None
    return _rate(env, "RATE_LIMIT_API", "600 per minute")


def _rate_store(env: Mapping[str, str]) -> str:
    value = env.get("RATE_LIMIT_STORAGE_URI") or "memory://"
    if not value.startswith(("memory://", "redis://", "rediss://", "redis+unix://")):
        problem = "memory:// or a Redis URL (redis://, rediss://, redis+unix://)"
    elif not _has_valid_port(value):
        problem = "a URL whose port is a number from 1 to 65535"
    else:
        return value
    raise ConfigError(f"RATE_LIMIT_STORAGE_URI must be {problem}, got {value!r}")


def _has_valid_port(url: str) -> bool:
    """Tell whether URL names no port or one a client can connect to."""
    try:
        return urlsplit(url).port != 0
    except ValueError:
        return False


def _private_key(env: Mapping[str, str], algorithm: str) -> str | None:
    """Return the PEM of the EdDSA signing key (required when JWT_ALGORITHM is EdDSA)."""
    pem = _read_secret(env, "JWT_PRIVATE_KEY")
    if algorithm == "EdDSA" and pem is None:
        raise ConfigError("JWT_PRIVATE_KEY_FILE must name an Ed25519 PEM key when EdDSA is used")
    return pem


def _origins(env: Mapping[str, str]) -> list[str]:
    origins = [o.strip().rstrip("/") for o in (env.get("CORS_ORIGINS") or "").split(",")]
    if "*" in origins:
        raise ConfigError("CORS_ORIGINS lists origins; '*' is not allowed")
    return [o for o in origins if o]


def database_url(env: Mapping[str, str] | None = None) -> str:
    """Return DATABASE_URL (or DATABASE_URL_FILE's content), else a SQLite file under instance/."""
    env = os.environ if env is None else env
    url = _read_secret(env, "DATABASE_URL")
    return url or f"sqlite:///{(INSTANCE_DIR / 'time_tracker.db').resolve()}"


def server_settings(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Read the web server's settings (gunicorn.conf.py and the entrypoint use them)."""
    env = os.environ if env is None else env
    return {
        "HOST": env.get("HOST") or "0.0.0.0",
        "PORT": _int(env, "PORT", 8000, minimum=1),
        "WEB_CONCURRENCY": _int(env, "WEB_CONCURRENCY", 4, minimum=1),
        "WORKER_CLASS": _worker_class(env),
        "THREADS": _threads(env),
        "WORKER_TIMEOUT": _int(env, "WORKER_TIMEOUT", 30, minimum=1),
        "GRACEFUL_TIMEOUT": _int(env, "GRACEFUL_TIMEOUT", 25, minimum=1),
        "DRAIN_SECONDS": _int(env, "DRAIN_SECONDS", 3, minimum=0),
        "KEEPALIVE": _int(env, "KEEPALIVE", 0, minimum=0),
        "MAX_REQUESTS": _int(env, "MAX_REQUESTS", 100_000, minimum=0),
        "MAX_REQUESTS_JITTER": _int(env, "MAX_REQUESTS_JITTER", 10_000, minimum=0),
        "FORWARDED_ALLOW_IPS": env.get("FORWARDED_ALLOW_IPS") or "127.0.0.1,::1",
        "DB_WAIT_TIMEOUT": _int(env, "DB_WAIT_TIMEOUT", 30, minimum=0),
    }


def load_config(
    overrides: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Build the settings from the environment; overrides win and skip the environment."""
    env = dict(os.environ if env is None else env)
    overrides = dict(overrides or {})
    env.update({k: str(v) for k, v in overrides.items()})
    app_env = _choice(env, "APP_ENV", "production", {"development", "production"})
    algorithm = _choice(env, "JWT_ALGORITHM", "HS256", {"HS256", "EdDSA"})
    config: dict[str, Any] = {
        "APP_ENV": app_env,
        "DATABASE_URL": database_url(env),
        # One pooled connection per worker thread: a request never waits for another's.
        "DB_POOL_SIZE": _int(env, "DB_POOL_SIZE", _threads(env), minimum=1),
        "DB_CONNECT_TIMEOUT": _int(env, "DB_CONNECT_TIMEOUT", 2, minimum=1),
        "DB_STATEMENT_TIMEOUT": _int(env, "DB_STATEMENT_TIMEOUT", 5000, minimum=0),
        "JWT_ALGORITHM": algorithm,
        "JWT_SECRET": _jwt_secret(env, app_env, algorithm),
        "JWT_PREVIOUS_SECRETS": _previous_secrets(env),
        "JWT_PRIVATE_KEY": _private_key(env, algorithm),
        "JWT_PREVIOUS_PUBLIC_KEYS": _read_secret(env, "JWT_PREVIOUS_PUBLIC_KEYS") or "",
        "JWT_ISSUER": env.get("JWT_ISSUER") or "time-tracker",
        "JWT_AUDIENCE": env.get("JWT_AUDIENCE") or "time-tracker-api",
        "ACCESS_TOKEN_TTL": _int(env, "ACCESS_TOKEN_TTL", 15 * 60, minimum=1),
        "REFRESH_TOKEN_TTL": _int(env, "REFRESH_TOKEN_TTL", 30 * 24 * 3600, minimum=1),
        "SERVICE_TOKEN_TTL": _int(env, "SERVICE_TOKEN_TTL", 5 * 60, minimum=1),
        "RATE_LIMIT_STORAGE_URI": _rate_store(env),
        "RATE_LIMIT_KEY_PREFIX": env.get("RATE_LIMIT_KEY_PREFIX") or "time-tracker",
        "RATE_LIMIT_PER_ADDRESS": _rate(env, "RATE_LIMIT_PER_ADDRESS", "30 per minute"),
        "RATE_LIMIT_PER_ACCOUNT": _rate(env, "RATE_LIMIT_PER_ACCOUNT", "10 per minute"),
        "RATE_LIMIT_API": _api_rate(env),
        "LOGIN_LOCKOUT_ATTEMPTS": _int(env, "LOGIN_LOCKOUT_ATTEMPTS", 5, minimum=1),
        "LOGIN_LOCKOUT_SECONDS": _int(env, "LOGIN_LOCKOUT_SECONDS", 15 * 60, minimum=1),
        "CORS_ORIGINS": _origins(env),
        "TRUSTED_PROXY_COUNT": _int(env, "TRUSTED_PROXY_COUNT", 0, minimum=0),
        "BCRYPT_ROUNDS": _int(env, "BCRYPT_ROUNDS", 12, minimum=4),
        "MAX_CONTENT_LENGTH": _int(env, "MAX_CONTENT_LENGTH", 10 * 1024 * 1024, minimum=1024),
        "LOG_LEVEL": _choice(
            env, "LOG_LEVEL", "INFO", {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}
        ),
        "LOG_FORMAT": _choice(env, "LOG_FORMAT", "json", {"json", "text"}),
        "PORT": _int(env, "PORT", 8000, minimum=1),
        "METRICS_ENABLED": _bool(env, "METRICS_ENABLED", True),
        "PROMETHEUS_MULTIPROC_DIR": env.get("PROMETHEUS_MULTIPROC_DIR") or None,
        **_sync_settings(env),
        **_account_settings(env, app_env),
    }
    config.update(_jobs_settings(env, config["DATABASE_URL"]))
    config.update({k: v for k, v in overrides.items() if k not in config})
    return config
