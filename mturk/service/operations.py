"""The MTurk Requester API (2017-01-17), operation by operation, over the local store.

Each operation takes a session inside the request's transaction, the requester whose key
signed the request, and the request's parameters (already validated against botocore's model
and MTurk's documented limits), and returns the response body. A requester sees and acts on
its own objects only: the lookups below filter by requester, so that another requester's ids
answer exactly as missing ones do. Failures raise ``TurkError``, which the protocol layer
sends as MTurk does (``__type`` RequestError or ServiceFault with a ``TurkErrorCode``).
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mturk.crowd import refusal_message, refused_elements
from mturk.fees import commission
from mturk.questions import InsecureExternalURL, InvalidQuestion, Question, parse_question
from mturk.service import events, layouts, notifications, qualifications, review, uploads
from mturk.service.errors import TurkError
from mturk.service.lifecycle import (
    DONE_STATUSES,
    amount,
    approve,
    assignment_counts,
    cents,
    charge,
    move,
    refresh_status,
)
from mturk.service.store import (
    HIT,
    Assignment,
    Bonus,
    HITType,
    QualificationRequest,
    Requester,
    ReviewAction,
    ReviewResult,
    UploadedFile,
    WorkerBlock,
    WorkerMessage,
    new_id,
)
from mturk.service.store import now as clock

TOKEN_WINDOW = 24 * 3600
VISIBLE_ASSIGNMENT_STATUSES = ("Submitted", "Approved", "Rejected")
# The session setting (``Store.settings``) that lets plain http:// ExternalURLs in (local dev).
ALLOW_HTTP = "allow_http_external_url"
# The session setting that holds the service's public URL as the request reached it, for the
# URLs an operation hands out (GetFileUploadURL).
SERVICE_URL = "service_url"
NEXT_TOKEN_VERSION = "p1"
INVALID_NEXT_TOKEN = "The value of NextToken is invalid. Use the NextToken of a previous page."


LATEST_TIME = 253_402_300_799.0  # 9999-12-31T23:59:59Z: what datetime and AWS can show


def epoch_seconds(value: Any) -> float | None:
    """A timestamp parameter as seconds since the epoch: botocore sends a number, other
    clients may send ISO 8601 (botocore's validator lets both through); None when it is not a
    time a HIT can have (NaN, infinite, negative, past the year 9999, not a date)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            seconds = float(value)
        except OverflowError:  # an integer beyond any float
            return None
    elif isinstance(value, str):
        try:
            parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=datetime.UTC)
        seconds = parsed.timestamp()
    else:
        return None
    return seconds if 0 <= seconds <= LATEST_TIME else None  # NaN fails both


# ---- lookups ------------------------------------------------------------------------


def _hit(session: Session, requester_id: int, hit_id: str) -> HIT:
    hit = session.scalar(select(HIT).where(HIT.id == hit_id, HIT.requester_id == requester_id))
    if hit is None:
        raise TurkError(f"Hit {hit_id} does not exist.", "AWS.MechanicalTurk.HITDoesNotExist")
    return hit


def _hit_type(session: Session, requester_id: int, hit_type_id: str) -> HITType:
    hit_type = session.get(HITType, hit_type_id)
    if hit_type is None or hit_type.requester_id != requester_id:
        raise TurkError(
            f"HITType {hit_type_id} does not exist.", "AWS.MechanicalTurk.HITTypeDoesNotExist"
        )
    return hit_type


def _assignment(session: Session, requester_id: int, assignment_id: str) -> Assignment:
    assignment = session.scalar(
        select(Assignment)
        .join(HIT, HIT.id == Assignment.hit_id)
        .where(
            Assignment.id == assignment_id,
            Assignment.status.in_(VISIBLE_ASSIGNMENT_STATUSES),
            HIT.requester_id == requester_id,
        )
    )
    if assignment is None:
        raise TurkError(
            f"Assignment {assignment_id} does not exist.",
            "AWS.MechanicalTurk.AssignmentDoesNotExist",
        )
    return assignment


# ---- state ----------------------------------------------------------------------------


# ---- output shapes --------------------------------------------------------------------


