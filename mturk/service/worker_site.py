"""The worker site: sign in with a worker id, find HITs, preview, accept, work, submit.

The task runs in a sandboxed iframe (scripts and forms, no same-origin access), fed the
query parameters MTurk gives a task page: assignmentId, hitId, workerId, turkSubmitTo.
Its form posts to ``/mturk/externalSubmit``, which records MTurk's QuestionFormAnswers.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from flask import (
    Blueprint,
    current_app,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from mturk.questions import answers_xml, parse_question
from mturk.service.lifecycle import DONE_STATUSES, refresh_status, sweep_if_due
from mturk.service.store import HIT, Assignment, HITType, WorkerBlock, WorkerMessage, now

WORKER_ID = re.compile(r"^A[A-Z0-9]{1,63}$")
NOT_ACCEPTED = "ASSIGNMENT_ID_NOT_AVAILABLE"
CROWD_ELEMENTS = "https://assets.crowd.aws/crowd-html-elements.js"
COOKIE = "worker_id"

blueprint = Blueprint(
    "worker",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/assets",
)


def _store() -> Any:
    return current_app.extensions["mturk_local_store"]


def _worker_id() -> str | None:
    value = request.cookies.get(COOKIE, "")
    return value if WORKER_ID.match(value) else None


def _page(template: str, status: int = 200, **context: Any) -> Response:
    context.setdefault("worker_id", _worker_id())
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
        worker_id = _worker_id()
        if worker_id is None:
            return redirect(url_for("worker.index"))
        store = _store()
        with store.transaction() as session:
            sweep_if_due(store, session)
            return view(session, worker_id, **kwargs)

    return wrapper


@blueprint.get("/worker")
def index() -> Response:
    worker_id = _worker_id()
    if worker_id is None:
        return _page("login.html")
    with _store().transaction() as session:
        sweep_if_due(_store(), session)
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
        .where(HIT.status == "Assignable", HIT.id.not_in(mine))
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
    return {
        "available": [(hit, t, hit.max_assignments - taken) for hit, t, taken in rows],
        "in_progress": in_progress,
        "messages": messages,
        "blocked": _blocked(session, worker_id),
    }


def _blocked(session: Session, worker_id: str) -> bool:
    return session.scalar(select(WorkerBlock).where(WorkerBlock.worker_id == worker_id)) is not None


@blueprint.post("/worker/login")
def login() -> Response:
    worker_id = request.form.get("worker_id", "").strip()
    if not WORKER_ID.match(worker_id):
        return _page(
            "login.html",
            400,
            error="A worker ID is an A followed by uppercase letters and digits.",
            worker_id=None,
        )
    response = redirect(url_for("worker.index"))
    response.set_cookie(COOKIE, worker_id, httponly=True, samesite="Lax")
    return response


@blueprint.post("/worker/logout")
def logout() -> Response:
    response = redirect(url_for("worker.index"))
    response.delete_cookie(COOKIE)
    return response


def _task_page(
    session: Session,
    hit: HIT,
    assignment: Assignment | None,
    worker_id: str,
    error: str | None = None,
    status: int = 200,
) -> Response:
    hit_type = session.get(HITType, hit.hit_type_id)
    question = parse_question(hit.question)
    query = {
        "assignmentId": assignment.id if assignment else NOT_ACCEPTED,
        "hitId": hit.id,
        "workerId": worker_id,
        "turkSubmitTo": request.host_url.rstrip("/"),
    }
    if question.kind == "external":
        separator = "&" if "?" in question.content else "?"
        frame_url = question.content + separator + urlencode(query)
    else:
        frame_url = url_for("worker.frame", hit_id=hit.id) + "?" + urlencode(query)
    can_accept = (
        assignment is None and hit.status == "Assignable" and not _blocked(session, worker_id)
    )
    return _page(
        "task.html",
        status,
        hit=hit,
        hit_type=hit_type,
        assignment=assignment,
        can_accept=can_accept,
        frame_url=frame_url,
        frame_height=question.frame_height or 640,
        error=error,
    )


@blueprint.get("/worker/hits/<hit_id>")
@signed_in
def preview(session: Session, worker_id: str, hit_id: str) -> Response:
    hit = session.scalar(select(HIT).where(HIT.id == hit_id))
    if hit is None or hit.status == "Disposed":
        return _page("hits.html", 404, **_dashboard(session, worker_id))
    return _task_page(session, hit, None, worker_id)


@blueprint.post("/worker/hits/<hit_id>/accept")
@signed_in
def accept(session: Session, worker_id: str, hit_id: str) -> Response:
    hit = session.scalar(select(HIT).where(HIT.id == hit_id).with_for_update())
    if hit is None or hit.status == "Disposed":
        return _page("hits.html", 404, **_dashboard(session, worker_id))
    problem = _why_not_accept(session, hit, worker_id)
    if problem:
        return _task_page(session, hit, None, worker_id, error=problem, status=409)
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
    refresh_status(session, hit, at)
    return redirect(url_for("worker.work", assignment_id=assignment.id))


def _why_not_accept(session: Session, hit: HIT, worker_id: str) -> str | None:
    if _blocked(session, worker_id):
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
    return None


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
        assignment.status = "Returned"
        hit = session.scalar(select(HIT).where(HIT.id == assignment.hit_id))
        assert hit is not None
        refresh_status(session, hit)
    return redirect(url_for("worker.index"))


@blueprint.get("/worker/hits/<hit_id>/frame")
def frame(hit_id: str) -> Response:
    """The HTMLQuestion's own page, as MTurk serves it inside the task frame."""
    with _store().transaction() as session:
        hit = session.scalar(select(HIT).where(HIT.id == hit_id))
        if hit is None:
            return make_response("No such HIT.", 404)
        question = parse_question(hit.question)
    html = question.content.replace(
        CROWD_ELEMENTS, url_for("worker.static", filename="crowd-html-elements.js")
    )
    response = make_response(html)
    response.headers["Content-Security-Policy"] = (
        "sandbox allow-scripts allow-forms allow-top-navigation-by-user-activation"
    )
    return response


