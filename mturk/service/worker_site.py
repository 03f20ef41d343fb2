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
"""

from __future__ import annotations

import functools
import math
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from flask import (
    Blueprint,
    Flask,
    Request,
    current_app,
    g,
    has_request_context,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask import session as browser_session
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask_limiter import Limiter, RateLimitExceeded
from flask_wtf.csrf import CSRFError, CSRFProtect, generate_csrf
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Response

from mturk.questions import answers_xml, parse_question
from mturk.service import events, qualifications, question_forms
from mturk.service.content import NOT_ACCEPTED, origin
from mturk.service.errors import TurkError
from mturk.service.lifecycle import DONE_STATUSES, move, refresh_status, sweep_if_due
from mturk.service.store import (
    HIT,
    Assignment,
    HITType,
    QualificationType,
    Requester,
    UploadedFile,
    WorkerAccount,
    WorkerBlock,
    WorkerMessage,
    now,
)
from mturk.service.workers import (
    WorkerError,
    authenticate,
    invitation_is_valid,
    is_disabled,
    session_stamp,
    sign_up,
    signed_in_worker,
)

OPEN_SIGNUP = "MTURK_WORKER_OPEN_SIGNUP"
# Failed sign-ins allowed per email address, and per client address (several people may
# share one, behind a lab's NAT); successful ones are not counted.
SIGN_IN_LIMIT_PER_EMAIL = "5 per minute;20 per hour"
SIGN_IN_LIMIT_PER_ADDRESS = "20 per minute;100 per hour"
# The task frame's sandbox (see ``_sandbox``): task content is on an origin of its own.
FRAME_SANDBOX = (
    "allow-scripts allow-forms allow-same-origin allow-popups "
    "allow-popups-to-escape-sandbox allow-modals allow-top-navigation-by-user-activation"
)
FRAME_SANDBOX_SAME_ORIGIN = "allow-scripts allow-forms allow-top-navigation-by-user-activation"

blueprint = Blueprint(
    "worker",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/assets",
)


def _store() -> Any:
    return current_app.extensions["mturk_local_store"]


class WorkerSessions(SecureCookieSessionInterface):
    """Flask's signed cookie session, marked Secure whenever the request came over https
    (directly, or through a proxy that ProxyFix trusts), and safe from cookie tossing:
    cookies ignore ports and a sibling host may set cookies for the whole domain, so a task
    page's script could plant its own signed-in session for the worker site. Over https the
    cookie is ``__Host-`` prefixed (browsers let no other host set it); and a request that
    carries two session cookies (one planted) has no session at all."""

    def get_cookie_secure(self, app: Flask) -> bool:
        configured = bool(app.config["SESSION_COOKIE_SECURE"])
        return configured or (has_request_context() and request.is_secure)

    def get_cookie_name(self, app: Flask) -> str:
        name = super().get_cookie_name(app)
        return f"__Host-{name}" if has_request_context() and request.is_secure else name

    def open_session(self, app: Flask, incoming: Request) -> SecureCookieSession | None:
        if len(incoming.cookies.getlist(self.get_cookie_name(app))) > 1:
            return self.session_class()  # one of them was planted: trust neither
        return super().open_session(app, incoming)


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
    csrf.exempt(external_submit)
    app.register_error_handler(CSRFError, _csrf_refused)
    limiter = Limiter(key_func=_client_address, storage_uri="memory://")
    limited = limiter.limit(
        SIGN_IN_LIMIT_PER_EMAIL, key_func=_email_key, deduct_when=_failed, per_method=True
    )(login)
    limited = limiter.limit(
        SIGN_IN_LIMIT_PER_ADDRESS, key_func=_client_address, deduct_when=_failed, per_method=True
    )(limited)
    app.view_functions["worker.login"] = limited  # this app's own limiter and counters
    app.register_error_handler(RateLimitExceeded, functools.partial(_too_many, limiter))
    limiter.init_app(app)
    return csrf


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
    response = _page("login.html", 429, error=message, worker_id=None)
    response.headers["Retry-After"] = str(wait)
    return response


def _csrf_refused(error: CSRFError) -> Response:
    message = (
        "This form was not sent from a page of the worker site, or that page is too old: "
        "go back, reload the page and try again."
    )
    return _page("refused.html", 400, error=message, worker_id=None)


def _session_worker(session: Session) -> str | None:
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


def _start_session(account: WorkerAccount) -> None:
    browser_session.clear()  # a fresh session: nothing set before signing in carries over
    browser_session["worker_id"] = account.id
    browser_session["stamp"] = session_stamp(account)


def _page(template: str, status: int = 200, **context: Any) -> Response:
    context.setdefault("worker_id", g.get("worker_id"))
    context.setdefault("open_signup", current_app.config.get(OPEN_SIGNUP, False))
    body = render_template(template, reward=_reward, when=_when, **context)
    return make_response(body, status)


def _reward(hit_type: HITType) -> str:
    return f"{hit_type.reward_cents / 100:.2f}"


def _when(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M UTC")


def signed_in(view: Callable[..., Response]) -> Callable[..., Response]:
    """Run a page for the signed-in worker, in one transaction after the time sweep; a
    visitor who has not signed in is sent to the sign-in page."""

    @functools.wraps(view)
    def wrapper(**kwargs: Any) -> Response:
        store = _store()
        with store.transaction() as session:
            worker_id = _session_worker(session)
            if worker_id is None:
                return redirect(url_for("worker.index"))
            sweep_if_due(store, session)
            return view(session, worker_id, **kwargs)

    return wrapper


@blueprint.get("/worker")
def index() -> Response:
    """The signed-in worker's HITs; the sign-in page for anyone else."""
    store = _store()
    with store.transaction() as session:
        worker_id = _session_worker(session)
        if worker_id is None:
            return _page("login.html")
        sweep_if_due(store, session)
        return _page("hits.html", **_dashboard(session, worker_id))


