"""The review queue: what a reviewer needs to judge one response, and the order to judge in.

A response is shown as its worker saw it (the item's task page, rendered from the hitblock's
template with MTurk's submit plumbing, as ``publishing.question_for`` does, without the
HTMLQuestion wrapper), beside its answer formatted for people (text as written, never JSON
escapes), the other workers' answers to the same item, and the worker's record in this
account. Each read takes a fixed number of SQL statements, whatever the size of the hitblock
or the worker's history.

The queue is the hitblock's submitted responses: flagged ones first (gold policy), then the
oldest first. Decisions go through ``app.services.responses``, which asks MTurk first; a
bulk approval approves exactly the responses it is given, never "everything submitted".
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, or_, select

from app.domain import DomainError, InvalidInput, NotFound
from app.models import Bonus, Hitblock, Item, Response
from app.services import DbSession, responses
from app.services.hitblocks import find_hitblock
from app.services.responses import Decision
from app.templates import HITBLOCK_TYPES, CannotSubmit, render, submittable
from mturk.gateway import MTurkError, MTurkGateway
from mturk.html_tags import start_tags

# Common reasons to reject, offered with the keys 1-9 (a reviewer may type another).
REJECT_REASONS = (
    "The answer does not match the task.",
    "The answer is incomplete.",
    "The instructions were not followed.",
    "The answer is empty or placeholder text.",
    "The answer looks copied or machine-generated.",
)
QUEUE_LIMIT = 1000  # queue entries listed at once (the page works through them in order)
MAX_SELECTED = 500  # responses approved by one bulk request
MAX_FEEDBACK = 1024  # MTurk's RequesterFeedback
PREVIEW_CHARS = 120
_IMAGE_PATH = re.compile(r"\.(png|jpe?g|gif|webp|svg|bmp|avif)$", re.IGNORECASE)


# ---- what a reviewer sees ------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    """One field of an answer or an item, formatted for people."""

    name: str
    value: str  # text as written; a list one value per line; an object as indented JSON
    multiline: bool
    image: bool = False  # an item field holding an image's http(s) URL


@dataclass(frozen=True)
class OtherAnswer:
    response_id: int
    worker_id: str
    status: str
    answer: list[Field]
    agrees: bool  # the same answer as the response under review


@dataclass(frozen=True)
class WorkerRecord:
    """The worker's responses in this account (all hitblocks), and in this hitblock."""

    worker_id: str
    responses: int
    approved: int
    rejected: int
    submitted: int
    in_hitblock: int
    gold_answers: int
    gold_correct: int

    @property
    def approval_rate(self) -> float | None:
        """Approved among the reviewed (None before any review)."""
        reviewed = self.approved + self.rejected
        return self.approved / reviewed if reviewed else None

    @property
    def gold_accuracy(self) -> float | None:
        return self.gold_correct / self.gold_answers if self.gold_answers else None


@dataclass(frozen=True)
class QueuePosition:
    """Where a response stands in its hitblock's queue. A reviewed response is out of the
    queue (no position) but still has neighbours: where its place in the order would be."""

    position: int | None  # 1-based among the submitted responses
    remaining: int  # submitted responses of the hitblock
    previous_id: int | None
    next_id: int | None


@dataclass(frozen=True)
class ResponseReview:
    response: Response
    item: Item
    hitblock: Hitblock
    task_html: str | None  # the task page as the worker saw it; None when it cannot render
    task_problem: str | None  # why it cannot (the item's fields are shown instead)
    item_fields: list[Field]
    answer: list[Field]
    others: list[OtherAnswer]
    worker: WorkerRecord
    bonuses: list[Bonus]
    queue: QueuePosition
    gold_correct: bool | None
    flagged: bool
    flag_reason: str | None
    reject_reasons: tuple[str, ...] = REJECT_REASONS


@dataclass(frozen=True)
class QueueEntry:
    response_id: int
    item_id: int
    worker_id: str
    submitted: datetime
    flagged: bool
    preview: str  # the answer on one line, shortened


