"""Finding work and doing it: the HIT groups, a group's next HIT, preview, accept, the task
page (the question in a sandboxed frame), return and skip, and working in a flow.

HITs of one HIT type form a group (``groups``), as on MTurk. "Accept & work" on a group takes
its next HIT that the worker can accept, oldest first. In a flow, the answer page that
externalSubmit shows in the task frame points the task page (``static/worker.js``) to
``/worker/groups/<HITTypeId>/next``: a GET that changes nothing, whose page accepts the next
HIT with a CSRF-protected POST (sent by worker.js at once when auto-accept is on and the
worker just submitted in this group; a button otherwise). Auto-accept is on by default and
kept in the worker's session.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import Any
from urllib.parse import urlencode

from flask import (
    current_app,
    flash,
    get_flashed_messages,
    redirect,
    request,
    url_for,
)
from flask import session as browser_session
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from mturk.questions import parse_question
from mturk.service import events, qualifications
from mturk.service.content import NOT_ACCEPTED, origin
from mturk.service.errors import TurkError
from mturk.service.lifecycle import move, refresh_status, sweep_if_due
from mturk.service.store import (
    HIT,
    Assignment,
    HITType,
    Requester,
    WorkerBlock,
    WorkerMessage,
    now,
)
from mturk.service.worker_site.accounts import safe_next
from mturk.service.worker_site.groups import (
    SORTS,
    Search,
    blocking_requesters,
    find_groups,
    next_hit,
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
# The session's key for "auto-accept the next HIT" (on unless the worker turned it off).
AUTO_ACCEPT = "auto_accept"
# HITs of a group tried, each locked in turn, when the next one fills meanwhile.
ATTEMPTS = 20


def auto_accept() -> bool:
    return bool(browser_session.get(AUTO_ACCEPT, True))


def _page(template: str, status: int = 200, **context: Any) -> Response:
    """A page of finding and doing work: with the notices of the last step, and times."""
    notices = get_flashed_messages()
    return render_page(template, status, notices=notices, **context)


@blueprint.get("/worker")
def index() -> Response:
    """The signed-in worker's HIT groups; the sign-in page for anyone else (``next``: the
    worker-site page to go back to once signed in)."""
    store = service_store()
    with store.transaction() as session:
        worker_id = session_worker(session)
        if worker_id is None:
            return render_page("login.html", next=safe_next(request.args.get("next")))
        sweep_if_due(store, session)
        return _page("hits.html", **_listing(session, worker_id, Search.from_args(request.args)))


def _listing(session: Session, worker_id: str, search: Search) -> dict[str, Any]:
    """The list page: the worker's HITs in progress, recent messages, one page of groups."""
    in_progress = session.execute(
        select(Assignment, HIT, HITType)
        .join(HIT, HIT.id == Assignment.hit_id)
        .join(HITType, HITType.id == HIT.hit_type_id)
        .where(Assignment.worker_id == worker_id, Assignment.status == "Accepted")
        .order_by(Assignment.deadline)
    ).all()
    messages = session.scalars(
        select(WorkerMessage)
        .where(WorkerMessage.worker_id == worker_id)
        .order_by(WorkerMessage.seq.desc())
        .limit(5)
    ).all()
    return {
        "found": find_groups(session, worker_id, search),
        "search": search,
        "sorts": SORTS,
        "page_url": _page_url(search),
        "in_progress": in_progress,
        "messages": messages,
    }


def _page_url(search: Search) -> Callable[[int], str]:
    """The list's URL for a page of the same search."""

    def url(page: int) -> str:
        query = [
            ("q", search.query),
            ("sort", search.sort),
            ("qualified", "1" if search.only_qualified else ""),
            ("page", str(page)),
        ]
        return url_for("worker.index") + "?" + urlencode([(k, v) for k, v in query if v])

    return url


def _blocked(session: Session, worker_id: str, hit: HIT) -> bool:
    blocking = blocking_requesters(worker_id).where(WorkerBlock.requester_id == hit.requester_id)
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
    """The task page: the HIT's question in a frame, and around it the HIT's terms, the time
    left, Accept & work or Return and Skip, auto-accept, and the keys that do them."""
    hit_type = session.get(HITType, hit.hit_type_id)
    assert hit_type is not None
    requester = session.get(Requester, hit.requester_id)
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
    task_origin = origin(frame_url) if frame_url.startswith("http") else None
    content_url = current_app.config.get("MTURK_CONTENT_URL")
    response = _page(
        "task.html",
        status,
        hit=hit,
        hit_type=hit_type,
        requester=requester.name if requester is not None else "",
        assignment=assignment,
        can_accept=can_accept,
        auto_accept=auto_accept(),
        frame_url=frame_url,
        content_origin=origin(content_url) if content_url else "",
        frame_sandbox=_sandbox(frame_url, here),
        frame_height=question.frame_height or 640,
        # FrameHeight for static/frame-host.js: 0 makes the frame as tall as its content (a
        # QuestionForm, drawn by the content origin, always is).
        frame_height_setting=0 if question.kind == "form" else question.frame_height,
        error=error,
        qualification_links=links,
    )
    response.headers["Content-Security-Policy"] = frame_policy(task_origin)
    return response