def _dashboard(session: Session, worker_id: str) -> dict[str, Any]:
    mine = select(Assignment.hit_id).where(
        Assignment.worker_id == worker_id, Assignment.status.not_in(("Returned", "Abandoned"))
    )
    taken = (
        select(Assignment.hit_id, func.count().label("taken"))
        .where(Assignment.status.in_(("Accepted", *DONE_STATUSES)))
        .group_by(Assignment.hit_id)
        .subquery()
    )
    rows = session.execute(
        select(HIT, HITType, func.coalesce(taken.c.taken, 0))
        .join(HITType, HITType.id == HIT.hit_type_id)
        .outerjoin(taken, taken.c.hit_id == HIT.id)
        .where(
            HIT.status == "Assignable",
            HIT.id.not_in(mine),
            HIT.requester_id.not_in(_blocking_requesters(worker_id)),
        )
        .order_by(HIT.seq.desc())
        .limit(200)
    ).all()
    in_progress = session.execute(
        select(Assignment, HIT, HITType)
        .join(HIT, HIT.id == Assignment.hit_id)
        .join(HITType, HITType.id == HIT.hit_type_id)
        .where(Assignment.worker_id == worker_id, Assignment.status == "Accepted")
    ).all()
    messages = session.scalars(
        select(WorkerMessage)
        .where(WorkerMessage.worker_id == worker_id)
        .order_by(WorkerMessage.seq.desc())
        .limit(5)
    ).all()
    shown = [  # a requirement guarding discovery hides the HIT from who does not meet it
        (hit, t, taken)
        for hit, t, taken in rows
        if not qualifications.unmet(
            session, worker_id, t.qualification_requirements or [], "DiscoverPreviewAndAccept"
        )
    ]
    return {
        "available": [(hit, t, hit.max_assignments - taken) for hit, t, taken in shown],
        "in_progress": in_progress,
        "messages": messages,
    }


def _blocking_requesters(worker_id: str) -> Select[int]:
    """The requesters that blocked this worker: their HITs are neither shown nor accepted."""
    return select(WorkerBlock.requester_id).where(WorkerBlock.worker_id == worker_id)


def _blocked(session: Session, worker_id: str, hit: HIT) -> bool:
    blocking = _blocking_requesters(worker_id).where(WorkerBlock.requester_id == hit.requester_id)
    return session.scalar(blocking) is not None


@blueprint.post("/worker/login")
def login() -> Response:
    """Sign in with an email and a password (rate-limited: see ``init_worker_site``)."""
    email = request.form.get("email", "")
    try:
        account = authenticate(_store(), email, request.form.get("password", ""))
    except WorkerError as error:
        return _page("login.html", 401, error=str(error), email=email, worker_id=None)
    _start_session(account)
    return redirect(url_for("worker.index"))


@blueprint.post("/worker/logout")
def logout() -> Response:
    browser_session.clear()
    return redirect(url_for("worker.index"))