@dataclass(frozen=True)
class ReviewQueue:
    hitblock: Hitblock
    entries: list[QueueEntry]
    submitted: int
    approved: int
    rejected: int
    truncated: bool  # more submitted responses than QUEUE_LIMIT wait

    @property
    def ids(self) -> list[int]:
        return [entry.response_id for entry in self.entries]


# ---- formatting ----------------------------------------------------------------------------


def format_value(value: Any) -> str:
    """A value as a reviewer reads it: text exactly as written (line breaks kept), a list one
    value per line, numbers and booleans as JSON writes them, objects as indented JSON with
    characters as they are (no ``\\uXXXX``)."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "\n".join(value)
    return json.dumps(value, ensure_ascii=False, indent=2)


@lru_cache(maxsize=256)
def _field_order(template: str) -> tuple[str, ...]:
    """The names of the template's form fields in page order (a crowd element's too)."""
    names: dict[str, None] = {}
    for _, attributes in start_tags(template):
        name = attributes.get("name")
        if name and name != "assignmentId" and "${" not in name:
            names.setdefault(name, None)
    return tuple(names)


def answer_fields(data: dict[str, Any], order: Sequence[str] = ()) -> list[Field]:
    """The answer as ordered (field, value) pairs: in the order the form asks (a database may
    not keep the order the answer came in), then any field the form does not name."""
    known = [name for name in order if name in data]
    rest = [name for name in data if name not in set(known)]
    fields = []
    for name in [*known, *rest]:
        text = format_value(data[name])
        fields.append(Field(name, text, "\n" in text))
    return fields


def _is_image_url(name: str, value: Any) -> bool:
    if not isinstance(value, str) or not value.startswith(("http://", "https://")):
        return False
    path = value.split("?", 1)[0].split("#", 1)[0]
    return "image" in name.lower() or _IMAGE_PATH.search(path) is not None


def item_fields(params: dict[str, Any]) -> list[Field]:
    fields = []
    for name, value in params.items():
        text = format_value(value)
        fields.append(Field(name, text, "\n" in text, _is_image_url(name, value)))
    return fields


def preview(data: dict[str, Any], order: Sequence[str] = ()) -> str:
    """The answer on one line, shortened, for the queue's list."""

    def one_line(text: str) -> str:
        return " / ".join(" ".join(line.split()) for line in text.splitlines() if line.strip())

    parts = [f"{field.name}: {one_line(field.value)}" for field in answer_fields(data, order)]
    text = "; ".join(parts)
    return text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 1] + "…"


def task_page(hitblock: Hitblock, item: Item) -> tuple[str | None, str | None]:
    """The item's task page as its workers saw it, or None and why it cannot be rendered
    (a template saved before today's checks, an item missing a field it now needs)."""
    try:
        page = submittable(hitblock.template)
        return render(HITBLOCK_TYPES[hitblock.type], page, item.params), None
    except CannotSubmit as error:
        return None, str(error)
    except KeyError as error:
        return None, f"The item has no value for the template's field {error}."


# ---- the queue's order ----------------------------------------------------------------------


def _flag_rank() -> ColumnElement[int]:
    """0 for a flagged response (the gold policy's flag), 1 otherwise: flagged ones first."""
    return case((Response.flagged.is_(True), 0), else_=1)


def _in_hitblock(hitblock_id: int) -> ColumnElement[bool]:
    return Response.item_id.in_(select(Item.id).where(Item.hitblock_id == hitblock_id))


def _position(session: DbSession, response: Response, hitblock_id: int) -> QueuePosition:
    """Position, queue size and neighbours in one statement (keyset comparisons on the
    queue's order: flag rank, submitted, id)."""
    rank = _flag_rank()
    mine = 0 if response.flagged else 1
    queued = and_(_in_hitblock(hitblock_id), Response.status == "submitted")
    before = or_(
        rank < mine,
        and_(rank == mine, Response.submitted < response.submitted),
        and_(rank == mine, Response.submitted == response.submitted, Response.id < response.id),
    )
    after = or_(
        rank > mine,
        and_(rank == mine, Response.submitted > response.submitted),
        and_(rank == mine, Response.submitted == response.submitted, Response.id > response.id),
    )

    def neighbour(where: ColumnElement[bool], descending: bool) -> Any:
        order = [rank, Response.submitted, Response.id]
        return (
            select(Response.id)
            .where(queued, where)
            .order_by(*[o.desc() if descending else o for o in order])
            .limit(1)
            .scalar_subquery()
        )

    row = session.execute(
        select(
            select(func.count(Response.id)).where(queued).scalar_subquery(),
            select(func.count(Response.id)).where(queued, before).scalar_subquery(),
            neighbour(before, descending=True),
            neighbour(after, descending=False),
        )
    ).one()
    remaining, ahead, previous_id, next_id = row
    position = ahead + 1 if response.status == "submitted" else None
    return QueuePosition(position, remaining, previous_id, next_id)


