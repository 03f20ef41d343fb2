"""The review queue of the console: a hitblock's submitted responses one at a time, each
beside the task as its worker saw it, decided by keyboard; and a list to approve in bulk
exactly the responses selected.

The page (``review.html``) is served whole; ``review.js`` then moves through the queue by
fetching each response's panel as an HTML fragment (rendered here, autoescaped: answers are
untrusted text) and sends decisions as JSON, a few seconds after they are made so that the
last one can be undone. The task is framed from ``/console/responses/<id>/task``, served
with a Content-Security-Policy of its own: sandboxed (no script, no same-origin, no form
submission), so a template's markup can show but never act. Reviewers and admins may do
all of this; every id is looked up within the signed-in user's account (another account's
is a 404).

Decisions go through ``app.services.review_queue`` to ``app.services.responses``, which asks
MTurk first: a decision MTurk refuses (already auto-approved: 409) is answered as such.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import current_app, make_response, redirect, render_template, request, url_for
from marshmallow import Schema, ValidationError, fields, validate
from werkzeug.wrappers import Response

from app.console.site import (
    blueprint,
    current_user,
    money,
    refusal,
    render_page,
    signed_in,
    wants_json,
    when,
)
from app.domain import InvalidInput
from app.extensions import db
from app.gateway import mturk_gateway
from app.schemas import ApproveSchema, BonusCreateSchema, RejectSchema
from app.services import review_queue
from app.services.review_queue import MAX_SELECTED, Field, ResponseReview, SelectedOutcome
from app.views import ID
from mturk.gateway import MTurkUnavailable

REVIEWER = "reviewer"  # admins pass too
# How long a decision waits in the page before it is sent (undo meanwhile), in ms.
DECISION_DELAY_MS = 4000
# The framed task: its own markup and styles, images and media from anywhere; no script,
# no form submission, no origin of its own (sandbox), framed only by the console itself.
TASK_CSP = (
    "sandbox; default-src 'none'; img-src http: https: data: blob:; "
    "media-src http: https: data: blob:; style-src 'unsafe-inline' http: https:; "
    "font-src http: https: data:; form-action 'none'; base-uri 'none'; frame-ancestors 'self'"
)


class SelectedSchema(Schema):
    response_ids = fields.List(
        fields.Integer(strict=False, validate=validate.Range(1, 2**31 - 1)),
        required=True,
        validate=validate.Length(1, MAX_SELECTED),
    )


class ConsoleBonusSchema(BonusCreateSchema):
    """A bonus as the page sends it: with the token the page made for this one decision,
    so that sending it again (a timeout, a 503) never pays twice."""

    token = fields.String(validate=validate.Regexp(r"^[A-Za-z0-9-]{1,36}\Z"))


def _account() -> int:
    return current_user().account_id


def _fields() -> dict[str, Any]:
    """The request's fields: a JSON object (the page's script) or a form (no script)."""
    if request.is_json:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise InvalidInput("The body must be a JSON object.")
        return body
    form: dict[str, Any] = request.form.to_dict()
    form.pop("csrf_token", None)
    if "response_ids" in request.form:
        form["response_ids"] = request.form.getlist("response_ids")
    typed = form.pop("typed", "").strip()
    if typed:  # the reject form's "another reason" (without script)
        form["feedback"] = typed
    return {name: value for name, value in form.items() if value != ""}


def _load(schema: Schema, data: dict[str, Any]) -> dict[str, Any]:
    """Fields checked as the API checks them; a refusal says which one and why."""
    try:
        loaded: dict[str, Any] = schema.load(data, unknown="exclude")
    except ValidationError as error:
        name, problems = next(iter(error.normalized_messages().items()))
        text = problems[0] if isinstance(problems, list) else str(problems)
        raise InvalidInput(f"Invalid {name}: {text}", param=str(name)) from error
    return loaded


def _unix(moment: datetime | None) -> int | None:
    return None if moment is None else int(moment.timestamp())


def _field(field: Field) -> dict[str, Any]:
    return {"field": field.name, "value": field.value}


def _review_json(review: ResponseReview) -> dict[str, Any]:
    response, worker, queue = review.response, review.worker, review.queue
    return {
        "object": "response_review",
        "id": response.id,
        "hitblock": review.hitblock.id,
        "status": response.status,
        "worker_id": response.worker_id,
        "assignment_id": response.assignment_id,
        "accepted": _unix(response.accepted),
        "submitted": _unix(response.submitted),
        "feedback": response.feedback,
        "answer": [_field(field) for field in review.answer],
        "answer_error": response.answer_error,
        "item": {
            "id": review.item.id,
            "fields": [{**_field(f), "image": f.image} for f in review.item_fields],
        },
        "task_url": url_for("console.review_task", response_id=response.id),
        "task_problem": review.task_problem,
        "gold_correct": review.gold_correct,
        "flagged": review.flagged,
        "flag_reason": review.flag_reason,
        "others": [
            {
                "id": other.response_id,
                "worker_id": other.worker_id,
                "status": other.status,
                "agrees": other.agrees,
                "answer": [_field(field) for field in other.answer],
            }
            for other in review.others
        ],
        "worker": {
            "id": worker.worker_id,
            "responses": worker.responses,
            "approved": worker.approved,
            "rejected": worker.rejected,
            "submitted": worker.submitted,
            "approval_rate": worker.approval_rate,
            "in_hitblock": worker.in_hitblock,
            "gold_answers": worker.gold_answers,
            "gold_accuracy": worker.gold_accuracy,
        },
        "bonuses": [
            {"id": b.id, "amount": str(b.amount), "reason": b.reason, "status": b.status}
            for b in review.bonuses
        ],
        "queue": {
            "position": queue.position,
            "remaining": queue.remaining,
            "previous": queue.previous_id,
            "next": queue.next_id,
        },
    }


def _outcome_json(outcome: SelectedOutcome) -> dict[str, Any]:
    error = outcome.error
    return {
        "response": outcome.response,
        "status": outcome.status,
        "approved": outcome.approved,
        "error": None
        if error is None
        else {"message": getattr(error, "message", str(error)), "code": error.code},
    }


def _after_decision(response_id: int, body: dict[str, Any]) -> Response:
    """The page's script gets JSON; a form sent without script goes back to the queue, on
    the response that comes next."""
    if wants_json():
        return make_response(body)
    review = review_queue.review_of(db.session, _account(), response_id)
    target = review.queue.next_id or review.queue.previous_id
    return redirect(
        url_for("console.review", hitblock_id=review.hitblock.id, response=target), code=303
    )


# ---- pages ---------------------------------------------------------------------------------


@blueprint.get(f"/hitblocks/<{ID}:hitblock_id>/review")
@signed_in(REVIEWER)
def review(hitblock_id: int) -> Response:
    """The queue page: the response asked for (``?response=``), else the first waiting."""
    queue = review_queue.queue(db.session, _account(), hitblock_id)
    wanted = request.args.get("response", "")
    response_id = int(wanted) if wanted.isascii() and wanted.isdigit() and len(wanted) < 10 else 0
    response_id = response_id or (queue.ids[0] if queue.ids else 0)
    current = review_queue.review_of(db.session, _account(), response_id) if response_id else None
    if current is not None and current.hitblock.id != hitblock_id:
        current = None  # another hitblock's response: open this queue instead
    return render_page(
        "console/review.html",
        queue=queue,
        hitblock=queue.hitblock,
        review=current,
        reasons=review_queue.REJECT_REASONS,
        delay_ms=DECISION_DELAY_MS,
        list_view=request.args.get("view") == "list",
    )


@blueprint.get(f"/responses/<{ID}:response_id>/panel")
@signed_in(REVIEWER)
def review_panel(response_id: int) -> Response:
    """One response's panel, an HTML fragment the queue page swaps in."""
    current = review_queue.review_of(db.session, _account(), response_id)
    return make_response(
        render_template("console/review_panel.html", review=current, money=money, when=when)
    )


