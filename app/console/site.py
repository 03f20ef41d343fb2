"""What every console page shares: the blueprint, the signed-in user, the role guard, page
rendering, security headers, CSRF, and how refusals look (HTML pages; JSON for the JSON
endpoints the pages' scripts call).

The console is a web UI of the API app, for people: users of an account sign in with an
email and a password (``app.services.users``); the session is Flask's signed cookie
(``hitblocks_console_session``, HttpOnly, SameSite=Lax, Secure and ``__Host-`` over https,
refused when two are sent: ``mturk.web_sessions``), checked against the user on every
request, so a new password or a disabled user ends it; and it ends on the server after
``IDLE_LIMIT`` without use or ``SESSION_LIMIT`` after signing in, whatever the cookie's
copies (the times are in the signed cookie, so nobody can change them). Forms carry a CSRF
token (Flask-WTF); scripts send it in ``X-CSRFToken`` from the page's ``csrf-token`` meta
tag. The JSON API under ``/v1`` is not concerned: API keys are its credential, and no cookie
reaches it.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

from flask import (
    Blueprint,
    current_app,
    g,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask import session as browser_session
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from app.domain import Conflict, DomainError, InvalidState, NotFound
from app.extensions import db
from app.models import User
from app.services import transaction
from app.services.users import ADMIN, session_stamp, signed_in_user
from mturk.gateway import MTurkError, MTurkUnavailable

blueprint = Blueprint(
    "console",
    __name__,
    url_prefix="/console",
    template_folder="templates",
    static_folder="static",
    static_url_path="/assets",
)

# Script and styles from the console's own files only (no inline script), images from
# anywhere (items show their image URLs), never framed by another page, nothing kept in caches.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: https: http:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

View = TypeVar("View", bound=Callable[..., Any])

IDLE_LIMIT = 12 * 3600  # seconds a session may go unused
SESSION_LIMIT = 7 * 24 * 3600  # seconds a session lasts however much it is used
SEEN_EVERY = 60  # seconds between updates of the last use (and so of the cookie)


def _now() -> float:
    return time.time()


def current_user() -> User:
    """The signed-in user of this request (only inside a ``signed_in`` view)."""
    user: User = g.console_user
    return user


def start_session(user: User) -> None:
    browser_session.clear()  # a fresh session: nothing set before signing in carries over
    browser_session["user_id"] = user.id
    browser_session["stamp"] = session_stamp(user)
    browser_session["issued"] = browser_session["seen"] = int(_now())


def _session_fresh() -> bool:
    """The session was signed in less than SESSION_LIMIT ago and used less than IDLE_LIMIT
    ago; its last use is refreshed (at most once a SEEN_EVERY)."""
    issued, seen, now = browser_session.get("issued"), browser_session.get("seen"), _now()
    if not isinstance(issued, int) or not isinstance(seen, int):
        return False  # opened before sessions expired, or not by start_session
    if now - issued > SESSION_LIMIT or now - seen > IDLE_LIMIT:
        return False
    if now - seen >= SEEN_EVERY:
        browser_session["seen"] = int(now)
    return True


def _session_user() -> User | None:
    """The user the signed session names, while active and the session still good for
    them; else None, and the session is cleared."""
    user_id = browser_session.get("user_id")
    stamp = browser_session.get("stamp")
    if not isinstance(user_id, int) or not isinstance(stamp, str):
        return None
    if not _session_fresh():
        browser_session.clear()
        return None
    with transaction(db.session):
        user = signed_in_user(db.session, user_id, stamp)
        if user is not None:  # as read: the request's commits must not reload it each time
            db.session.expunge(user)
    if user is None:
        browser_session.clear()
    return user


def wants_json() -> bool:
    """The request is one a page's script makes (a JSON endpoint), not a page."""
    if request.is_json or request.headers.get("X-Requested-With") == "fetch":
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return (
        best == "application/json"
        and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]
    )