@blueprint.post("/mturk/externalSubmit")
def external_submit() -> Response:
    """Record a worker's answers as MTurk would: every field but assignmentId, as FreeText."""
    assignment_id = request.form.get("assignmentId", "")
    fields = [
        (name, value) for name, value in request.form.items(multi=True) if name != "assignmentId"
    ]
    back = url_for("worker.index", _external=True)
    with _store().transaction() as session:
        sweep_if_due(_store(), session)
        assignment = session.scalar(select(Assignment).where(Assignment.id == assignment_id))
        problem = _why_not_submit(session, assignment)
        if problem is not None:
            return _submitted("Not submitted", problem, back, 409 if assignment else 400)
        assert assignment is not None
        hit = session.scalar(select(HIT).where(HIT.id == assignment.hit_id))
        assert hit is not None
        hit_type = session.get(HITType, hit.hit_type_id)
        assert hit_type is not None
        at = now()
        assignment.answer = answers_xml(fields)
        assignment.status = "Submitted"
        assignment.submit_time = at
        assignment.auto_approval_time = at + hit_type.auto_approval_delay
        refresh_status(session, hit, at)
    return _submitted("HIT submitted", "Your work was submitted. Thank you!", back, 200)


def _why_not_submit(session: Session, assignment: Assignment | None) -> str | None:
    if assignment is None:
        return "There is no such assignment: accept the HIT before submitting."
    if assignment.status == "Returned":
        return "This assignment was returned and can no longer be submitted."
    if assignment.status == "Abandoned" or assignment.deadline <= now():
        return "The time allotted for this assignment has run out."
    if assignment.status != "Accepted":
        return "This assignment was already submitted."
    hit = session.scalar(select(HIT).where(HIT.id == assignment.hit_id))
    if hit is None or hit.expiration <= now() or hit.status == "Disposed":
        return "This HIT has expired."
    return None


def _submitted(title: str, text: str, back: str, status: int) -> Response:
    return make_response(
        render_template("submitted.html", title=title, text=text, back=back), status
    )
