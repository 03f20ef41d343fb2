"""Rate limits per API key (Flask-Limiter), in memory or in Redis when configured.

Over the limit a request answers 429 ``rate_limit_error`` with ``Retry-After`` and the
``RateLimit-Limit``, ``RateLimit-Remaining`` and ``RateLimit-Reset`` headers.
"""

from __future__ import annotations

from flask import Flask, request
from flask_limiter import Limiter

from app.auth import hash_key, presented_key
from app.errors import ApiError


def rate_limit_key() -> str:
    """The presented API key (hashed; no database call); the client address without one."""
    try:
        return "key:" + hash_key(presented_key(request))
    except ApiError:
        return "addr:" + (request.remote_addr or "unknown")


def init_rate_limits(app: Flask) -> Limiter:
    """One Limiter per app, so that apps (and tests) never share counters by accident."""
    app.config.setdefault(
        "RATELIMIT_STORAGE_URI", app.config["RATELIMIT_STORAGE_URL"] or "memory://"
    )
    app.config.update(
        RATELIMIT_HEADERS_ENABLED=True,
        RATELIMIT_HEADER_LIMIT="RateLimit-Limit",
        RATELIMIT_HEADER_REMAINING="RateLimit-Remaining",
        RATELIMIT_HEADER_RESET="RateLimit-Reset",
    )
    app.config.setdefault("RATELIMIT_KEY_PREFIX", "hitblocks")
    return Limiter(key_func=rate_limit_key, app=app)
