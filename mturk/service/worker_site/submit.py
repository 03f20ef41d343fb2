"""``/mturk/externalSubmit``: where task pages post their answers, as on MTurk."""

from __future__ import annotations

from typing import Any

from flask import (
    make_response,
    render_template,
    request,
    url_for,
)
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Response

from mturk.questions import answers_xml, parse_question
from mturk.service import events, question_forms
from mturk.service.content import frame_tags, origin
from mturk.service.errors import TurkError
from mturk.service.lifecycle import move, refresh_status, sweep_if_due
from mturk.service.store import (
    HIT,
    Assignment,
    HITType,
    UploadedFile,
    now,
)
from mturk.service.worker_site.groups import has_next
from mturk.service.worker_site.hits import unqualified
from mturk.service.worker_site.site import (
    blueprint,
    service_store,
    session_worker,
)
from mturk.service.workers import (
    is_disabled,
)


@blueprint.route("/mturk/externalSubmit", methods=["GET", "POST"])
def external_submit() -> Response:
    """Record a worker's answers as MTurk would: every field but assignmentId, as FreeText.
    Task forms post them; mmturkey-style pages send them as the query of a GET, as MTurk
    accepts too. Only a still Accepted assignment takes answers, and, when the request comes
    with a worker's session, only that worker's own. A QuestionForm HIT's answers are checked
    against its form (``question_forms.collect``) and its uploads kept as ``UploadedFile``."""
    try:
        values = request.form if request.method == "POST" else request.args
        files = request.files if request.method == "POST" else None
    except RequestEntityTooLarge:
        limit = question_forms.describe_size(question_forms.MAX_SUBMISSION_BYTES)
        text = f"What was sent is too large: a submission may carry at most {limit} in all."
        return _answer_page("Not submitted", text, 413)
    assignment_id = values.get("assignmentId", "")
    fields = [(name, value) for name, value in values.items(multi=True) if name != "assignmentId"]
    with service_store().transaction() as session:
        sweep_if_due(service_store(), session)
        assignment: Assignment | None = None
        if "\x00" not in assignment_id:  # no id has one (and PostgreSQL cannot compare it)
            assignment = session.scalar(select(Assignment).where(Assignment.id == assignment_id))
        problem = _why_not_submit(session, assignment)
        if problem is not None:
            return _answer_page("Not submitted", problem, 409 if assignment else 400, assignment_id)
        assert assignment is not None
        refused = _whose(session, assignment)
        if refused is not None:
            return _answer_page("Not submitted", refused, 403, assignment_id)
        # Locked (as accept locks it): of two last submits at once, the second counts the
        # HIT's assignments once the first is committed, so the HIT becomes Reviewable.
        locked = select(HIT).where(HIT.id == assignment.hit_id).with_for_update()
        hit = session.scalar(locked.execution_options(populate_existing=True))
        assert hit is not None
        refusal = unqualified(session, hit, assignment.worker_id)
        if refusal is not None:  # e.g. revoked since the worker accepted
            return _answer_page("Not submitted", refusal, 403, assignment_id)
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
            text = "This assignment was already submitted."
            return _answer_page("Not submitted", text, 409, assignment_id)
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
        more = has_next(session, assignment.worker_id, hit.hit_type_id)
    if more:
        next_url = url_for("worker.group_next", hit_type_id=hit.hit_type_id)
        said = "Submitted. The next HIT of this group is loading."
    else:
        next_url = url_for("worker.index")
        said = "Submitted. This group has no more HITs for you."
    text = "Your work was submitted. Thank you!"
    return _answer_page("HIT submitted", text, 200, assignment.id, next_url, said, more)


def _answer_page(
    title: str,
    text: str,
    status: int,
    assignment_id: str = "",
    next_url: str = "",
    said: str = "",
    go_on: bool = False,
) -> Response:
    """The page a submission lands on, in the task frame: what came of it, with links for
    the worker; and, for the task page around the frame (``static/worker.js`` sends it), the
    message {"hitblocks": "submitted", ok, assignmentId, message, next}. ``next_url``: where
    a flow goes on after a submit (the group's next HIT, or the list); ``go_on``: it is the
    group's next HIT, linked for a worker without JavaScript."""
    ok = status == 200
    message = {
        "hitblocks": "submitted",
        "ok": ok,
        "assignmentId": assignment_id[:64],
        "message": said or text,
        "next": next_url,
    }
    body = render_template(
        "submitted.html",
        title=title,
        text=text,
        back=url_for("worker.index", _external=True),
        next_url=next_url if ok and go_on else "",
        submission=message,
        worker_site_origin=origin(request.host_url),
    )
    return make_response(body, status)


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
    # Shown in the task frame, so it speaks the frame protocol too (height, keys), from the
    # worker site's own /assets/.
    head = Markup(frame_tags(origin(request.host_url)))
    return make_response(question_forms.page(hit_type.title, rendered, head=head), 400)


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
    signed_in_as = session_worker(session)
    if signed_in_as is not None and signed_in_as != assignment.worker_id:
        return "This assignment is not yours: sign in as the worker who accepted it."
    if is_disabled(session, assignment.worker_id):
        return "This worker account is disabled."
    return None