@blueprint.get("/worker/signup")
def signup_form() -> Response:
    """The sign-up page, from an invitation link, or open when the setting says so."""
    invitation = request.args.get("invitation", "")
    if invitation and not invitation_is_valid(_store(), invitation):
        return _signup_page(404, error="This invitation link is not valid: it expired or was used.")
    if not invitation and not current_app.config[OPEN_SIGNUP]:
        return _signup_page(
            403, error="Signing up needs an invitation link: ask the team that runs this site."
        )
    return _signup_page(200, invitation=invitation)


@blueprint.post("/worker/signup")
def signup() -> Response:
    invitation = request.form.get("invitation", "")
    email = request.form.get("email", "")
    try:
        account = sign_up(
            _store(),
            email,
            request.form.get("password", ""),
            invitation or None,
            bool(current_app.config[OPEN_SIGNUP]),
        )
    except WorkerError as error:
        return _signup_page(400, error=str(error), invitation=invitation, email=email)
    _start_session(account)
    return redirect(url_for("worker.index"))


def _signup_page(status: int, **context: Any) -> Response:
    response = _page("signup.html", status, worker_id=None, **context)
    # The link's token goes to no other site; the worker site's own form still gets the
    # Referer that CSRF protection checks over https.
    response.headers["Referrer-Policy"] = "same-origin"
    return response


def _task_page(
    session: Session,
    hit: HIT,
    assignment: Assignment | None,
    worker_id: str,
    error: str | None = None,
    status: int = 200,
    links: Sequence[QualificationLink] = (),
) -> Response:
    hit_type = session.get(HITType, hit.hit_type_id)
    question = parse_question(hit.question, allow_http=True)  # accepted at CreateHIT
    here = request.host_url.rstrip("/")
    query = {
        "assignmentId": assignment.id if assignment else NOT_ACCEPTED,
        "hitId": hit.id,
        "workerId": worker_id,
        "turkSubmitTo": here,
    }
    if question.kind == "external":
        separator = "&" if "?" in question.content else "?"
        frame_url = question.content + separator + urlencode(query)
    elif current_app.config.get("MTURK_CONTENT_URL"):
        content_url = current_app.config["MTURK_CONTENT_URL"]
        frame_url = f"{content_url}/tasks/{hit.id}?{urlencode(query)}"
    else:  # a service run without a content origin (requester API only) shows no task
        frame_url = "about:blank"
    can_accept = (
        assignment is None and hit.status == "Assignable" and not _blocked(session, worker_id, hit)
    )
    response = _page(
        "task.html",
        status,
        hit=hit,
        hit_type=hit_type,
        assignment=assignment,
        can_accept=can_accept,
        frame_url=frame_url,
        frame_sandbox=_sandbox(frame_url, here),
        frame_height=question.frame_height or 640,
        error=error,
        qualification_links=links,
    )
    task_origin = origin(frame_url) if frame_url.startswith("http") else None
    response.headers["Content-Security-Policy"] = _frame_policy(task_origin)
    return response


def _sandbox(frame_url: str, here: str) -> str:
    """The task frame's sandbox: a task on another origin may keep its own origin (storage)
    and open windows; one on the worker site's own origin may not, or it could script the
    worker's pages."""
    if origin(frame_url) == origin(here):
        return FRAME_SANDBOX_SAME_ORIGIN
    return FRAME_SANDBOX


def _frame_policy(task_origin: str | None = None) -> str:
    """Worker pages frame only task content, and the worker site's own answer page that a
    task's form lands on; no other site frames them."""
    sources = " ".join(dict.fromkeys(filter(None, [task_origin, _content_origin(), "'self'"])))
    return f"frame-src {sources}; frame-ancestors 'self'"


def _content_origin() -> str | None:
    url = current_app.config.get("MTURK_CONTENT_URL")
    return origin(url) if url else None