def signed_in(role: str | Callable[..., Any] | None = None) -> Any:
    """Run a view for a signed-in user whose role is ``role`` (or admin, who may do
    everything). A visitor is sent to the sign-in page and from it back here (a JSON
    endpoint answers 401 instead); a user whose role is not enough gets a 403.
    Use as ``@signed_in()``, ``@signed_in("admin")`` or plain ``@signed_in``."""
    if callable(role):
        return signed_in()(role)

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            user = _session_user()
            if user is None:
                if wants_json() or request.method != "GET":
                    return refusal(401, "Your session has ended: sign in again.")
                back = request.full_path.rstrip("?")
                return redirect(url_for("console.sign_in_form", next=back))
            g.console_user = user
            if role is not None and user.role not in (role, ADMIN):
                return refusal(403, f"This needs the {role} role; you are a {user.role}.")
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def render_page(template: str, status: int = 200, **context: Any) -> Response:
    """A console page from ``templates/console/``, with the signed-in user (if any)."""
    context.setdefault("user", g.get("console_user"))
    body = render_template(template, money=money, when=when, **context)
    return make_response(body, status)


def money(amount: Decimal | None) -> str:
    return "$0.00" if amount is None else f"${amount:,.2f}"


def when(moment: datetime | None) -> str:
    return "" if moment is None else moment.strftime("%Y-%m-%d %H:%M UTC")


def refusal(
    status: int, message: str, title: str | None = None, code: str | None = None
) -> Response:
    """A refusal as the caller can read it: a JSON error body for the pages' scripts
    (``{"error": {"type", "message", "code"}}``), else an HTML page."""
    if wants_json():
        kind = "authentication_error" if status == 401 else "invalid_request_error"
        response = jsonify({"error": {"type": kind, "message": message, "code": code}})
        response.status_code = status
        return response
    title = title or TITLES.get(status, "Refused")
    return render_page("console/error.html", status, title=title, message=message)


TITLES = {
    400: "Not done",
    401: "Sign in first",
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed",
    409: "Not done",
    429: "Too many attempts",
    502: "MTurk did not answer",
    503: "MTurk did not answer",
}


@blueprint.before_request
def _check_csrf() -> None:
    """Every form and script call that changes something carries the CSRF token (the
    app-wide default is off, so that the ``/v1`` API keeps API keys as its credential)."""
    if request.endpoint != "console.static":
        current_app.extensions["csrf"].protect()


@blueprint.after_request
def _security_headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if request.endpoint != "console.static":
        response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.errorhandler(DomainError)
def _domain_error(error: DomainError) -> Response:
    db.session.rollback()
    if isinstance(error, NotFound):
        message = "There is no such page here." if not wants_json() else error.message
        return refusal(404, message, code=error.code)
    if isinstance(error, InvalidState | Conflict):
        return refusal(409, error.message, code=error.code)
    return refusal(400, error.message, code=error.code)


@blueprint.errorhandler(MTurkError)
def _mturk_error(error: MTurkError) -> Response:
    db.session.rollback()
    status = 503 if isinstance(error, MTurkUnavailable) else 502
    return refusal(status, f"MTurk refused or did not answer: {error}", code=error.code)


@blueprint.errorhandler(CSRFError)
def _csrf_refused(error: CSRFError) -> Response:
    message = (
        "This form was not sent from a page of the console, or that page is too old: "
        "go back, reload the page and try again."
    )
    return refusal(400, message, "Form expired")


@blueprint.errorhandler(HTTPException)
def _http_error(error: HTTPException) -> Response:
    status = error.code or 500
    return refusal(status, error.description or "Refused.")


@blueprint.route("/<path:rest>", methods=["GET", "POST"])
def _nowhere(rest: str) -> Response:
    """Any other address under /console: the console's own 404 page (not the API's JSON)."""
    return refusal(404, "There is no such page here.")