def _sandbox(frame_url: str, here: str) -> str:
    """The task frame's sandbox: a task on another origin may keep its own origin (storage)
    and open windows; one on the worker site's own origin may not, or it could script the
    worker's pages."""
    if origin(frame_url) == origin(here):
        return FRAME_SANDBOX_SAME_ORIGIN
    return FRAME_SANDBOX


def _not_found(session: Session, worker_id: str) -> Response:
    return _page("hits.html", 404, **_listing(session, worker_id, Search()))


@blueprint.get("/worker/hits/<hit_id>")
@signed_in
def preview(session: Session, worker_id: str, hit_id: str) -> Response:
    """A HIT's own page (the ``url`` requesters are given): its preview, with Accept & work,
    whether or not it is among the first groups of the list."""
    hit = session.scalar(select(HIT).where(HIT.id == hit_id))
    if hit is None or hit.status == "Disposed":
        return _not_found(session, worker_id)
    return _preview(session, hit, worker_id)


def _preview(session: Session, hit: HIT, worker_id: str) -> Response:
    refused = unqualified(session, hit, worker_id, "PreviewAndAccept")
    if refused is not None:
        links = qualification_links(session, hit, worker_id, "PreviewAndAccept")
        return message_page("Not available", refused, url_for("worker.index"), 403, links)
    links = qualification_links(session, hit, worker_id, "Accept")
    return _task_page(session, hit, None, worker_id, links=links)


@blueprint.get("/worker/groups/<hit_type_id>")
@signed_in
def group(session: Session, worker_id: str, hit_type_id: str) -> Response:
    """A group's page: the preview of its next HIT open to the worker, oldest first (after
    the HIT ``after``, for Skip; from the start again at the end)."""
    after = _seq_of(session, request.args.get("after", ""))
    hit = next_hit(session, worker_id, hit_type_id, after=after)
    if hit is None:
        return _group_done(session, worker_id, hit_type_id)
    return _preview(session, hit, worker_id)


def _seq_of(session: Session, hit_id: str) -> int | None:
    if not hit_id:
        return None
    return session.scalar(select(HIT.seq).where(HIT.id == hit_id[:64]))


def _group_done(session: Session, worker_id: str, hit_type_id: str) -> Response:
    """The list, saying that the group has no HIT left for this worker."""
    hit_type = session.get(HITType, hit_type_id)
    title = f"“{hit_type.title}”" if hit_type is not None else "this group"
    flash(f"There are no more HITs of {title} available to you.")
    return redirect(url_for("worker.index"))


@blueprint.post("/worker/groups/<hit_type_id>/accept")
@signed_in
def accept_next(session: Session, worker_id: str, hit_type_id: str) -> Response:
    """Accept & work on a group: its next HIT this worker can accept, oldest first; a HIT
    that filled meanwhile is passed over for the next."""
    hit_type = session.get(HITType, hit_type_id)
    if hit_type is None:
        return _not_found(session, worker_id)
    refused = _unqualified_type(session, hit_type, worker_id, "Accept")
    if refused is not None:
        return message_page("Not available", refused, url_for("worker.index"), 403)
    assignment = _take_next(session, worker_id, hit_type, exclude=())
    if assignment is None:
        return _group_done(session, worker_id, hit_type_id)
    return _work_on(assignment)


@blueprint.get("/worker/groups/<hit_type_id>/next")
@signed_in
def group_next(session: Session, worker_id: str, hit_type_id: str) -> Response:
    """Where a flow goes after a submit. A GET changes nothing: with auto-accept on, this
    page's form accepts the group's next HIT (worker.js sends it at once after a submit in
    this group; without JavaScript, the worker does); with it off, the next HIT's preview."""
    hit_type = session.get(HITType, hit_type_id)
    if hit_type is None or next_hit(session, worker_id, hit_type_id) is None:
        return _group_done(session, worker_id, hit_type_id)
    if not auto_accept():
        return redirect(url_for("worker.group", hit_type_id=hit_type_id))
    return _page("next.html", hit_type=hit_type)