def hit_dict(hit: HIT, hit_type: HITType, counts: dict[str, int]) -> dict[str, Any]:
    done = sum(counts.get(status, 0) for status in DONE_STATUSES)
    pending = counts.get("Accepted", 0)
    body: dict[str, Any] = {
        "HITId": hit.id,
        "HITTypeId": hit_type.id,
        "HITGroupId": hit_type.id,
        "CreationTime": hit.created_at,
        "Title": hit_type.title,
        "Description": hit_type.description,
        "Question": hit.question,
        "Keywords": hit_type.keywords,
        "HITStatus": hit.status,
        "MaxAssignments": hit.max_assignments,
        "Reward": amount(hit_type.reward_cents),
        "AutoApprovalDelayInSeconds": hit_type.auto_approval_delay,
        "Expiration": hit.expiration,
        "AssignmentDurationInSeconds": hit_type.assignment_duration,
        "QualificationRequirements": hit_type.qualification_requirements,
        "HITReviewStatus": hit.review_status,
        "NumberOfAssignmentsPending": pending,
        "NumberOfAssignmentsAvailable": max(0, hit.max_assignments - done - pending)
        if hit.status == "Assignable"
        else 0,
        "NumberOfAssignmentsCompleted": done,
    }
    if hit.requester_annotation is not None:
        body["RequesterAnnotation"] = hit.requester_annotation
    if hit.hit_layout_id is not None:
        body["HITLayoutId"] = hit.hit_layout_id
    return body


def _hits_out(session: Session, hits: list[HIT]) -> list[dict[str, Any]]:
    counts = assignment_counts(session, [hit.id for hit in hits])
    types = {
        t.id: t
        for t in session.scalars(
            select(HITType).where(HITType.id.in_({h.hit_type_id for h in hits}))
        )
    }
    return [hit_dict(hit, types[hit.hit_type_id], counts[hit.id]) for hit in hits]


def assignment_dict(assignment: Assignment) -> dict[str, Any]:
    body: dict[str, Any] = {
        "AssignmentId": assignment.id,
        "WorkerId": assignment.worker_id,
        "HITId": assignment.hit_id,
        "AssignmentStatus": assignment.status,
        "AutoApprovalTime": assignment.auto_approval_time,
        "AcceptTime": assignment.accept_time,
        "SubmitTime": assignment.submit_time,
        "ApprovalTime": assignment.approval_time,
        "RejectionTime": assignment.rejection_time,
        "Deadline": assignment.deadline,
        "Answer": assignment.answer,
        "RequesterFeedback": assignment.requester_feedback,
    }
    return {key: value for key, value in body.items() if value is not None}


# ---- pagination -----------------------------------------------------------------------


def _page(
    params: dict[str, Any], stmt: Any, seq_column: Any, session: Session
) -> tuple[list[Any], dict[str, Any]]:
    """NextToken pagination as AWS does it: every non-empty page carries a token (the last
    seq seen, so pages never shift), and the call after the last page answers an empty page
    without one. A token names the listing it came from (the query, with its requester and
    filters), so another requester's or another listing's token is refused, not followed."""
    limit = params.get("MaxResults", 10)
    listing = _listing(stmt)
    token = params.get("NextToken")
    if token is not None:
        stmt = stmt.where(seq_column > _token_position(token, listing))
    rows = list(session.scalars(stmt.order_by(seq_column).limit(limit)))
    extra: dict[str, Any] = {}
    if rows:
        extra["NextToken"] = _token(rows[-1].seq, listing)
    extra["NumResults"] = len(rows)
    return rows, extra


def _listing(stmt: Any) -> str:
    """A short digest of the query a token pages through: its SQL and every bound value
    (so a listing's filters must not bind the current time, or its tokens would go stale)."""
    compiled = stmt.compile()
    params = sorted((key, repr(value)) for key, value in compiled.params.items())
    text = json.dumps([str(compiled), params])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _token(seq: int, listing: str) -> str:
    return base64.urlsafe_b64encode(f"{NEXT_TOKEN_VERSION}:{listing}:{seq}".encode()).decode()


def _token_position(token: str, listing: str) -> int:
    """The seq a token resumes after; a garbage, forged or foreign token is a RequestError."""
    try:
        version, listed, seq = base64.urlsafe_b64decode(token.encode()).decode().split(":")
        position = int(seq)
    except (ValueError, UnicodeDecodeError):
        position, version, listed = -1, "", ""
    if version != NEXT_TOKEN_VERSION or listed != listing or position < 0:
        raise TurkError(INVALID_NEXT_TOKEN, "AWS.ParameterOutOfRange")
    return position


# ---- crowd HTML elements (see mturk/crowd.py) -----------------------------------------


def _check_crowd_elements(question: Question) -> None:
    """An HTMLQuestion that loads crowd-html-elements.js may use only the elements the
    stand-in provides: any other would render as plain text and answer nothing."""
    unknown = refused_elements(question.content) if question.kind == "html" else []
    if unknown:
        message = refusal_message(unknown, "The HTMLQuestion")
        raise TurkError(message, "AWS.MechanicalTurk.InvalidParameterValue")


# ---- operations -----------------------------------------------------------------------


