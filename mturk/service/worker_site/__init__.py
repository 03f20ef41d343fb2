"""The worker site: sign up, sign in, find HITs, preview, accept, work, submit.

Workers sign in with an email and a password (``workers``); the session is Flask's signed
cookie (HttpOnly, SameSite=Lax, Secure over https), checked against the worker's account on
every request, so that a disabled worker or a reset password ends it. Every form carries a
CSRF token (Flask-WTF), but ``/mturk/externalSubmit``, which task pages on other origins post
to as on MTurk: the assignment id (155 random bits) is its credential there, and a request
that does carry a session may submit only that worker's own assignment. Failed sign-ins are
rate-limited per email address and per client address (Flask-Limiter, in memory).

The task runs in a sandboxed iframe, from the task content origin (``content``) or, for an
ExternalQuestion, the requester's own site; never from the worker site's own origin. It is fed
the query parameters MTurk gives a task page: assignmentId, hitId, workerId, turkSubmitTo.
Its form posts to ``/mturk/externalSubmit``, which records MTurk's QuestionFormAnswers.

Where things are: ``site`` (what every page shares: blueprint, sessions, the signed-in
guard, the frame policy), ``accounts`` (sign in, sign up), ``hits`` (the list, preview,
accept, the task page, return), ``submit`` (externalSubmit), ``qualifications`` (requests
and tests), ``dashboard`` (the worker's earnings, history and messages); this module wires
them into an app.
"""

from __future__ import annotations

import functools
import math
import time

from flask import Flask, request
from flask_limiter import Limiter, RateLimitExceeded
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.wrappers import Response

from mturk.service.worker_site import accounts, dashboard, hits, qualifications, submit
from mturk.service.worker_site.site import (
    OPEN_SIGNUP,
    SIGN_IN_LIMIT_PER_ADDRESS,
    SIGN_IN_LIMIT_PER_EMAIL,
    WorkerSessions,
    blueprint,
    render_page,
)

__all__ = [
    "blueprint",
    "init_worker_site",
    "accounts",
    "dashboard",
    "hits",
    "qualifications",
    "submit",
]


def init_worker_site(app: Flask, secret_key: str, open_signup: bool) -> CSRFProtect:
    """Sessions, CSRF protection and sign-in limits for the worker site (the factory
    registers the blueprint); the CSRF extension, for the factory to exempt the requester
    API, which SigV4 protects."""
    app.config.update(
        SECRET_KEY=secret_key,
        SESSION_COOKIE_NAME="hitblocks_worker_session",  # apart from any other app's on the host
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        # A token is good for as long as its session: a task page left open for hours can
        # still be returned or accepted.
        WTF_CSRF_TIME_LIMIT=None,
    )
    app.config[OPEN_SIGNUP] = open_signup
    app.session_interface = WorkerSessions()
    csrf = CSRFProtect(app)
    csrf.exempt(submit.external_submit)
    app.register_error_handler(CSRFError, _csrf_refused)
    limiter = Limiter(key_func=_client_address, storage_uri="memory://")
    # Only the worker site's sign-in is limited: the requester API (SigV4, its own throttle)
    # and the other apps' routes skip the limiter's work on every call.
    limiter.request_filter(_not_the_worker_site)
    limited = limiter.limit(
        SIGN_IN_LIMIT_PER_EMAIL, key_func=_email_key, deduct_when=_failed, per_method=True
    )(accounts.login)
    limited = limiter.limit(
        SIGN_IN_LIMIT_PER_ADDRESS, key_func=_client_address, deduct_when=_failed, per_method=True
    )(limited)
    app.view_functions["worker.login"] = limited  # this app's own limiter and counters
    app.register_error_handler(RateLimitExceeded, functools.partial(_too_many, limiter))
    limiter.init_app(app)
    return csrf


def _not_the_worker_site() -> bool:
    return request.blueprint != "worker"


def _client_address() -> str:
    return "worker-sign-in-address:" + (request.remote_addr or "unknown")


def _email_key() -> str:
    email = request.form.get("email", "").strip().lower()
    return "worker-sign-in-email:" + email


def _failed(response: Response) -> bool:
    """A refused sign-in counts; a success, or a request refused for the limit, does not."""
    return response.status_code == 401


def _too_many(limiter: Limiter, error: RateLimitExceeded) -> Response:
    breached = limiter.current_limit
    wait = max(1, math.ceil(breached.reset_at - time.time())) if breached else 60
    message = f"Too many failed sign-in attempts. Try again in {wait} seconds."
    response = render_page("login.html", 429, error=message, worker_id=None)
    response.headers["Retry-After"] = str(wait)
    return response


def _csrf_refused(error: CSRFError) -> Response:
    message = (
        "This form was not sent from a page of the worker site, or that page is too old: "
        "go back, reload the page and try again."
    )
    return render_page("refused.html", 400, error=message, worker_id=None)