@blueprint.get(f"/responses/<{ID}:response_id>/task")
@signed_in(REVIEWER)
def review_task(response_id: int) -> Response:
    """The task as the worker saw it, for a sandboxed frame; or, when the template cannot
    render, the item's fields with its images."""
    item, page = review_queue.task_of(db.session, _account(), response_id)
    if page is None:
        page = render_template(
            "console/review_task_fields.html", fields=review_queue.item_fields(item.params)
        )
    response = make_response(page)
    response.headers["Content-Security-Policy"] = TASK_CSP
    return response


# ---- JSON for the page ---------------------------------------------------------------------


@blueprint.get(f"/hitblocks/<{ID}:hitblock_id>/review/queue")
@signed_in(REVIEWER)
def review_queue_json(hitblock_id: int) -> Response:
    queue = review_queue.queue(db.session, _account(), hitblock_id)
    return make_response(
        {
            "object": "review_queue",
            "hitblock": hitblock_id,
            "ids": queue.ids,
            "submitted": queue.submitted,
            "approved": queue.approved,
            "rejected": queue.rejected,
            "truncated": queue.truncated,
            "data": [
                {
                    "id": entry.response_id,
                    "item": entry.item_id,
                    "worker_id": entry.worker_id,
                    "submitted": _unix(entry.submitted),
                    "flagged": entry.flagged,
                    "preview": entry.preview,
                }
                for entry in queue.entries
            ],
        }
    )


