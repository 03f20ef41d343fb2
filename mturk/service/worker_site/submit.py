"""``/mturk/externalSubmit``: where task pages post their answers, as on MTurk."""

from __future__ import annotations

from typing import Any

from flask import (
    make_response,
    request,
    url_for,
)
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Response

from mturk.questions import answers_xml, parse_question
from mturk.service import events, question_forms
from mturk.service.errors import TurkError
from mturk.service.lifecycle import move, refresh_status, sweep_if_due
from mturk.service.store import (
    HIT,
    Assignment,
    HITType,
    UploadedFile,
    now,
)
from mturk.service.worker_site.hits import unqualified
from mturk.service.worker_site.site import (
    blueprint,
    message_page,
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
    back = url_for("worker.index", _external=True)
    try:
        values = request.form if request.method == "POST" else request.args
        files = request.files if request.method == "POST" else None
    except RequestEntityTooLarge:
        limit = question_forms.describe_size(question_forms.MAX_SUBMISSION_BYTES)
        text = f"What was sent is too large: a submission may carry at most {limit} in all."
        return message_page("Not submitted", text, back, 413)
    assignment_id = values.get("assignmentId", "")
    fields = [(name, value) for name, value in values.items(multi=True) if name != "assignmentId"]
    with service_store().transaction() as session:
        sweep_if_due(service_store(), session)
        assignment = session.scalar(select(Assignment).where(Assignment.id == assignment_id))
        problem = _why_not_submit(session, assignment)
        if problem is not None:
            return message_page("Not submitted", problem, back, 409 if assignment else 400)
        assert assignment is not None
        refused = _whose(session, assignment)
        if refused is not None:
            return message_page("Not submitted", refused, back, 403)
        # Locked (as accept locks it): of two last submits at once, the second counts the
        # HIT's assignments once the first is committed, so the HIT becomes Reviewable.
        locked = select(HIT).where(HIT.id == assignment.hit_id).with_for_update()
        hit = session.scalar(locked.execution_options(populate_existing=True))
        assert hit is not None
        refusal = unqualified(session, hit, assignment.worker_id)
        if refusal is not None:  # e.g. revoked since the worker accepted
            return message_page("Not submitted", refusal, back, 403)
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
            return message_page(
                "Not submitted", "This assignment was already submitted.", back, 409
            )
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
    return message_page("HIT submitted", "Your work was submitted. Thank you!", back, 200)


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
    signed_in_as = session_worker(session)
    if signed_in_as is not None and signed_in_as != assignment.worker_id:
        return "This assignment is not yours: sign in as the worker who accepted it."
    if is_disabled(session, assignment.worker_id):
        return "This worker account is disabled."
    return None
