"""The console: a web UI of the API app, at ``/console``, for the people of an account
(reviewers and admins) rather than its programs. Server-rendered pages, a little vanilla
JavaScript, no build step. What the pages share is in ``site``; this module wires the
console into an app: the session key and cookie, CSRF, and the sign-in limits."""

from __future__ import annotations

import math
import time
from pathlib import Path

from flask import Flask, current_app, g, request
from flask_limiter import Limiter, RateLimitExceeded
from flask_wtf.csrf import CSRFProtect
from werkzeug.wrappers import Response

from app.console import auth, keys, pages, review
from app.console.site import blueprint, refusal, render_page
from mturk import web_sessions
from mturk.web_sessions import PlantProofSessions

__all__ = ["blueprint", "init_console", "auth", "keys", "pages", "review"]

SECRET_KEY_FILE = "console-secret-key"
# Failed sign-ins allowed per email address, and per client address (several people may
# share one, behind an office's NAT); successful ones are not counted.
SIGN_IN_LIMIT_PER_EMAIL = "5 per minute;20 per hour"
SIGN_IN_LIMIT_PER_ADDRESS = "20 per minute;100 per hour"


def init_console(app: Flask) -> None:
    """Sessions, CSRF protection (console only) and sign-in limits, then the blueprint."""
    secret = app.config.get("SECRET_KEY")
    app.config.update(
        SECRET_KEY=str(secret) if secret else instance_secret_key(app.instance_path),
        SESSION_COOKIE_NAME="hitblocks_console_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        # Checked by the console's own before_request only: the /v1 API takes API keys.
        WTF_CSRF_CHECK_DEFAULT=False,
        # A token is good for as long as its session: a queue left open for hours still works.
        WTF_CSRF_TIME_LIMIT=None,
    )
    app.session_interface = PlantProofSessions()
    CSRFProtect(app)
    # Only the sign-in limits below: the API's default limit (RATELIMIT_DEFAULT, which this
    # extension would read too) is the API limiter's, per key, not a second one per address.
    limiter = Limiter(
        key_func=_client_address,
        storage_uri=_limit_storage(app),
        default_limits_exempt_when=lambda: True,
    )
    limited = limiter.limit(
        SIGN_IN_LIMIT_PER_EMAIL, key_func=_email_key, deduct_when=_failed, per_method=True
    )(auth.sign_in)
    limited = limiter.limit(
        SIGN_IN_LIMIT_PER_ADDRESS, key_func=_client_address, deduct_when=_failed, per_method=True
    )(limited)
    app.register_blueprint(blueprint)
    app.view_functions["console.sign_in"] = limited  # this limiter's own counters
    app.extensions["console_limiter"] = limiter
    limiter.init_app(app)


def instance_secret_key(folder: str | Path) -> str:
    """The key that signs console sessions when HITBLOCKS_SECRET_KEY is not set
    (``mturk.web_sessions.instance_secret_key``)."""
    return web_sessions.instance_secret_key(folder, SECRET_KEY_FILE)


def _limit_storage(app: Flask) -> str:
    return str(app.config.get("RATELIMIT_STORAGE_URI") or "memory://")


def _client_address() -> str:
    return "console-sign-in-address:" + (request.remote_addr or "unknown")


def _email_key() -> str:
    return "console-sign-in-email:" + request.form.get("email", "").strip().lower()


def _failed(response: Response) -> bool:
    """A refused sign-in counts; a success, or a request refused for the limit, does not."""
    return response.status_code == 401


@blueprint.errorhandler(RateLimitExceeded)
def _too_many(error: RateLimitExceeded) -> Response:
    """Too many failed sign-ins (or, on any console page, requests): a page that says when
    to try again, with Retry-After (which app.ratelimit keeps when ``g.retry_after`` is set)."""
    limiter: Limiter = current_app.extensions["console_limiter"]
    breached = limiter.current_limit
    wait = max(1, math.ceil(breached.reset_at - time.time())) if breached else 1
    g.retry_after = wait
    if request.endpoint == "console.sign_in":
        message = f"Too many failed sign-in attempts. Try again in {wait} seconds."
        return render_page("console/sign_in.html", 429, error=message)
    return refusal(429, f"Too many requests. Try again in {wait} seconds.")