def _fingerprint(params: dict[str, Any]) -> str:
    keys = (
        "Title",
        "Description",
        "Keywords",
        "Reward",
        "AssignmentDurationInSeconds",
        "AutoApprovalDelayInSeconds",
        "QualificationRequirements",
    )
    values = {key: params.get(key) for key in keys}
    values["Reward"] = cents(params["Reward"])
    values["AutoApprovalDelayInSeconds"] = params.get("AutoApprovalDelayInSeconds", 2_592_000)
    values["Keywords"] = params.get("Keywords", "")
    values["QualificationRequirements"] = params.get("QualificationRequirements", [])
    return json.dumps(values, sort_keys=True)


def create_hit_type(session: Session, requester_id: int, params: dict[str, Any]) -> dict[str, Any]:
    """A requester's equal properties give the same HITTypeId, as on MTurk."""
    qualifications.check_requirements(
        session, requester_id, params.get("QualificationRequirements", [])
    )
    fingerprint = _fingerprint(params)
    same = select(HITType).where(
        HITType.requester_id == requester_id, HITType.fingerprint == fingerprint
    )
    existing = session.scalar(same)
    if existing is not None:
        return {"HITTypeId": existing.id}
    hit_type = HITType(
        id=new_id(),
        requester_id=requester_id,
        title=params["Title"],
        description=params["Description"],
        keywords=params.get("Keywords", ""),
        reward_cents=cents(params["Reward"]),
        assignment_duration=params["AssignmentDurationInSeconds"],
        auto_approval_delay=params.get("AutoApprovalDelayInSeconds", 2_592_000),
        qualification_requirements=params.get("QualificationRequirements", []),
        fingerprint=fingerprint,
    )
    try:
        with session.begin_nested():
            session.add(hit_type)
    except IntegrityError:  # created by a concurrent identical request
        existing = session.scalar(same)
        assert existing is not None
        return {"HITTypeId": existing.id}
    return {"HITTypeId": hit_type.id}


def create_hit_with_hit_type(
    session: Session, requester_id: int, params: dict[str, Any]
) -> dict[str, Any]:
    hit_type = _hit_type(session, requester_id, params["HITTypeId"])
    # The Question, or the page of a HIT layout (``layouts``); the review policies
    # (``review``), refused here as MTurk refuses them.
    question, layout_id = layouts.question_of(session, requester_id, params)
    assignment_review_policy, hit_review_policy = review.check_policies(params)
    try:
        parsed = parse_question(question, allow_http=session.info.get(ALLOW_HTTP, False))
    except InsecureExternalURL as exc:
        raise TurkError(str(exc), "AWS.MechanicalTurk.InvalidParameterValue") from None
    except InvalidQuestion as exc:
        raise TurkError(str(exc), "AWS.MechanicalTurk.XMLParseError") from None
    _check_crowd_elements(parsed)
    token = params.get("UniqueRequestToken")
    if token is not None:
        _check_token_free(session, requester_id, token)
    at = clock()
    hit = HIT(
        hit_type_id=hit_type.id,
        requester_id=requester_id,
        question=question,
        hit_layout_id=layout_id,
        assignment_review_policy=assignment_review_policy,
        hit_review_policy=hit_review_policy,
        max_assignments=params.get("MaxAssignments", 1),
        requester_annotation=params.get("RequesterAnnotation"),
        unique_request_token=token,
        created_at=at,
        expiration=at + params["LifetimeInSeconds"],
    )
    if token is None or _serialized(session):
        # No concurrent transaction can take the token between the check above and this
        # insert: none has a token, or the database runs one transaction at a time (SQLite).
        session.add(hit)
        session.flush()
    else:
        try:
            with session.begin_nested():
                session.add(hit)
        except IntegrityError:  # a concurrent request with the same token won the race
            _check_token_free(session, requester_id, token)
            raise
    events.emit(session, events.HIT_CREATED, hit, at=at)
    return {"HIT": hit_dict(hit, hit_type, {})}


def _serialized(session: Session) -> bool:
    """Whether the session's transactions run one at a time (SQLite: ``store``)."""
    return session.get_bind().dialect.name == "sqlite"


def _check_token_free(session: Session, requester_id: int, token: str) -> None:
    """A token names one of the requester's HITs for 24 hours; a repeat fails with that HIT's
    id in the message."""
    earlier = session.scalar(
        select(HIT).where(HIT.requester_id == requester_id, HIT.unique_request_token == token)
    )
    if earlier is None:
        return
    if earlier.created_at > clock() - TOKEN_WINDOW:
        raise TurkError(
            f"There is already a HIT which exists with the same UniqueRequestToken: "
            f"HITId {earlier.id}.",
            "AWS.MechanicalTurk.HitAlreadyExists",
        )
    earlier.unique_request_token = None  # the window has passed: the token is free again
    session.flush()


def create_hit(session: Session, requester_id: int, params: dict[str, Any]) -> dict[str, Any]:
    hit_type_id = create_hit_type(session, requester_id, params)["HITTypeId"]
    return create_hit_with_hit_type(session, requester_id, {**params, "HITTypeId": hit_type_id})


