"""What every worker-site page shares: the blueprint, signed sessions, the signed-in guard,
page rendering and the frame policy (only task content may be framed)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import (
    Blueprint,
    current_app,
    g,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask import session as browser_session
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from mturk.service.content import origin
from mturk.service.lifecycle import sweep_if_due
from mturk.service.store import (
    HITType,
    WorkerAccount,
)
from mturk.service.workers import (
    session_stamp,
    signed_in_worker,
)
from mturk.web_sessions import PlantProofSessions as WorkerSessions

__all__ = ["WorkerSessions"]  # the worker site's sessions: the shared rules

OPEN_SIGNUP = "MTURK_WORKER_OPEN_SIGNUP"
# Failed sign-ins allowed per email address, and per client address (several people may
# share one, behind a lab's NAT); successful ones are not counted.
SIGN_IN_LIMIT_PER_EMAIL = "5 per minute;20 per hour"
SIGN_IN_LIMIT_PER_ADDRESS = "20 per minute;100 per hour"

blueprint = Blueprint(
    "worker",
    __name__,
    template_folder="../templates",
    static_folder="../static",
    static_url_path="/assets",
)


def service_store() -> Any:
    return current_app.extensions["mturk_local_store"]


def session_worker(session: Session) -> str | None:
    """The worker the signed session names, while the account is active and the session is
    still good for it (a tampered cookie is no session: Flask drops it); else None, and the
    session is cleared."""
    worker_id = browser_session.get("worker_id")
    stamp = browser_session.get("stamp")
    if not isinstance(worker_id, str) or not isinstance(stamp, str):
        return None
    if signed_in_worker(session, worker_id, stamp) is None:
        browser_session.clear()
        return None
    g.worker_id = worker_id
    return worker_id


def start_session(account: WorkerAccount) -> None:
    browser_session.clear()  # a fresh session: nothing set before signing in carries over
    browser_session["worker_id"] = account.id
    browser_session["stamp"] = session_stamp(account)


def render_page(template: str, status: int = 200, **context: Any) -> Response:
    context.setdefault("worker_id", g.get("worker_id"))
    context.setdefault("open_signup", current_app.config.get(OPEN_SIGNUP, False))
    body = render_template(
        template, reward=_reward, when=_when, iso=iso, duration=duration, **context
    )
    return make_response(body, status)


def _reward(hit_type: HITType) -> str:
    return f"{hit_type.reward_cents / 100:.2f}"


def _when(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M UTC")


def duration(seconds: float) -> str:
    """A length of time in words, to two units: 45 seconds, 30 minutes, 1 hour 30 minutes,
    3 days (a HIT's time allotted, a test's duration, a retry delay)."""
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    parts = []
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count} {unit}{'s' if count != 1 else ''}")
    return " ".join(parts[:2])


def iso(timestamp: float) -> str:
    """A POSIX time as ISO 8601 in UTC, for ``<time datetime>`` (worker.js shows it in the
    worker's own time zone)."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def signed_in(view: Callable[..., Response]) -> Callable[..., Response]:
    """Run a page for the signed-in worker, in one transaction after the time sweep; a
    visitor who has not signed in is sent to the sign-in page, and from it back here."""

    @functools.wraps(view)
    def wrapper(**kwargs: Any) -> Response:
        store = service_store()
        with store.transaction() as session:
            worker_id = session_worker(session)
            if worker_id is None:  # back to this page once signed in (a GET's page only)
                back = request.full_path.rstrip("?") if request.method == "GET" else None
                return redirect(url_for("worker.index", next=back))
            sweep_if_due(store, session)
            return view(session, worker_id, **kwargs)

    return wrapper


def frame_policy(task_origin: str | None = None) -> str:
    """Worker pages frame only task content, and the worker site's own answer page that a
    task's form lands on; no other site frames them."""
    sources = " ".join(dict.fromkeys(filter(None, [task_origin, _content_origin(), "'self'"])))
    return f"frame-src {sources}; frame-ancestors 'self'"


def _content_origin() -> str | None:
    url = current_app.config.get("MTURK_CONTENT_URL")
    return origin(url) if url else None


@blueprint.before_request
def _refuse_nul() -> Response | None:
    """A path, query or form value holding a NUL character names nothing here, and
    PostgreSQL cannot even compare it: refused (400), not a failure (500). Answers sent to
    externalSubmit may hold one (``answers_xml`` drops it): that view checks its own id."""
    if request.endpoint == "worker.external_submit":
        return None
    values = [request.path]
    for sent in (request.args, request.form) if request.method == "POST" else (request.args,):
        for name, value in sent.items(multi=True):
            values += [name, value]
    if any("\x00" in value for value in values):
        error = "The address or form holds a NUL character, which nothing here has."
        return render_page("refused.html", 400, error=error)
    return None


@blueprint.after_request
def _frame_only_task_content(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", frame_policy())
    return response


@dataclass(frozen=True)
class QualificationLink:
    """A link from a refused HIT to the page of a qualification the worker can ask for."""

    name: str
    label: str
    url: str


def message_page(
    title: str, text: str, back: str, status: int, links: Sequence[QualificationLink] = ()
) -> Response:
    """A short page: a submission's outcome, or a refusal (``links``: the qualifications the
    worker may request to be let in)."""
    body = render_template(
        "submitted.html", title=title, text=text, back=back, qualification_links=links
    )
    return make_response(body, status)