def _take_next(
    session: Session,
    worker_id: str,
    hit_type: HITType,
    exclude: Collection[str],
    after: int | None = None,
) -> Assignment | None:
    """Accept the group's next HIT this worker can take (after the HIT of seq ``after``, then
    from the start), each candidate locked and checked afresh; None when there is none."""
    tried = set(exclude)
    for _ in range(ATTEMPTS):
        hit = next_hit(session, worker_id, hit_type.id, after=after, exclude=tried, lock=True)
        if hit is None:
            return None
        if _why_not_accept(session, hit, worker_id) is None:
            return _take(session, hit, hit_type, worker_id)
        tried.add(hit.id)
    return None


def _work_on(assignment: Assignment) -> Response:
    return redirect(url_for("worker.work", assignment_id=assignment.id))


@blueprint.post("/worker/hits/<hit_id>/accept")
@signed_in
def accept(session: Session, worker_id: str, hit_id: str) -> Response:
    hit = session.scalar(select(HIT).where(HIT.id == hit_id).with_for_update())
    if hit is None or hit.status == "Disposed":
        return _not_found(session, worker_id)
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
    return _work_on(_take(session, hit, hit_type, worker_id))


def _take(session: Session, hit: HIT, hit_type: HITType, worker_id: str) -> Assignment:
    """The worker's new assignment of ``hit`` (locked, and checked by ``_why_not_accept``)."""
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
    return assignment


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
    return _unqualified_type(session, hit_type, worker_id, action)


def _unqualified_type(
    session: Session, hit_type: HITType, worker_id: str, action: str
) -> str | None:
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
        return _not_found(session, worker_id)
    hit = session.scalar(select(HIT).where(HIT.id == assignment.hit_id))
    assert hit is not None
    return _task_page(session, hit, assignment, worker_id)


def _give_back(session: Session, assignment: Assignment) -> HIT | None:
    """Return the worker's assignment; its HIT, or None if it was submitted or returned
    meanwhile."""
    # Locked first, as accept and submit lock it, to count its assignments afresh.
    hit = session.scalar(select(HIT).where(HIT.id == assignment.hit_id).with_for_update())
    assert hit is not None
    try:
        move(session, assignment, {"Accepted"}, status="Returned")
    except TurkError:
        return None
    events.emit(session, events.ASSIGNMENT_RETURNED, hit, assignment.id)
    refresh_status(session, hit)
    return hit


@blueprint.post("/worker/assignments/<assignment_id>/return")
@signed_in
def return_assignment(session: Session, worker_id: str, assignment_id: str) -> Response:
    assignment = _own_assignment(session, assignment_id, worker_id)
    if assignment is not None and _give_back(session, assignment) is not None:
        flash("The HIT was returned.")
    return redirect(url_for("worker.index"))


@blueprint.post("/worker/assignments/<assignment_id>/skip")
@signed_in
def skip(session: Session, worker_id: str, assignment_id: str) -> Response:
    """Return this HIT and go on to the group's next one: accepted with auto-accept on, its
    preview otherwise."""
    assignment = _own_assignment(session, assignment_id, worker_id)
    if assignment is None:
        return redirect(url_for("worker.index"))
    hit = _give_back(session, assignment)
    if hit is None:
        return redirect(url_for("worker.index"))
    if not auto_accept():
        return redirect(url_for("worker.group", hit_type_id=hit.hit_type_id, after=hit.id))
    hit_type = session.get(HITType, hit.hit_type_id)
    assert hit_type is not None
    if _unqualified_type(session, hit_type, worker_id, "Accept") is None:
        taken = _take_next(session, worker_id, hit_type, exclude={hit.id}, after=hit.seq)
        if taken is not None:
            return _work_on(taken)
    return _group_done(session, worker_id, hit.hit_type_id)


@blueprint.post("/worker/flow")
@signed_in
def set_flow(session: Session, worker_id: str) -> Response:
    """Turn auto-accept on or off (``auto_accept=on`` in the form, or absent); back to the
    page ``back``, or no content for worker.js."""
    browser_session[AUTO_ACCEPT] = request.form.get(AUTO_ACCEPT) == "on"
    if request.headers.get("X-Hitblocks-Async") == "1":
        return Response(status=204)
    return redirect(safe_next(request.form.get("back")) or url_for("worker.index"))