def get_hit(session: Session, requester_id: int, params: dict[str, Any]) -> dict[str, Any]:
    hit = _hit(session, requester_id, params["HITId"])
    return {"HIT": _hits_out(session, [hit])[0]}


def list_hits(session: Session, requester_id: int, params: dict[str, Any]) -> dict[str, Any]:
    stmt = select(HIT).where(HIT.requester_id == requester_id, HIT.status != "Disposed")
    hits, extra = _page(params, stmt, HIT.seq, session)
    return {**extra, "HITs": _hits_out(session, hits)}


def list_reviewable_hits(
    session: Session, requester_id: int, params: dict[str, Any]
) -> dict[str, Any]:
    stmt = select(HIT).where(
        HIT.requester_id == requester_id, HIT.status == params.get("Status", "Reviewable")
    )
    if "HITTypeId" in params:
        stmt = stmt.where(HIT.hit_type_id == params["HITTypeId"])
    hits, extra = _page(params, stmt, HIT.seq, session)
    return {**extra, "HITs": _hits_out(session, hits)}


def list_assignments_for_hit(
    session: Session, requester_id: int, params: dict[str, Any]
) -> dict[str, Any]:
    _hit(session, requester_id, params["HITId"])
    statuses = params.get("AssignmentStatuses") or list(VISIBLE_ASSIGNMENT_STATUSES)
    stmt = select(Assignment).where(
        Assignment.hit_id == params["HITId"], Assignment.status.in_(statuses)
    )
    assignments, extra = _page(params, stmt, Assignment.seq, session)
    return {**extra, "Assignments": [assignment_dict(a) for a in assignments]}


def get_assignment(session: Session, requester_id: int, params: dict[str, Any]) -> dict[str, Any]:
    assignment = _assignment(session, requester_id, params["AssignmentId"])
    hit = _hit(session, requester_id, assignment.hit_id)
    return {"Assignment": assignment_dict(assignment), "HIT": _hits_out(session, [hit])[0]}


def approve_assignment(
    session: Session, requester_id: int, params: dict[str, Any]
) -> dict[str, Any]:
    assignment = _assignment(session, requester_id, params["AssignmentId"])
    allowed = {"Submitted"} | ({"Rejected"} if params.get("OverrideRejection") else set())
    approve(session, assignment, params.get("RequesterFeedback"), clock(), frozenset(allowed))
    refresh_status(session, _hit(session, requester_id, assignment.hit_id))
    return {}


def reject_assignment(
    session: Session, requester_id: int, params: dict[str, Any]
) -> dict[str, Any]:
    assignment = _assignment(session, requester_id, params["AssignmentId"])
    move(
        session,
        assignment,
        {"Submitted"},
        status="Rejected",
        rejection_time=clock(),
        requester_feedback=params["RequesterFeedback"],
    )
    hit = _hit(session, requester_id, assignment.hit_id)
    events.emit(session, events.ASSIGNMENT_REJECTED, hit, assignment.id)
    return {}


def send_bonus(session: Session, requester_id: int, params: dict[str, Any]) -> dict[str, Any]:
    assignment = _assignment(session, requester_id, params["AssignmentId"])
    if assignment.worker_id != params["WorkerId"]:
        raise TurkError(
            "The assignment was not done by this worker.", "AWS.MechanicalTurk.InvalidParameter"
        )
    token = params.get("UniqueRequestToken")
    if token is not None:
        earlier = session.scalar(
            select(Bonus).where(
                Bonus.requester_id == requester_id, Bonus.unique_request_token == token
            )
        )
        if earlier is not None:
            if earlier.grant_time > clock() - TOKEN_WINDOW:
                raise TurkError(
                    "A bonus with this UniqueRequestToken was already paid.",
                    "AWS.MechanicalTurk.DuplicateRequest",
                )
            earlier.unique_request_token = None
            session.flush()
    amount = Decimal(params["BonusAmount"])
    if amount <= 0:
        raise TurkError("BonusAmount must be greater than 0.", "AWS.ParameterOutOfRange")
    fee = cents(str(commission(amount)))
    bonus_cents = cents(params["BonusAmount"])
    charge(session, requester_id, bonus_cents + fee, fee, "bonus", assignment.id)
    bonus = Bonus(
        requester_id=requester_id,
        worker_id=params["WorkerId"],
        assignment_id=assignment.id,
        amount_cents=bonus_cents,
        reason=params["Reason"],
        unique_request_token=token,
    )
    try:
        with session.begin_nested():
            session.add(bonus)
    except IntegrityError:  # the same token paid by a concurrent call: this one pays nothing
        raise TurkError(
            "A bonus with this UniqueRequestToken was already paid.",
            "AWS.MechanicalTurk.DuplicateRequest",
        ) from None
    return {}