# ---- reads ---------------------------------------------------------------------------------


def _worker_record(
    session: DbSession, account_id: int, hitblock_id: int, worker_id: str
) -> WorkerRecord:
    def count(condition: ColumnElement[bool]) -> Any:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    row = session.execute(
        select(
            func.count(Response.id),
            count(Response.status == "approved"),
            count(Response.status == "rejected"),
            count(Response.status == "submitted"),
            count(Item.hitblock_id == hitblock_id),
            count(Response.gold_correct.is_not(None)),
            count(Response.gold_correct.is_(True)),
        )
        .select_from(Response)
        .join(Item, Item.id == Response.item_id)
        .join(Hitblock, Hitblock.id == Item.hitblock_id)
        .where(Hitblock.account_id == account_id, Response.worker_id == worker_id)
    ).one()
    return WorkerRecord(worker_id, *(int(value or 0) for value in row))


def review_of(session: DbSession, account_id: int, response_id: int) -> ResponseReview:
    """Everything a reviewer needs for one response, in five SQL statements."""
    response = responses.find_response(session, account_id, response_id)
    item, hitblock = response.item, response.item.hitblock
    order = _field_order(hitblock.template)
    others = [
        OtherAnswer(
            other.id,
            other.worker_id,
            other.status,
            answer_fields(other.data, order),
            other.data == response.data,
        )
        for other in session.scalars(
            select(Response)
            .where(Response.item_id == item.id, Response.id != response.id)
            .order_by(Response.submitted, Response.id)
        )
    ]
    worker = _worker_record(session, account_id, hitblock.id, response.worker_id)
    bonuses = list(
        session.scalars(select(Bonus).where(Bonus.response_id == response.id).order_by(Bonus.id))
    )
    queue = _position(session, response, hitblock.id)
    task_html, problem = task_page(hitblock, item)
    return ResponseReview(
        response=response,
        item=item,
        hitblock=hitblock,
        task_html=task_html,
        task_problem=problem,
        item_fields=item_fields(item.params),
        answer=answer_fields(response.data, order),
        others=others,
        worker=worker,
        bonuses=bonuses,
        queue=queue,
        gold_correct=response.gold_correct,
        flagged=response.flagged,
        flag_reason=response.flag_reason,
    )


def task_of(session: DbSession, account_id: int, response_id: int) -> tuple[Item, str | None]:
    """The response's item and its task page (None when it cannot be rendered)."""
    response = responses.find_response(session, account_id, response_id)
    return response.item, task_page(response.item.hitblock, response.item)[0]


def queue(session: DbSession, account_id: int, hitblock_id: int) -> ReviewQueue:
    """The hitblock's submitted responses in review order (flagged first, then oldest), with
    how many are approved and rejected: three statements."""
    hitblock = find_hitblock(session, account_id, hitblock_id)
    order = _field_order(hitblock.template)
    rows = session.execute(
        select(
            Response.id,
            Response.item_id,
            Response.worker_id,
            Response.submitted,
            Response.flagged,
            Response.data,
        )
        .where(_in_hitblock(hitblock.id), Response.status == "submitted")
        .order_by(_flag_rank(), Response.submitted, Response.id)
        .limit(QUEUE_LIMIT + 1)
    ).all()
    counts = dict(
        session.execute(
            select(Response.status, func.count(Response.id))
            .where(_in_hitblock(hitblock.id))
            .group_by(Response.status)
        ).all()
    )
    entries = [
        QueueEntry(row[0], row[1], row[2], row[3], bool(row[4]), preview(row[5] or {}, order))
        for row in rows[:QUEUE_LIMIT]
    ]
    return ReviewQueue(
        hitblock,
        entries,
        submitted=int(counts.get("submitted", 0)),
        approved=int(counts.get("approved", 0)),
        rejected=int(counts.get("rejected", 0)),
        truncated=len(rows) > QUEUE_LIMIT,
    )