@blueprint.after_request
def _frame_only_task_content(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", _frame_policy())
    return response


@blueprint.get("/worker/hits/<hit_id>")
@signed_in
def preview(session: Session, worker_id: str, hit_id: str) -> Response:
    hit = session.scalar(select(HIT).where(HIT.id == hit_id))
    if hit is None or hit.status == "Disposed":
        return _page("hits.html", 404, **_dashboard(session, worker_id))
    refused = _unqualified(session, hit, worker_id, "PreviewAndAccept")
    if refused is not None:
        links = _qualification_links(session, hit, worker_id, "PreviewAndAccept")
        return _submitted("Not available", refused, url_for("worker.index"), 403, links)
    links = _qualification_links(session, hit, worker_id, "Accept")
    return _task_page(session, hit, None, worker_id, links=links)


@blueprint.post("/worker/hits/<hit_id>/accept")
@signed_in
def accept(session: Session, worker_id: str, hit_id: str) -> Response:
    hit = session.scalar(select(HIT).where(HIT.id == hit_id).with_for_update())
    if hit is None or hit.status == "Disposed":
        return _page("hits.html", 404, **_dashboard(session, worker_id))
    problem = _why_not_accept(session, hit, worker_id)
    hidden = _unqualified(session, hit, worker_id, "PreviewAndAccept")
    if hidden is not None:  # not even the preview for this worker
        links = _qualification_links(session, hit, worker_id, "PreviewAndAccept")
        return _submitted("Not available", hidden, url_for("worker.index"), 403, links)
    if problem:
        links = _qualification_links(session, hit, worker_id, "Accept")
        return _task_page(session, hit, None, worker_id, problem, 409, links)
    hit_type = session.get(HITType, hit.hit_type_id)
    assert hit_type is not None
    at = now()
    assignment = Assignment(
        hit_id=hit.id,
        worker_id=worker_id,
        accept_time=at,
        deadline=at + hit_type.assignment_duration,
    )
    session.add(assignment)
    session.flush()
    events.emit(session, events.ASSIGNMENT_ACCEPTED, hit, assignment.id, at)
    refresh_status(session, hit, at)
    return redirect(url_for("worker.work", assignment_id=assignment.id))


def _why_not_accept(session: Session, hit: HIT, worker_id: str) -> str | None:
    if _blocked(session, worker_id, hit):
        return "You are blocked by this requester."
    if hit.status != "Assignable":
        return "This HIT is no longer available."
    already = session.scalar(
        select(Assignment).where(
            Assignment.hit_id == hit.id,
            Assignment.worker_id == worker_id,
            Assignment.status.not_in(("Returned", "Abandoned")),
        )
    )
    if already is not None:
        return "You have already worked on this HIT."
    return _unqualified(session, hit, worker_id)


def _unqualified(session: Session, hit: HIT, worker_id: str, action: str = "Accept") -> str | None:
    """Why the worker may not do ``action`` on this HIT (Accept, which submitting needs too, or
    PreviewAndAccept) for want of a qualification: every requirement guarding it must be
    met."""
    hit_type = session.get(HITType, hit.hit_type_id)
    assert hit_type is not None
    missing = qualifications.unmet(
        session, worker_id, hit_type.qualification_requirements or [], action
    )
    if not missing:
        return None
    wanted = "; ".join(qualifications.describe(session, requirement) for requirement in missing)
    return f"You do not meet this HIT's qualification requirements: {wanted}."


def _own_assignment(session: Session, assignment_id: str, worker_id: str) -> Assignment | None:
    return session.scalar(
        select(Assignment).where(
            Assignment.id == assignment_id,
            Assignment.worker_id == worker_id,
            Assignment.status == "Accepted",
        )
    )


@blueprint.get("/worker/assignments/<assignment_id>")
@signed_in
def work(session: Session, worker_id: str, assignment_id: str) -> Response:
    assignment = _own_assignment(session, assignment_id, worker_id)
    if assignment is None:
        return _page("hits.html", 404, **_dashboard(session, worker_id))
    hit = session.scalar(select(HIT).where(HIT.id == assignment.hit_id))
    assert hit is not None
    return _task_page(session, hit, assignment, worker_id)


@blueprint.post("/worker/assignments/<assignment_id>/return")
@signed_in
def return_assignment(session: Session, worker_id: str, assignment_id: str) -> Response:
    assignment = _own_assignment(session, assignment_id, worker_id)
    if assignment is not None:
        # Locked first, as accept and submit lock it, to count its assignments afresh.
        hit = session.scalar(select(HIT).where(HIT.id == assignment.hit_id).with_for_update())
        assert hit is not None
        try:
            move(session, assignment, {"Accepted"}, status="Returned")
        except TurkError:
            return redirect(url_for("worker.index"))  # submitted or returned meanwhile
        events.emit(session, events.ASSIGNMENT_RETURNED, hit, assignment.id)
        refresh_status(session, hit)
    return redirect(url_for("worker.index"))


@blueprint.route("/mturk/externalSubmit", methods=["GET", "POST"])
def external_submit() -> Response:
    """Record a worker's answers as MTurk would: every field but assignmentId, as FreeText.
    Task forms post them; mmturkey-style pages send them as the query of a GET, as MTurk
    accepts too. Only a still Accepted assignment takes answers, and, when the request comes
    with a worker's session, only that worker's own. A QuestionForm HIT's answers are checked
    against its form (``question_forms.collect``) and its uploads kept as ``UploadedFile``."""
    back = url_for("worker.index", _external=True)
    try:
        values = request.form if request.method == "POST" else request.args
        files = request.files if request.method == "POST" else None
    except RequestEntityTooLarge:
        limit = question_forms.describe_size(question_forms.MAX_SUBMISSION_BYTES)
        text = f"What was sent is too large: a submission may carry at most {limit} in all."
        return _submitted("Not submitted", text, back, 413)
    assignment_id = values.get("assignmentId", "")
    fields = [(name, value) for name, value in values.items(multi=True) if name != "assignmentId"]
    with _store().transaction() as session:
        sweep_if_due(_store(), session)
        assignment = session.scalar(select(Assignment).where(Assignment.id == assignment_id))
        problem = _why_not_submit(session, assignment)
        if problem is not None:
            return _submitted("Not submitted", problem, back, 409 if assignment else 400)
        assert assignment is not None
        refused = _whose(session, assignment)
        if refused is not None:
            return _submitted("Not submitted", refused, back, 403)
        # Locked (as accept locks it): of two last submits at once, the second counts the
        # HIT's assignments once the first is committed, so the HIT becomes Reviewable.
        locked = select(HIT).where(HIT.id == assignment.hit_id).with_for_update()
        hit = session.scalar(locked.execution_options(populate_existing=True))
        assert hit is not None
        unqualified = _unqualified(session, hit, assignment.worker_id)
        if unqualified is not None:  # e.g. revoked since the worker accepted
            return _submitted("Not submitted", unqualified, back, 403)
        hit_type = session.get(HITType, hit.hit_type_id)
        assert hit_type is not None
        answer = answers_xml(fields)
        uploads: tuple[question_forms.Upload, ...] = ()
        question = parse_question(hit.question, allow_http=True)  # accepted at CreateHIT
        if question.kind == "form":  # QuestionForm: checked and answered as MTurk does
            form = question_forms.parse_form(question.content)
            collected = question_forms.collect(form, values, files, assignment_id=assignment.id)
            if collected.errors:
                return _refused_form(form, hit_type, assignment.id, values, collected.errors)
            answer, uploads = collected.answers_xml, collected.uploads
        at = now()
        try:  # once: of two submits at once (a double click, a retry), one records
            move(
                session,
                assignment,
                {"Accepted"},
                answer=answer,
                status="Submitted",
                submit_time=at,
                auto_approval_time=at + hit_type.auto_approval_delay,
            )
        except TurkError:
            return _submitted("Not submitted", "This assignment was already submitted.", back, 409)
        for upload in uploads:  # with the answers, in the same transaction
            session.add(
                UploadedFile(
                    assignment_id=assignment.id,
                    question_identifier=upload.question_identifier,
                    filename=upload.filename,
                    content_type=upload.content_type,
                    size=len(upload.data),
                    data=upload.data,
                    created_at=at,
                )
            )
        events.emit(session, events.ASSIGNMENT_SUBMITTED, hit, assignment.id, at)
        refresh_status(session, hit, at)
    return _submitted("HIT submitted", "Your work was submitted. Thank you!", back, 200)


def _refused_form(
    form: question_forms.QuestionForm,
    hit_type: HITType,
    assignment_id: str,
    values: Any,
    errors: dict[str, str],
) -> Response:
    """A QuestionForm submission that breaks its constraints: nothing is recorded; the form
    is shown again (in the task frame) with what was given and what is wrong, to fix and
    submit again (files must be chosen again: browsers never send them back)."""
    rendered = question_forms.render(
        form,
        action=url_for("worker.external_submit"),
        hidden={"assignmentId": assignment_id},
        values=values,
        errors=errors,
    )
    return make_response(question_forms.page(hit_type.title, rendered), 400)


def _why_not_submit(session: Session, assignment: Assignment | None) -> str | None:
    if assignment is None:
        return "There is no such assignment: accept the HIT before submitting."
    if assignment.status == "Returned":
        return "This assignment was returned and can no longer be submitted."
    if assignment.status == "Abandoned" or assignment.deadline <= now():
        return "The time allotted for this assignment has run out."
    if assignment.status != "Accepted":
        return "This assignment was already submitted."
    # A HIT that expired meanwhile still takes the work of those who accepted it before, until
    # their own deadline (MTurk's rule: expiry stops new accepts only).
    hit = session.scalar(select(HIT).where(HIT.id == assignment.hit_id))
    if hit is None or hit.status == "Disposed":
        return "This HIT has been deleted."
    return None


def _whose(session: Session, assignment: Assignment) -> str | None:
    """Why this request may not submit this assignment: it is signed in as another worker,
    or the assignment's worker has been disabled."""
    signed_in_as = _session_worker(session)
    if signed_in_as is not None and signed_in_as != assignment.worker_id:
        return "This assignment is not yours: sign in as the worker who accepted it."
    if is_disabled(session, assignment.worker_id):
        return "This worker account is disabled."
    return None


def _submitted(
    title: str, text: str, back: str, status: int, links: Sequence[QualificationLink] = ()
) -> Response:
    """A short page: a submission's outcome, or a refusal (``links``: the qualifications the
    worker may request to be let in)."""
    body = render_template(
        "submitted.html", title=title, text=text, back=back, qualification_links=links
    )
    return make_response(body, status)


# ---- qualifications: requestable types, requests and tests (``qualifications``) ------------
#
# Every requester's Active, requestable types are listed for workers, with where the worker
# stands; a type's page requests it or starts its test, whose page renders the QuestionForm
# (``question_forms``). A refusal for an unmet requirement links to these pages, carrying the
# HIT (``hit``) so that the worker can go back to it.

HIT_ID = re.compile(r"^[A-Z0-9]{1,64}$")


@dataclass(frozen=True)
class QualificationLink:
    """A link from a refused HIT to the page of a qualification the worker can ask for."""

    name: str
    label: str
    url: str


def _qualification_links(
    session: Session, hit: HIT, worker_id: str, action: str
) -> list[QualificationLink]:
    """For each unmet requirement guarding ``action`` whose type workers may request, a link
    to that type's page ("Request qualification" or "Take qualification test")."""
    hit_type = session.get(HITType, hit.hit_type_id)
    assert hit_type is not None
    missing = qualifications.unmet(
        session, worker_id, hit_type.qualification_requirements or [], action
    )
    type_ids = list(dict.fromkeys(requirement["QualificationTypeId"] for requirement in missing))
    offered = session.scalars(
        select(QualificationType).where(
            QualificationType.id.in_(type_ids),
            QualificationType.status == "Active",
            QualificationType.is_requestable.is_(True),
        )
    )
    return [
        QualificationLink(
            row.name,
            "Take qualification test" if row.test is not None else "Request qualification",
            url_for("worker.qualification_page", type_id=row.id, hit=hit.id),
        )
        for row in sorted(offered, key=lambda row: type_ids.index(row.id))
    ]


def _from_hit(session: Session) -> HIT | None:
    """The HIT the worker came from (``hit`` in the query or the form), to go back to."""
    hit_id = request.values.get("hit", "")
    if not HIT_ID.match(hit_id):
        return None
    return session.scalar(select(HIT).where(HIT.id == hit_id, HIT.status != "Disposed"))


def _back_to(hit: HIT | None) -> dict[str, Any]:
    return {"hit": hit.id} if hit is not None else {}


def _owner_names(session: Session, types: Sequence[QualificationType]) -> dict[int, str]:
    ids = {row.requester_id for row in types}
    rows = session.execute(select(Requester.id, Requester.name).where(Requester.id.in_(ids)))
    return {requester_id: name for requester_id, name in rows}


def _offered_or_404(session: Session, type_id: str) -> QualificationType | Response:
    row = qualifications.offered_type(session, type_id)
    if row is None:
        return _page("refused.html", 404, error="There is no such qualification.")
    return row


@blueprint.get("/worker/qualifications")
@signed_in
def qualification_list(session: Session, worker_id: str) -> Response:
    """The qualifications workers may request, searchable, with the worker's standing."""
    query = request.args.get("q", "")[:200]
    types = qualifications.offered_types(session, query)
    return _page(
        "qualifications.html",
        query=query,
        standings=qualifications.standings(session, worker_id, types),
        owners=_owner_names(session, types),
    )


def _qualification(
    session: Session,
    worker_id: str,
    row: QualificationType,
    error: str | None = None,
    status: int = 200,
) -> Response:
    return _page(
        "qualification.html",
        status,
        standing=qualifications.standing(session, worker_id, row),
        owner=_owner_names(session, [row]).get(row.requester_id, ""),
        hit=_from_hit(session),
        error=error,
        duration=_duration,
    )


def _duration(seconds: float) -> str:
    """A test's duration or a retry delay in words: in days, hours or minutes (rounded up)."""
    for unit, size in (("day", 86_400), ("hour", 3_600)):
        if seconds >= size and seconds % size == 0:
            count = int(seconds // size)
            return f"{count} {unit}{'s' if count != 1 else ''}"
    minutes = max(1, math.ceil(seconds / 60))
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


@blueprint.get("/worker/qualifications/<type_id>")
@signed_in
def qualification_page(session: Session, worker_id: str, type_id: str) -> Response:
    row = _offered_or_404(session, type_id)
    if isinstance(row, Response):
        return row
    return _qualification(session, worker_id, row)


@blueprint.post("/worker/qualifications/<type_id>/request")
@signed_in
def request_qualification(session: Session, worker_id: str, type_id: str) -> Response:
    """Request a type without a test: granted at once if AutoGranted, else Pending."""
    row = _offered_or_404(session, type_id)
    if isinstance(row, Response):
        return row
    try:
        qualifications.request_qualification(session, worker_id, row)
    except qualifications.CannotRequest as refused:
        return _qualification(session, worker_id, row, str(refused), 409)
    return redirect(
        url_for("worker.qualification_page", type_id=row.id, **_back_to(_from_hit(session)))
    )


@blueprint.post("/worker/qualifications/<type_id>/test")
@signed_in
def start_qualification_test(session: Session, worker_id: str, type_id: str) -> Response:
    """Start the test (its time runs from now), or go back to the one in progress."""
    row = _offered_or_404(session, type_id)
    if isinstance(row, Response):
        return row
    try:
        qualifications.start_test(session, worker_id, row)
    except qualifications.CannotRequest as refused:
        return _qualification(session, worker_id, row, str(refused), 409)
    return redirect(
        url_for("worker.qualification_test", type_id=row.id, **_back_to(_from_hit(session)))
    )


def _test_page(
    session: Session,
    worker_id: str,
    row: QualificationType,
    values: Any = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    try:
        _, form, deadline = qualifications.current_test(session, worker_id, row)
    except qualifications.CannotRequest as refused:
        return _qualification(session, worker_id, row, str(refused), 409)
    hit = _from_hit(session)
    rendered = question_forms.render(
        form,
        action=url_for("worker.submit_qualification_test", type_id=row.id),
        hidden={"csrf_token": generate_csrf(), **_back_to(hit)},
        values=values,
        errors=errors,
        submit_label="Submit answers",
    )
    return _page(
        "qualification_test.html",
        status,
        qualification_type=row,
        form=rendered,
        deadline=deadline,
        left=max(0, int(deadline - now())),
        errors=errors,
        hit=hit,
    )


@blueprint.get("/worker/qualifications/<type_id>/test")
@signed_in
def qualification_test(session: Session, worker_id: str, type_id: str) -> Response:
    row = _offered_or_404(session, type_id)
    if isinstance(row, Response):
        return row
    return _test_page(session, worker_id, row)


@blueprint.post("/worker/qualifications/<type_id>/test/submit")
@signed_in
def submit_qualification_test(session: Session, worker_id: str, type_id: str) -> Response:
    """Take the answers, in time only: graded at once with an AnswerKey, else Pending."""
    row = _offered_or_404(session, type_id)
    if isinstance(row, Response):
        return row
    try:
        qualifications.submit_test(session, worker_id, row, request.form, request.files)
    except qualifications.AnswersRefused as refused:
        return _test_page(session, worker_id, row, request.form, refused.errors, 400)
    except qualifications.CannotRequest as refused:
        return _qualification(session, worker_id, row, str(refused), 409)
    return redirect(
        url_for("worker.qualification_page", type_id=row.id, **_back_to(_from_hit(session)))
    )


# ---- end of qualifications --------------------------------------------------------------