def list_bonus_payments(
    session: Session, requester_id: int, params: dict[str, Any]
) -> dict[str, Any]:
    if ("HITId" in params) == ("AssignmentId" in params):
        raise TurkError("Give either HITId or AssignmentId.", "AWS.MissingParameters")
    stmt = select(Bonus).where(Bonus.requester_id == requester_id)
    if "AssignmentId" in params:
        stmt = stmt.where(Bonus.assignment_id == params["AssignmentId"])
    else:
        ids = select(Assignment.id).where(Assignment.hit_id == params["HITId"])
        stmt = stmt.where(Bonus.assignment_id.in_(ids))
    bonuses, extra = _page(params, stmt, Bonus.seq, session)
    payments = [
        {
            "WorkerId": bonus.worker_id,
            "BonusAmount": amount(bonus.amount_cents),
            "AssignmentId": bonus.assignment_id,
            "Reason": bonus.reason,
            "GrantTime": bonus.grant_time,
        }
        for bonus in bonuses
    ]
    return {**extra, "BonusPayments": payments}


def update_expiration_for_hit(
    session: Session, requester_id: int, params: dict[str, Any]
) -> dict[str, Any]:
    hit = _hit(session, requester_id, params["HITId"])
    if hit.status == "Disposed":
        raise TurkError("The HIT has been deleted.", "AWS.MechanicalTurk.InvalidHITState")
    at = clock()
    expire_at = epoch_seconds(params["ExpireAt"])
    assert expire_at is not None  # checked by the protocol layer
    if at < expire_at < hit.expiration:
        raise TurkError(
            "You cannot shorten the expiration time of a HIT: extend it, or expire it now "
            "with a time in the past (or 0).",
            "AWS.MechanicalTurk.InvalidParameterValue",
        )
    extended = expire_at > hit.expiration
    hit.expiration = max(expire_at, at)  # a time in the past expires it now
    refresh_status(session, hit, at)
    if extended:
        events.emit(session, events.HIT_EXTENDED, hit, at=at)
    return {}


def delete_hit(session: Session, requester_id: int, params: dict[str, Any]) -> dict[str, Any]:
    hit = _hit(session, requester_id, params["HITId"])
    if hit.status == "Disposed":
        return {}
    counts = assignment_counts(session, [hit.id])[hit.id]
    if hit.status not in {"Reviewable", "Reviewing"} or counts.get("Submitted", 0):
        raise TurkError(
            "This HIT is currently in the state "
            f"'{hit.status}'. This operation can be called with a status of: Reviewing, "
            "Reviewable, and only when every submitted assignment is approved or rejected.",
            "AWS.MechanicalTurk.InvalidHITState",
        )
    hit.status = "Disposed"
    events.emit(session, events.HIT_DISPOSED, hit)
    return {}


def update_hit_review_status(
    session: Session, requester_id: int, params: dict[str, Any]
) -> dict[str, Any]:
    hit = _hit(session, requester_id, params["HITId"])
    revert = bool(params.get("Revert", False))
    wanted_from = "Reviewing" if revert else "Reviewable"
    if hit.status != wanted_from:
        raise TurkError(
            f"This HIT is currently in the state '{hit.status}'. "
            f"This operation can be called with a status of: {wanted_from}",
            "AWS.MechanicalTurk.InvalidHITState",
        )
    hit.review_status = "NotReviewed" if revert else "MarkedForReview"
    hit.status = "Reviewable" if revert else "Reviewing"
    return {}


def create_additional_assignments_for_hit(
    session: Session, requester_id: int, params: dict[str, Any]
) -> dict[str, Any]:
    hit = _hit(session, requester_id, params["HITId"])
    extra = params["NumberOfAdditionalAssignments"]
    if extra < 1:
        raise TurkError(
            "NumberOfAdditionalAssignments must be at least 1.", "AWS.ParameterOutOfRange"
        )
    if hit.status == "Disposed" or hit.expiration <= clock():
        raise TurkError(
            "The HIT has expired or been deleted.", "AWS.MechanicalTurk.InvalidHITState"
        )
    if hit.max_assignments < 10 <= hit.max_assignments + extra:
        raise TurkError(
            "HITs created with fewer than 10 assignments cannot be extended to 10 or more.",
            "AWS.MechanicalTurk.InvalidMaximumAssignmentsIncrease",
        )
    hit.max_assignments += extra
    refresh_status(session, hit)
    events.emit(session, events.HIT_EXTENDED, hit)
    return {}


def get_account_balance(
    session: Session, requester_id: int, params: dict[str, Any]
) -> dict[str, Any]:
    requester = session.get_one(Requester, requester_id)
    return {"AvailableBalance": amount(requester.balance_cents), "OnHoldBalance": "0.00"}


