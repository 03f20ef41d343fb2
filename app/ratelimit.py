"""Rate limits per API key (Flask-Limiter), in memory or in Redis when configured.

Every answer carries the ``RateLimit-Limit``, ``RateLimit-Remaining`` and ``RateLimit-Reset``
headers. Over the limit a request answers 429 ``rate_limit_error`` with ``Retry-After``: the
whole seconds until the window resets, rounded up. Flask-Limiter's own value rounds down (to
0 within a window's last second, so an obedient client is refused again) and comes on every
answer; only our 429 keeps one.
"""

from __future__ import annotations

import math
import time
from functools import partial
from typing import Any

from flask import Flask, Response, g, request
from flask_limiter import Limiter, RateLimitExceeded
from limits import RateLimitItem

from app.auth import hash_key, presented_key
from app.errors import RATE_LIMIT, ApiError
from app.http import render_error

RETRY_AFTER = "Retry-After"


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
    limiter = Limiter(key_func=rate_limit_key)
    app.register_error_handler(RateLimitExceeded, partial(_too_many_requests, limiter))
    # after_request hooks run last-registered first: this one, registered before the
    # limiter's own, runs after it and has the last word on Retry-After.
    app.after_request(_settle_retry_after)
    limiter.init_app(app)
    return limiter


def seconds_until_reset(limiter: Limiter) -> int:
    """Whole seconds until the breached limit's window resets, at least 1 and never short:
    Redis reports the reset to the nearest whole second (TTL), so up to half a second early,
    and a retry at the rounded-up time could still be refused; one second more covers it."""
    breached = limiter.current_limit
    if breached is None:
        return 1
    reset_at = breached.window[0]  # a Unix time; with its fraction in memory, rounded in Redis
    return max(1, math.floor(reset_at - time.time()) + 1)


def _too_many_requests(limiter: Limiter, error: RateLimitExceeded) -> Any:
    wait = seconds_until_reset(limiter)
    g.retry_after = wait
    who = "this API key" if rate_limit_key().startswith("key:") else "this client address"
    limit = describe(error.limit.limit)
    message = f"Too many requests for {who}: the limit is {limit}. Retry after {wait} s."
    return render_error(ApiError(429, message, type=RATE_LIMIT, code="rate_limit"))


def describe(limit: RateLimitItem) -> str:
    """A limit as people (and the settings) write it: ``100 per second``, ``5 per 10 minutes``."""
    unit = limit.GRANULARITY.name
    if limit.multiples == 1:
        return f"{limit.amount} per {unit}"
    return f"{limit.amount} per {limit.multiples} {unit}s"


def _settle_retry_after(response: Response) -> Response:
    """Our 429's Retry-After in place of Flask-Limiter's; none on any other answer."""
    wait = g.pop("retry_after", None)
    if wait is None:
        response.headers.remove(RETRY_AFTER)
    else:
        response.headers[RETRY_AFTER] = str(wait)
    return response