@blueprint.get(f"/responses/<{ID}:response_id>")
@signed_in(REVIEWER)
def review_response(response_id: int) -> Response:
    return make_response(_review_json(review_queue.review_of(db.session, _account(), response_id)))


@blueprint.post(f"/responses/<{ID}:response_id>/approve")
@signed_in(REVIEWER)
def review_approve(response_id: int) -> Response:
    fields = _load(ApproveSchema(), _fields())
    done = review_queue.approve(
        db.session, mturk_gateway(), _account(), response_id, fields.get("feedback")
    )
    return _after_decision(
        response_id, {"object": "response", "id": done.id, "status": done.status}
    )


@blueprint.post(f"/responses/<{ID}:response_id>/reject")
@signed_in(REVIEWER)
def review_reject(response_id: int) -> Response:
    fields = _load(RejectSchema(), _fields())
    done = review_queue.reject(
        db.session, mturk_gateway(), _account(), response_id, fields["feedback"]
    )
    body = {"object": "response", "id": done.id, "status": done.status, "feedback": done.feedback}
    return _after_decision(response_id, body)


@blueprint.post(f"/responses/<{ID}:response_id>/bonus")
@signed_in(REVIEWER)
def review_bonus(response_id: int) -> Response:
    fields = _load(ConsoleBonusSchema(), _fields())
    try:
        paid = review_queue.bonus(
            db.session,
            mturk_gateway(),
            _account(),
            response_id,
            fields["amount"],
            fields["reason"],
            fields.get("token"),
        )
    except MTurkUnavailable as error:
        db.session.rollback()
        message = (
            f"MTurk did not answer ({error}). The bonus is recorded and will be retried "
            "automatically: do not send it again."
        )
        return refusal(503, message, code=error.code)
    body = {
        "object": "bonus",
        "id": paid.id,
        "response": paid.response_id,
        "amount": str(paid.amount),
        "reason": paid.reason,
        "status": paid.status,
    }
    return _after_decision(response_id, body)


@blueprint.post(f"/hitblocks/<{ID}:hitblock_id>/review/approve-selected")
@signed_in(REVIEWER)
def review_approve_selected(hitblock_id: int) -> Response:
    """Approve exactly the responses sent (those selected on the page), each outcome
    reported: never "every submitted response"."""
    fields = _load(SelectedSchema(), _fields())
    outcomes = review_queue.approve_selected(
        db.session,
        mturk_gateway(),
        _account(),
        hitblock_id,
        fields["response_ids"],
        int(current_app.config["MTURK_CONCURRENCY"]),
    )
    results = [_outcome_json(outcome) for outcome in outcomes]
    if wants_json():
        return make_response({"object": "review_result", "results": results})
    queue = review_queue.queue(db.session, _account(), hitblock_id)
    return render_page(
        "console/review.html",
        queue=queue,
        hitblock=queue.hitblock,
        review=None,
        reasons=review_queue.REJECT_REASONS,
        delay_ms=DECISION_DELAY_MS,
        list_view=True,
        results=results,
    )