def _block(session: Session, requester_id: int, worker_id: str) -> WorkerBlock | None:
    return session.scalar(
        select(WorkerBlock).where(
            WorkerBlock.requester_id == requester_id, WorkerBlock.worker_id == worker_id
        )
    )


def create_worker_block(
    session: Session, requester_id: int, params: dict[str, Any]
) -> dict[str, Any]:
    """Blocks the worker from this requester's HITs (not from other requesters')."""
    block = _block(session, requester_id, params["WorkerId"])
    if block is None:
        session.add(
            WorkerBlock(
                requester_id=requester_id, worker_id=params["WorkerId"], reason=params["Reason"]
            )
        )
    else:
        block.reason = params["Reason"]
    return {}


def delete_worker_block(
    session: Session, requester_id: int, params: dict[str, Any]
) -> dict[str, Any]:
    block = _block(session, requester_id, params["WorkerId"])
    if block is not None:
        session.delete(block)
    return {}


def list_worker_blocks(
    session: Session, requester_id: int, params: dict[str, Any]
) -> dict[str, Any]:
    mine = select(WorkerBlock).where(WorkerBlock.requester_id == requester_id)
    blocks, extra = _page(params, mine, WorkerBlock.seq, session)
    return {
        **extra,
        "WorkerBlocks": [{"WorkerId": b.worker_id, "Reason": b.reason} for b in blocks],
    }


def notify_workers(session: Session, requester_id: int, params: dict[str, Any]) -> dict[str, Any]:
    """Message workers who have worked on this requester's HITs (as on MTurk, a requester
    cannot write to strangers); each other worker is a HardFailure in the answer."""
    workers = list(dict.fromkeys(params["WorkerIds"]))
    worked = set(
        session.scalars(
            select(Assignment.worker_id)
            .join(HIT, HIT.id == Assignment.hit_id)
            .where(HIT.requester_id == requester_id, Assignment.worker_id.in_(workers))
        )
    )
    failures = [
        {
            "NotifyWorkersFailureCode": "HardFailure",
            "NotifyWorkersFailureMessage": f"Worker {worker_id} has not worked for you.",
            "WorkerId": worker_id,
        }
        for worker_id in workers
        if worker_id not in worked
    ]
    for worker_id in (worker_id for worker_id in workers if worker_id in worked):
        session.add(
            WorkerMessage(
                requester_id=requester_id,
                worker_id=worker_id,
                subject=params["Subject"],
                text=params["MessageText"],
            )
        )
    return {"NotifyWorkersFailureStatuses": failures}


# ---- notifications (mturk/service/notifications.py) ----------------------------------------


def update_notification_settings(
    session: Session, requester_id: int, params: dict[str, Any]
) -> dict[str, Any]:
    """Set or replace a HIT type's notification specification (active unless Active says
    otherwise), or only turn it off or on again, as MTurk does."""
    hit_type = _hit_type(session, requester_id, params["HITTypeId"])
    if "Notification" in params:
        hit_type.notification = notifications.check_specification(params["Notification"])
        hit_type.notification_active = params.get("Active", True)
    elif "Active" in params:
        if hit_type.notification is None:
            raise TurkError(
                "The HIT type has no notification specification: give one (Notification) "
                "to change its Active status.",
                "AWS.MechanicalTurk.InvalidParameter",
            )
        hit_type.notification_active = params["Active"]
    else:
        raise TurkError(
            "Give the Notification parameter, the Active parameter, or both.",
            "AWS.MissingParameters",
        )
    return {}


def send_test_event_notification(
    session: Session, requester_id: int, params: dict[str, Any]
) -> dict[str, Any]:
    """One message of TestEventType to the Notification's destination, sent at once (through
    the outbox, as every message), about a synthetic event of no HIT."""
    notifications.send_test(session, requester_id, params["Notification"], params["TestEventType"])
    return {}


# ---- end of notifications ---------------------------------------------------------------


def list_hits_for_qualification_type(
    session: Session, requester_id: int, params: dict[str, Any]
) -> dict[str, Any]:
    """The caller's HITs whose requirements name this type (a system type, or its own)."""
    type_id = params["QualificationTypeId"]
    qualifications.require_visible(session, requester_id, type_id)
    hit_types = session.scalars(select(HITType).where(HITType.requester_id == requester_id))
    using = sorted(
        hit_type.id
        for hit_type in hit_types
        if any(
            requirement["QualificationTypeId"] == type_id
            for requirement in hit_type.qualification_requirements or []
        )
    )
    stmt = select(HIT).where(
        HIT.requester_id == requester_id,
        HIT.hit_type_id.in_(using),
        HIT.status != "Disposed",
    )
    hits, extra = _page(params, stmt, HIT.seq, session)
    return {**extra, "HITs": _hits_out(session, hits)}