# ---- decisions -------------------------------------------------------------------------------


def _feedback(text: str | None, *, required: bool) -> str | None:
    text = (text or "").strip()
    if not text:
        if required:
            raise InvalidInput(
                "Say why the work is rejected: MTurk shows the worker this feedback.",
                param="feedback",
                code="feedback_required",
            )
        return None
    if len(text) > MAX_FEEDBACK:
        raise InvalidInput(
            f"Feedback is limited to {MAX_FEEDBACK} characters on MTurk.", param="feedback"
        )
    return text


def approve(
    session: DbSession,
    gateway: MTurkGateway,
    account_id: int,
    response_id: int,
    feedback: str | None = None,
) -> Response:
    """Approve on MTurk, then record it (``responses.review``: 409 when MTurk's state
    differs, say already auto-approved or rejected)."""
    decision = Decision("approved", _feedback(feedback, required=False))
    return responses.review(session, gateway, account_id, response_id, decision)


def reject(
    session: DbSession, gateway: MTurkGateway, account_id: int, response_id: int, feedback: str
) -> Response:
    decision = Decision("rejected", _feedback(feedback, required=True))
    return responses.review(session, gateway, account_id, response_id, decision)


def bonus(
    session: DbSession,
    gateway: MTurkGateway,
    account_id: int,
    response_id: int,
    amount: Decimal,
    reason: str,
    token: str | None = None,
) -> Bonus:
    """Pay a bonus; ``token``, the page's for this one decision, makes sending it again
    harmless (``responses.pay_bonus``)."""
    text = (reason or "").strip()
    if not text:
        raise InvalidInput(
            "Say why the bonus is paid: MTurk shows the worker this reason.",
            param="reason",
            code="reason_required",
        )
    return responses.pay_bonus(session, gateway, account_id, response_id, amount, text, token=token)


@dataclass(frozen=True)
class SelectedOutcome:
    """What became of one response of a bulk approval."""

    response: int
    status: str | None  # the response's status now; None when it is not this hitblock's
    approved: bool
    error: DomainError | MTurkError | None


def _unique(ids: Iterable[int]) -> list[int]:
    return list(dict.fromkeys(ids))


def approve_selected(
    session: DbSession,
    gateway: MTurkGateway,
    account_id: int,
    hitblock_id: int,
    response_ids: Sequence[int],
    concurrency: int = 8,
) -> list[SelectedOutcome]:
    """Approve exactly the responses given (those a reviewer selected and saw), each checked
    to be this hitblock's and this account's first, each outcome reported. Nothing else is
    approved: no id means no approval. MTurk is asked ``concurrency`` calls at a time
    (``responses.review_many``), so 500 take seconds, within a proxy's timeout."""
    find_hitblock(session, account_id, hitblock_id)
    ids = _unique(response_ids)
    if not ids:
        raise InvalidInput("Select the responses to approve.", param="response_ids")
    if len(ids) > MAX_SELECTED:
        raise InvalidInput(
            f"At most {MAX_SELECTED} responses are approved at once.", param="response_ids"
        )
    in_hitblock = set(
        session.scalars(select(Response.id).where(Response.id.in_(ids), _in_hitblock(hitblock_id)))
    )
    asked = [response_id for response_id in ids if response_id in in_hitblock]
    decision = Decision("approved", None)
    done = {
        outcome.response: outcome
        for outcome in responses.review_many(
            session, gateway, account_id, asked, decision, concurrency
        )
    }
    outcomes = []
    for response_id in ids:
        outcome = done.get(response_id)
        if outcome is None:  # another hitblock's, or another account's: as if missing
            missing = NotFound("response", response_id)
            outcomes.append(SelectedOutcome(response_id, None, False, missing))
        else:
            approved = outcome.error is None
            outcomes.append(SelectedOutcome(response_id, outcome.status, approved, outcome.error))
    return outcomes
