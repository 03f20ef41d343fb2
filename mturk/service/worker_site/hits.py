"""Finding work and doing it: the HIT list, preview, accept, the task page (the question in
a sandboxed frame), return."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

from flask import (
    current_app,
    redirect,
    request,
    url_for,
)
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from mturk.questions import parse_question
from mturk.service import events, qualifications
from mturk.service.content import NOT_ACCEPTED, origin
from mturk.service.errors import TurkError
from mturk.service.lifecycle import DONE_STATUSES, move, refresh_status, sweep_if_due
from mturk.service.store import (
    HIT,
    Assignment,
    HITType,
    WorkerBlock,
    WorkerMessage,
    now,
)
from mturk.service.worker_site.qualifications import qualification_links
from mturk.service.worker_site.site import (
    QualificationLink,
    blueprint,
    frame_policy,
    message_page,
    render_page,
    service_store,
    session_worker,
    signed_in,
)

# The task frame's sandbox (see ``_sandbox``): task content is on an origin of its own.
FRAME_SANDBOX = (
    "allow-scripts allow-forms allow-same-origin allow-popups "
    "allow-popups-to-escape-sandbox allow-modals allow-top-navigation-by-user-activation"
)
FRAME_SANDBOX_SAME_ORIGIN = "allow-scripts allow-forms allow-top-navigation-by-user-activation"


@blueprint.get("/worker")
def index() -> Response:
    """The signed-in worker's HITs; the sign-in page for anyone else."""
    store = service_store()
    with store.transaction() as session:
        worker_id = session_worker(session)
        if worker_id is None:
            return render_page("login.html")
        sweep_if_due(store, session)
        return render_page("hits.html", **_dashboard(session, worker_id))


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
    response = render_page(
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
    response.headers["Content-Security-Policy"] = frame_policy(task_origin)
    return response


def _sandbox(frame_url: str, here: str) -> str:
    """The task frame's sandbox: a task on another origin may keep its own origin (storage)
    and open windows; one on the worker site's own origin may not, or it could script the
    worker's pages."""
    if origin(frame_url) == origin(here):
        return FRAME_SANDBOX_SAME_ORIGIN
    return FRAME_SANDBOX


@blueprint.get("/worker/hits/<hit_id>")
@signed_in
def preview(session: Session, worker_id: str, hit_id: str) -> Response:
    hit = session.scalar(select(HIT).where(HIT.id == hit_id))
    if hit is None or hit.status == "Disposed":
        return render_page("hits.html", 404, **_dashboard(session, worker_id))
    refused = unqualified(session, hit, worker_id, "PreviewAndAccept")
    if refused is not None:
        links = qualification_links(session, hit, worker_id, "PreviewAndAccept")
        return message_page("Not available", refused, url_for("worker.index"), 403, links)
    links = qualification_links(session, hit, worker_id, "Accept")
    return _task_page(session, hit, None, worker_id, links=links)


@blueprint.post("/worker/hits/<hit_id>/accept")
@signed_in
def accept(session: Session, worker_id: str, hit_id: str) -> Response:
    hit = session.scalar(select(HIT).where(HIT.id == hit_id).with_for_update())
    if hit is None or hit.status == "Disposed":
        return render_page("hits.html", 404, **_dashboard(session, worker_id))
    problem = _why_not_accept(session, hit, worker_id)
    hidden = unqualified(session, hit, worker_id, "PreviewAndAccept")
    if hidden is not None:  # not even the preview for this worker
        links = qualification_links(session, hit, worker_id, "PreviewAndAccept")
        return message_page("Not available", hidden, url_for("worker.index"), 403, links)
    if problem:
        links = qualification_links(session, hit, worker_id, "Accept")
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
    return unqualified(session, hit, worker_id)


def unqualified(session: Session, hit: HIT, worker_id: str, action: str = "Accept") -> str | None:
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
        return render_page("hits.html", 404, **_dashboard(session, worker_id))
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