# ---- qualification requests (the rest is in ``qualifications``) ---------------------------


def list_qualification_requests(
    session: Session, requester_id: int, params: dict[str, Any]
) -> dict[str, Any]:
    """The Pending requests for the caller's types (of one type, when given), oldest first.
    Pages are keyed on the request, so accepting or rejecting the requests of a page before
    asking for the next one skips none."""
    stmt = select(QualificationRequest).where(
        QualificationRequest.requester_id == requester_id,
        QualificationRequest.status == "Pending",
    )
    if "QualificationTypeId" in params:
        qualifications.require_visible(session, requester_id, params["QualificationTypeId"])
        stmt = stmt.where(
            QualificationRequest.qualification_type_id == params["QualificationTypeId"]
        )
    requests, extra = _page(params, stmt, QualificationRequest.seq, session)
    return {
        **extra,
        "QualificationRequests": [qualifications.request_dict(row) for row in requests],
    }


# ---- end of qualification requests ------------------------------------------------------


# ---- review policies' results, and a HIT's HIT type (helper "review") ------------------------

REVIEW_TOKEN_VERSION = "r1"


def list_review_policy_results_for_hit(
    session: Session, requester_id: int, params: dict[str, Any]
) -> dict[str, Any]:
    """What the HIT's review policies computed and did (``review``), oldest first. A page
    holds up to MaxResults results and up to MaxResults actions, of the levels asked for;
    every non-empty page carries a NextToken, the call after the last answers an empty one."""
    hit = _hit(session, requester_id, params["HITId"])
    levels = list(dict.fromkeys(params.get("PolicyLevels") or review.LEVELS))
    want_results = params.get("RetrieveResults", True)
    want_actions = params.get("RetrieveActions", True)
    limit = params.get("MaxResults", 10)
    results_query = select(ReviewResult).where(
        ReviewResult.hit_id == hit.id, ReviewResult.level.in_(levels)
    )
    actions_query = select(ReviewAction).where(
        ReviewAction.hit_id == hit.id, ReviewAction.level.in_(levels)
    )
    listed = [_listing(results_query), _listing(actions_query), want_results, want_actions]
    listing = hashlib.sha256(json.dumps(listed).encode()).hexdigest()[:16]
    after_result, after_action = 0, 0
    if params.get("NextToken") is not None:
        after_result, after_action = _review_token_position(params["NextToken"], listing)
    results: list[ReviewResult] = []
    actions: list[ReviewAction] = []
    if want_results:
        later_results = results_query.where(ReviewResult.seq > after_result)
        results = list(session.scalars(later_results.order_by(ReviewResult.seq).limit(limit)))
    if want_actions:
        later_actions = actions_query.where(ReviewAction.seq > after_action)
        actions = list(session.scalars(later_actions.order_by(ReviewAction.seq).limit(limit)))
    body: dict[str, Any] = {"HITId": hit.id, **review.policy_names(hit, levels)}
    reports = {
        review.ASSIGNMENT_LEVEL: "AssignmentReviewReport",
        review.HIT_LEVEL: "HITReviewReport",
    }
    for level in levels:
        report: dict[str, Any] = body.setdefault(reports[level], {})
        if want_results:
            report["ReviewResults"] = [review.result_dict(r) for r in results if r.level == level]
        if want_actions:
            report["ReviewActions"] = [review.action_dict(a) for a in actions if a.level == level]
    if results or actions:
        last_result = results[-1].seq if results else after_result
        last_action = actions[-1].seq if actions else after_action
        token = f"{REVIEW_TOKEN_VERSION}:{listing}:{last_result}:{last_action}"
        body["NextToken"] = base64.urlsafe_b64encode(token.encode()).decode()
    return body


def _review_token_position(token: str, listing: str) -> tuple[int, int]:
    """The (result, action) seqs a token resumes after; any other token is refused."""
    try:
        version, listed, result_seq, action_seq = (
            base64.urlsafe_b64decode(token.encode()).decode().split(":")
        )
        position = (int(result_seq), int(action_seq))
    except (ValueError, UnicodeDecodeError):
        version, listed, position = "", "", (-1, -1)
    if version != REVIEW_TOKEN_VERSION or listed != listing or min(position) < 0:
        raise TurkError(INVALID_NEXT_TOKEN, "AWS.ParameterOutOfRange")
    return position


def update_hit_type_of_hit(
    session: Session, requester_id: int, params: dict[str, Any]
) -> dict[str, Any]:
    """The HIT takes the new HIT type's properties (title, reward, qualification
    requirements...). As on MTurk, all but the Reward can change at any time; the Reward only
    while no assignment of the HIT has been accepted, submitted, approved or rejected."""
    hit = _hit(session, requester_id, params["HITId"])
    new_type = _hit_type(session, requester_id, params["HITTypeId"])
    # Locked (as an accept locks it) and read afresh: an accept in progress is counted.
    session.refresh(hit, with_for_update=True)
    if hit.status == "Disposed":
        raise TurkError("The HIT has been deleted.", "AWS.MechanicalTurk.InvalidHITState")
    old_type = session.get_one(HITType, hit.hit_type_id)
    if new_type.reward_cents != old_type.reward_cents:
        counts = assignment_counts(session, [hit.id])[hit.id]
        if any(counts.get(status, 0) for status in ("Accepted", *DONE_STATUSES)):
            raise TurkError(
                "The Reward of a HIT can change only while none of its assignments has been "
                "accepted, submitted, approved or rejected.",
                "AWS.MechanicalTurk.InvalidHITState",
            )
    hit.hit_type_id = new_type.id
    return {}


# ---- end of review policies' results ------------------------------------------------------


# ---- uploaded files (helper "forms"; the files and their URLs are in ``uploads``) -----------


def get_file_upload_url(
    session: Session, requester_id: int, params: dict[str, Any]
) -> dict[str, Any]:
    """A URL to the file a worker uploaded for a FileUpload question of the caller's own
    assignment, good for 60 seconds, as on MTurk."""
    assignment = _assignment(session, requester_id, params["AssignmentId"])
    identifier = params["QuestionIdentifier"]
    upload = session.scalar(
        select(UploadedFile).where(
            UploadedFile.assignment_id == assignment.id,
            UploadedFile.question_identifier == identifier,
        )
    )
    if upload is None:
        raise TurkError(
            f"Assignment {assignment.id} has no uploaded file for the question "
            f"{identifier!r}: only a FileUploadAnswer question that the worker answered "
            "with a file has one.",
            "AWS.MechanicalTurk.InvalidParameterValue",
        )
    token = uploads.issue_download(upload)
    return {"FileUploadURL": f"{session.info[SERVICE_URL]}/files/{token}"}


# ---- end of uploaded files -------------------------------------------------------------------


Operation = Callable[[Session, int, dict[str, Any]], dict[str, Any]]

OPERATIONS: dict[str, Operation] = {
    "ApproveAssignment": approve_assignment,
    # Qualifications (mturk/service/qualifications.py).
    "AcceptQualificationRequest": qualifications.accept_qualification_request,
    "AssociateQualificationWithWorker": qualifications.associate_qualification_with_worker,
    "CreateQualificationType": qualifications.create_qualification_type,
    "DeleteQualificationType": qualifications.delete_qualification_type,
    "DisassociateQualificationFromWorker": qualifications.disassociate_qualification_from_worker,
    "GetQualificationScore": qualifications.get_qualification_score,
    "GetQualificationType": qualifications.get_qualification_type,
    "ListHITsForQualificationType": list_hits_for_qualification_type,
    "ListQualificationRequests": list_qualification_requests,
    "ListQualificationTypes": qualifications.list_qualification_types,
    "ListWorkersWithQualificationType": qualifications.list_workers_with_qualification_type,
    "RejectQualificationRequest": qualifications.reject_qualification_request,
    "UpdateQualificationType": qualifications.update_qualification_type,
    # Requester operations (above).
    "CreateAdditionalAssignmentsForHIT": create_additional_assignments_for_hit,
    "CreateHIT": create_hit,
    "CreateHITType": create_hit_type,
    "CreateHITWithHITType": create_hit_with_hit_type,
    "CreateWorkerBlock": create_worker_block,
    "DeleteHIT": delete_hit,
    "DeleteWorkerBlock": delete_worker_block,
    "GetAccountBalance": get_account_balance,
    "GetAssignment": get_assignment,
    "GetHIT": get_hit,
    "ListAssignmentsForHIT": list_assignments_for_hit,
    "ListBonusPayments": list_bonus_payments,
    "ListHITs": list_hits,
    "ListReviewableHITs": list_reviewable_hits,
    "ListWorkerBlocks": list_worker_blocks,
    "NotifyWorkers": notify_workers,
    "RejectAssignment": reject_assignment,
    "SendBonus": send_bonus,
    "UpdateExpirationForHIT": update_expiration_for_hit,
    "UpdateHITReviewStatus": update_hit_review_status,
    "UpdateNotificationSettings": update_notification_settings,
    "SendTestEventNotification": send_test_event_notification,  # notifications
    # Review policies' results and a HIT's HIT type (above; the policies are in review.py).
    "ListReviewPolicyResultsForHIT": list_review_policy_results_for_hit,
    "UpdateHITTypeOfHIT": update_hit_type_of_hit,
    "GetFileUploadURL": get_file_upload_url,  # uploaded files (above; ``uploads``)
}
