"""MTurk's review policies: the quality control it runs itself, as work arrives.

A requester gives them at CreateHIT, and requesters that used them on MTurk keep them here:

- ``ScoreMyKnownAnswers/2011-09-01`` (AssignmentReviewPolicy) scores each submitted assignment
  against an answer key, then approves, rejects, or extends the HIT by one assignment, by the
  policy's thresholds;
- ``SimplePlurality/2011-09-01`` (HITReviewPolicy) compares the answers of a HIT's workers
  when it becomes reviewable: per question the plurality answer, and whether enough workers
  agreed on it; per worker the share of agreed answers it gave; then approves or rejects by
  that share, or extends the HIT when too few questions were agreed.

They run in the transaction of the change that triggers them (``events``), and write what
they computed (``ReviewResult``) and what they did (``ReviewAction``) for
``ListReviewPolicyResultsForHIT``. A policy that cannot run becomes a Failed action, never a
failure of the worker's submit; an action that cannot be taken (an assignment already
rejected, a balance too low to pay) is a Failed action with MTurk's error code.

Answers are compared as MTurk documents: values stripped of surrounding whitespace, otherwise
exact (case, punctuation); a question answered with several values (a checkbox group) matches
only the same set of values.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mturk.answers import parse_answer
from mturk.service import events
from mturk.service.errors import TurkError
from mturk.service.lifecycle import DONE_STATUSES, approve, move, refresh_status
from mturk.service.store import HIT, Assignment, ReviewAction, ReviewResult, new_id
from mturk.service.store import now as clock

logger = logging.getLogger(__name__)

KNOWN_ANSWERS = "ScoreMyKnownAnswers/2011-09-01"
PLURALITY = "SimplePlurality/2011-09-01"
ASSIGNMENT_LEVEL = "Assignment"
HIT_LEVEL = "HIT"
LEVELS = (ASSIGNMENT_LEVEL, HIT_LEVEL)
INVALID = "AWS.MechanicalTurk.InvalidParameterValue"
MISSING = "AWS.MissingParameters"
# "Answers that are longer than 256 characters are not used" by HIT-level policies.
MAX_COMPARED_ANSWER = 256
MAX_QUESTION_IDS = 15
MAX_REASON = 1024  # RequesterFeedback's limit
YEAR = 31_536_000


# ---- the policies, as given at CreateHIT ---------------------------------------------------


@dataclass(frozen=True)
class KnownAnswers:
    """ScoreMyKnownAnswers/2011-09-01's parameters (MTurk's names, in snake case)."""

    answer_key: dict[str, frozenset[str]]
    approve_at_least: int | None
    approve_reason: str | None
    reject_below: int | None
    reject_reason: str | None
    extend_below: int | None
    extend_maximum: int
    extend_seconds: int


@dataclass(frozen=True)
class Plurality:
    """SimplePlurality/2011-09-01's parameters (MTurk's names, in snake case)."""

    question_ids: tuple[str, ...]
    agreement_threshold: int
    disregard_rejected: bool
    disregard_known_below: int | None
    extend_below: int | None
    extend_maximum: int | None
    extend_seconds: int | None
    approve_at_least: int | None
    reject_below: int | None
    reject_reason: str | None


def check_policies(
    params: dict[str, Any],
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """CreateHIT's AssignmentReviewPolicy and HITReviewPolicy, refused as MTurk refuses them
    (an unknown policy, parameter or value); returned as given, to store on the HIT."""
    assignment_policy = params.get("AssignmentReviewPolicy")
    hit_policy = params.get("HITReviewPolicy")
    if assignment_policy is not None:
        known_answers(assignment_policy)
    if hit_policy is not None:
        plurality(hit_policy)
    return assignment_policy, hit_policy


class _Parameters:
    """A policy's Parameters by Key, each read once as the type the policy documents."""

    def __init__(self, policy: dict[str, Any], slot: str, expected: str, allowed: set[str]) -> None:
        name = policy.get("PolicyName")
        if name != expected:
            raise TurkError(
                f'The value "{name}" is not valid for the parameter {slot}.PolicyName. '
                f"Valid value: {expected}.",
                INVALID,
            )
        self.name = expected
        self.by_key: dict[str, dict[str, Any]] = {}
        for parameter in policy.get("Parameters") or []:
            key = parameter.get("Key")
            key = "QuestionIds" if key == "QuestionIDs" else key  # AWS's docs spell it both ways
            if key not in allowed:
                raise TurkError(
                    f'The value "{key}" is not valid for the parameter {slot}.Parameters.Key. '
                    f"{expected} takes: {', '.join(sorted(allowed))}.",
                    INVALID,
                )
            if key in self.by_key:
                raise TurkError(f"The parameter {key} of {expected} is given twice.", INVALID)
            self.by_key[key] = parameter

    def _values(self, key: str) -> list[str] | None:
        parameter = self.by_key.get(key)
        if parameter is None:
            return None
        if parameter.get("MapEntries"):
            raise TurkError(
                f"The parameter {key} of {self.name} takes Values, not MapEntries.", INVALID
            )
        return list(parameter.get("Values") or [])

    def _one(self, key: str) -> str | None:
        values = self._values(key)
        if values is None:
            return None
        if len(values) != 1:
            raise TurkError(f"The parameter {key} of {self.name} takes exactly one value.", INVALID)
        return values[0]

    def integer(self, key: str, low: int, high: int) -> int | None:
        value = self._one(key)
        if value is None:
            return None
        try:
            number = int(value.strip())
        except ValueError:
            number = low - 1
        if not low <= number <= high:
            raise TurkError(
                f'The value "{value}" is not valid for the parameter {key} of {self.name}: '
                f"give a whole number from {low} to {high}.",
                INVALID,
            )
        return number

    def text(self, key: str) -> str | None:
        value = self._one(key)
        if value is not None and len(value) > MAX_REASON:
            raise TurkError(
                f"The parameter {key} of {self.name} is longer than {MAX_REASON} characters.",
                INVALID,
            )
        return value

    def flag(self, key: str) -> bool | None:
        value = self._one(key)
        if value is None:
            return None
        if value.strip().lower() not in {"t", "f", "true", "false"}:
            raise TurkError(
                f'The value "{value}" is not valid for the parameter {key} of {self.name}: '
                "give T or F.",
                INVALID,
            )
        return value.strip().lower() in {"t", "true"}

    def strings(self, key: str) -> list[str] | None:
        return self._values(key)

    def answer_key(self, key: str) -> dict[str, frozenset[str]] | None:
        parameter = self.by_key.get(key)
        if parameter is None:
            return None
        entries = parameter.get("MapEntries") or []
        if parameter.get("Values") or not entries:
            raise TurkError(
                f"The parameter {key} of {self.name} takes MapEntries: a Key (a QuestionId) "
                "and the Values that answer it, for each known answer.",
                INVALID,
            )
        answers: dict[str, frozenset[str]] = {}
        for entry in entries:
            question_id = (entry.get("Key") or "").strip()
            if not question_id or question_id in answers:
                raise TurkError(
                    f"Each MapEntry of {key} needs a Key (a QuestionId) of its own.", INVALID
                )
            answers[question_id] = _value_set(entry.get("Values") or [])
        return answers

    def require(self, key: str, value: Any, why: str = "") -> Any:
        if value is None:
            raise TurkError(
                "Your request is missing required parameters. Required parameters include "
                f"{key} (of {self.name}{why}).",
                MISSING,
            )
        return value


def known_answers(policy: dict[str, Any]) -> KnownAnswers:
    """ScoreMyKnownAnswers/2011-09-01, read and checked (its documented ranges)."""
    allowed = {
        "AnswerKey",
        "ApproveIfKnownAnswerScoreIsAtLeast",
        "ApproveReason",
        "RejectIfKnownAnswerScoreIsLessThan",
        "RejectReason",
        "ExtendIfKnownAnswerScoreIsLessThan",
        "ExtendMaximumAssignments",
        "ExtendMinimumTimeInSeconds",
    }
    read = _Parameters(policy, "AssignmentReviewPolicy", KNOWN_ANSWERS, allowed)
    extend_seconds = read.integer("ExtendMinimumTimeInSeconds", 3600, YEAR)
    extend_maximum = read.integer("ExtendMaximumAssignments", 2, 25)
    return KnownAnswers(
        answer_key=read.require("AnswerKey", read.answer_key("AnswerKey")),
        approve_at_least=read.integer("ApproveIfKnownAnswerScoreIsAtLeast", 0, 101),
        approve_reason=read.text("ApproveReason"),
        reject_below=read.integer("RejectIfKnownAnswerScoreIsLessThan", 0, 101),
        reject_reason=read.text("RejectReason"),
        extend_below=read.integer("ExtendIfKnownAnswerScoreIsLessThan", 0, 101),
        extend_maximum=5 if extend_maximum is None else extend_maximum,
        extend_seconds=extend_seconds or 0,
    )


def plurality(policy: dict[str, Any]) -> Plurality:
    """SimplePlurality/2011-09-01, read and checked (its documented ranges)."""
    allowed = {
        "QuestionIds",
        "QuestionAgreementThreshold",
        "DisregardAssignmentIfRejected",
        "DisregardAssignmentIfKnownAnswerScoreIsLessThan",
        "ExtendIfHITAgreementScoreIsLessThan",
        "ExtendMaximumAssignments",
        "ExtendMinimumTimeInSeconds",
        "ApproveIfWorkerAgreementScoreIsAtLeast",
        "RejectIfWorkerAgreementScoreIsLessThan",
        "RejectReason",
    }
    read = _Parameters(policy, "HITReviewPolicy", PLURALITY, allowed)
    given = read.require("QuestionIds", read.strings("QuestionIds"))
    # "A comma-separated list of questionIds": each value may hold several.
    question_ids = tuple(
        dict.fromkeys(part.strip() for value in given for part in value.split(",") if part.strip())
    )
    if not 1 <= len(question_ids) <= MAX_QUESTION_IDS:
        raise TurkError(
            f"QuestionIds of {PLURALITY} takes 1 to {MAX_QUESTION_IDS} question ids.", INVALID
        )
    extend_below = read.integer("ExtendIfHITAgreementScoreIsLessThan", 1, 100)
    extend_maximum = read.integer("ExtendMaximumAssignments", 1, 1_000_000)
    extend_seconds = read.integer("ExtendMinimumTimeInSeconds", 60, YEAR)
    if extend_below is not None:
        why = ", with ExtendIfHITAgreementScoreIsLessThan"
        read.require("ExtendMaximumAssignments", extend_maximum, why)
        read.require("ExtendMinimumTimeInSeconds", extend_seconds, why)
    return Plurality(
        question_ids=question_ids,
        agreement_threshold=read.require(
            "QuestionAgreementThreshold", read.integer("QuestionAgreementThreshold", 0, 100)
        ),
        disregard_rejected=bool(read.flag("DisregardAssignmentIfRejected")),
        disregard_known_below=read.integer(
            "DisregardAssignmentIfKnownAnswerScoreIsLessThan", 0, 101
        ),
        extend_below=extend_below,
        extend_maximum=extend_maximum,
        extend_seconds=extend_seconds,
        approve_at_least=read.integer("ApproveIfWorkerAgreementScoreIsAtLeast", 0, 101),
        reject_below=read.integer("RejectIfWorkerAgreementScoreIsLessThan", 0, 101),
        reject_reason=read.text("RejectReason"),
    )


# ---- running them --------------------------------------------------------------------------


def on_event(session: Session, event: events.Event) -> None:
    """The events handler: the assignment-level policy when work is submitted, the HIT-level
    one each time the HIT becomes reviewable (again, after an extension)."""
    hit = event.hit
    if event.type == events.ASSIGNMENT_SUBMITTED and event.assignment_id is not None:
        if hit.assignment_review_policy is not None:
            assignment_id = event.assignment_id
            _guarded(
                session,
                hit,
                ASSIGNMENT_LEVEL,
                KNOWN_ANSWERS,
                (assignment_id, "Assignment"),
                lambda: review_assignment(session, hit, assignment_id, event.at),
            )
    elif event.type == events.HIT_REVIEWABLE and hit.hit_review_policy is not None:
        _guarded(
            session,
            hit,
            HIT_LEVEL,
            PLURALITY,
            (hit.id, "HIT"),
            lambda: review_hit(session, hit, event.at),
        )


def _guarded(
    session: Session,
    hit: HIT,
    level: str,
    policy_name: str,
    target: tuple[str, str],
    run: Callable[[], None],
) -> None:
    """Run a policy in a savepoint: if it fails, what it did is undone and a Failed action
    says so, and the change that triggered it (a worker's submit) goes on."""
    try:
        with session.begin_nested():
            run()
    except Exception as error:  # any failure of a policy must stay the policy's
        logger.exception("Review policy %s failed on HIT %s", policy_name, hit.id)
        session.expire_all()  # objects refreshed inside the savepoint may hold undone state
        session.add(
            ReviewAction(
                hit_id=hit.id,
                level=level,
                policy_name=policy_name,
                action_name="Review",
                target_id=target[0],
                target_type=target[1],
                status="Failed",
                complete_time=clock(),
                result=f"The review policy could not be run: {error}"[:1000],
                error_code=error.code if isinstance(error, TurkError) else "ServiceFault",
            )
        )


@dataclass
class _Run:
    """One evaluation of a policy on a HIT: its results share an ActionId."""

    session: Session
    hit: HIT
    level: str
    policy_name: str
    at: float
    id: str

    def result(
        self, subject: tuple[str, str], key: str, value: str, question_id: str | None = None
    ) -> None:
        self.session.add(
            ReviewResult(
                hit_id=self.hit.id,
                level=self.level,
                policy_name=self.policy_name,
                action_id=self.id,
                subject_id=subject[0],
                subject_type=subject[1],
                question_id=question_id,
                key=key,
                value=value,
                created_at=self.at,
            )
        )

    def act(self, name: str, target: tuple[str, str], action: Callable[[], str]) -> None:
        """Take one action in a savepoint; MTurk's refusal of it is its Failed outcome."""
        try:
            with self.session.begin_nested():
                outcome, status, code = action(), "Succeeded", None
        except TurkError as error:
            outcome, status, code = str(error), "Failed", error.code
            self.session.expire_all()  # e.g. an approval undone for want of funds
        self.session.add(
            ReviewAction(
                hit_id=self.hit.id,
                level=self.level,
                policy_name=self.policy_name,
                action_name=name,
                target_id=target[0],
                target_type=target[1],
                status=status,
                complete_time=self.at,
                result=outcome,
                error_code=code,
            )
        )


def review_assignment(session: Session, hit: HIT, assignment_id: str, at: float) -> None:
    """ScoreMyKnownAnswers on one submitted assignment: KnownAnswerCorrect per known answer,
    KnownAnswerScore (the percentage correct, rounded down), then the actions it earns."""
    policy = known_answers(hit.assignment_review_policy or {})
    assignment = session.scalars(select(Assignment).where(Assignment.id == assignment_id)).one()
    answers = answer_values(assignment.answer)
    run = _Run(session, hit, ASSIGNMENT_LEVEL, KNOWN_ANSWERS, at, new_id())
    subject = (assignment.id, "Assignment")
    correct = 0
    for question_id, key in policy.answer_key.items():
        right = _is_correct(answers.get(question_id, []), key)
        correct += right
        run.result(subject, "KnownAnswerCorrect", "1" if right else "0", question_id)
    score = 100 * correct // len(policy.answer_key)
    run.result(subject, "KnownAnswerScore", str(score))
    if policy.approve_at_least is not None and score >= policy.approve_at_least:
        reason = policy.approve_reason
        run.act("Approve", subject, lambda: _approve(session, assignment, reason, at))
    elif policy.reject_below is not None and score < policy.reject_below:
        reason = policy.reject_reason
        run.act("Reject", subject, lambda: _reject(session, hit, assignment, reason, at))
    if policy.extend_below is not None and score < policy.extend_below:
        # No refresh here: the submit that runs this policy refreshes the HIT's status next,
        # so that HITReviewable, if it comes, follows AssignmentSubmitted.
        maximum, seconds = policy.extend_maximum, policy.extend_seconds
        run.act(
            "Extend",
            (hit.id, "HIT"),
            lambda: _extend(session, hit, maximum, seconds, at, refresh=False),
        )


def review_hit(session: Session, hit: HIT, at: float) -> None:
    """SimplePlurality on a reviewable HIT. Per question: the plurality answer, and whether
    it is agreed (its share of the counted assignments, rounded down, at least the
    threshold); the HIT's agreement score (the share of questions agreed); per counted
    assignment its worker's agreement score (the share of agreed questions it answered with
    the agreed answer); then the actions they earn."""
    policy = plurality(hit.hit_review_policy or {})
    assignments = session.scalars(
        select(Assignment)
        .where(Assignment.hit_id == hit.id, Assignment.status.in_(DONE_STATUSES))
        .order_by(Assignment.seq)
    ).all()
    scores = _known_answer_scores(session, hit) if policy.disregard_known_below is not None else {}
    counted = [a for a in assignments if not _disregarded(a, policy, scores)]
    votes = {a.id: answer_values(a.answer) for a in counted}
    run = _Run(session, hit, HIT_LEVEL, PLURALITY, at, new_id())
    agreed: dict[str, tuple[str, ...]] = {}
    for question_id in policy.question_ids:
        tally = Counter(
            vote
            for assignment in counted
            if (vote := _vote(votes[assignment.id].get(question_id, []))) is not None
        )
        ranked = tally.most_common(2)
        unique = bool(ranked) and (len(ranked) == 1 or ranked[0][1] > ranked[1][1])
        subject, share = (hit.id, "HIT"), 0
        if unique:
            answer, count = ranked[0]
            share = 100 * count // len(counted)
            run.result(subject, "PluralityAnswer", "|".join(answer), question_id)
        found = unique and share >= policy.agreement_threshold
        run.result(subject, "AgreedAnswerFound", "true" if found else "false", question_id)
        if found:
            agreed[question_id] = ranked[0][0]
            run.result(subject, "AgreedAnswer", "|".join(ranked[0][0]), question_id)
            run.result(subject, "AnswerAgreementScore", str(share), question_id)
    hit_score = 100 * len(agreed) // len(policy.question_ids)
    run.result((hit.id, "HIT"), "HitAgreementScore", str(hit_score))
    for assignment in counted if agreed else []:
        subject = (assignment.id, "Assignment")
        matched = 0
        for question_id, answer in agreed.items():
            same = _vote(votes[assignment.id].get(question_id, [])) == answer
            matched += same
            run.result(subject, "AgreedWithPlurality", "1" if same else "0", question_id)
        score = 100 * matched // len(agreed)
        run.result(subject, "WorkerAgreementScore", str(score))
        run.result(subject, "PluralityAnswersCorrect", str(matched))
        run.result(subject, "PluralityAnswersIncorrect", str(len(agreed) - matched))
        _judge_worker(session, run, hit, assignment, policy, score, at)
    if policy.extend_below is not None and hit_score < policy.extend_below:
        maximum, seconds = policy.extend_maximum or 0, policy.extend_seconds or 0
        run.act(
            "Extend",
            (hit.id, "HIT"),
            lambda: _extend(session, hit, maximum, seconds, at, refresh=True),
        )


def _judge_worker(
    session: Session,
    run: _Run,
    hit: HIT,
    assignment: Assignment,
    policy: Plurality,
    score: int,
    at: float,
) -> None:
    subject = (assignment.id, "Assignment")
    if policy.approve_at_least is not None and score >= policy.approve_at_least:
        run.act("Approve", subject, lambda: _approve(session, assignment, None, at))
    elif policy.reject_below is not None and score < policy.reject_below:
        reason = policy.reject_reason
        run.act("Reject", subject, lambda: _reject(session, hit, assignment, reason, at))


def _known_answer_scores(session: Session, hit: HIT) -> dict[str, int]:
    """The assignment-level policy's latest KnownAnswerScore of each of the HIT's
    assignments, in one query."""
    rows = session.execute(
        select(ReviewResult.subject_id, ReviewResult.value)
        .where(ReviewResult.hit_id == hit.id, ReviewResult.key == "KnownAnswerScore")
        .order_by(ReviewResult.seq)
    )
    return {subject_id: int(value) for subject_id, value in rows}  # the latest wins


def _disregarded(assignment: Assignment, policy: Plurality, scores: dict[str, int]) -> bool:
    """Left out of the agreement: rejected (if the policy says so), or below the policy's
    KnownAnswerScore (the assignment-level policy's latest score of it, if any)."""
    if policy.disregard_rejected and assignment.status == "Rejected":
        return True
    if policy.disregard_known_below is None:
        return False
    score = scores.get(assignment.id)
    return score is not None and score < policy.disregard_known_below


# ---- the actions -------------------------------------------------------------------------


def _approve(session: Session, assignment: Assignment, feedback: str | None, at: float) -> str:
    """Approve and pay, once; an approved assignment stays so (Succeeded, as on MTurk)."""
    if assignment.status == "Approved":
        return "Already approved"
    approve(session, assignment, feedback, at)
    return "Approved"


def _reject(
    session: Session, hit: HIT, assignment: Assignment, feedback: str | None, at: float
) -> str:
    if assignment.status == "Rejected":
        return "Already rejected"
    move(
        session,
        assignment,
        {"Submitted"},
        status="Rejected",
        rejection_time=at,
        requester_feedback=feedback,
    )
    events.emit(session, events.ASSIGNMENT_REJECTED, hit, assignment.id, at)
    return "Rejected"


def _extend(
    session: Session, hit: HIT, maximum: int, seconds: int, at: float, refresh: bool
) -> str:
    """One more assignment, up to the policy's maximum, and (``seconds``) at least that long
    to do it. Reaching a limit is not a failure: the policy did what its limits allow."""
    if hit.status == "Disposed":
        raise TurkError("The HIT has been deleted.", "AWS.MechanicalTurk.InvalidHITState")
    if hit.max_assignments >= maximum:
        return f"Not extended: the HIT has {hit.max_assignments} assignments, the policy's maximum."
    if hit.max_assignments < 10 <= hit.max_assignments + 1:
        return "Not extended: a HIT created with fewer than 10 assignments cannot reach 10."
    hit.max_assignments += 1
    if seconds:
        hit.expiration = max(hit.expiration, at + seconds)
    if refresh:
        refresh_status(session, hit, at)
    events.emit(session, events.HIT_EXTENDED, hit, at=at)
    return f"Extended to {hit.max_assignments} assignments"


# ---- answers -----------------------------------------------------------------------------


def answer_values(xml: str | None) -> dict[str, list[str]]:
    """Each question's answer as strings: FreeText and SelectionIdentifier values as given; a
    crowd-form's typed fields as text (true/false, numbers), a group of checkboxes or radio
    buttons (``{"cat": true, "dog": false}``) as the names of those checked."""
    if not xml:
        return {}
    return {name: _strings(value) for name, value in parse_answer(xml).data.items()}


def _strings(value: Any) -> list[str]:
    if isinstance(value, list):
        return [text for item in value for text in _strings(item)]
    if isinstance(value, dict):
        checked = [str(name) for name, on in value.items() if on is True]
        if checked or all(isinstance(on, bool) for on in value.values()):
            return checked
        return [text for item in value.values() for text in _strings(item)]
    if isinstance(value, bool):
        return ["true" if value else "false"]
    if value is None:
        return []
    return [str(value)]


def _value_set(values: list[str]) -> frozenset[str]:
    return frozenset(value.strip() for value in values) - {""}


def _is_correct(given: list[str], key: frozenset[str]) -> bool:
    """The worker's values are exactly the key's. A plain form's checkbox group arrives as one
    FreeText of ``|``-joined values (as MTurk records it), which is compared as that set too."""
    if _value_set(given) == key:
        return True
    return len(given) == 1 and "|" in given[0] and _value_set(given[0].split("|")) == key


def _vote(given: list[str]) -> tuple[str, ...] | None:
    """An answer as SimplePlurality compares it; None when there is none to count (empty, or
    a value longer than MTurk compares)."""
    values = _value_set(given)
    if not values or any(len(value) > MAX_COMPARED_ANSWER for value in values):
        return None
    return tuple(sorted(values))


# ---- ListReviewPolicyResultsForHIT's shapes -------------------------------------------------


def policy_names(hit: HIT, levels: list[str]) -> dict[str, Any]:
    """The HIT's policies of these levels, by name only, as MTurk lists them."""
    body: dict[str, Any] = {}
    if ASSIGNMENT_LEVEL in levels and hit.assignment_review_policy is not None:
        body["AssignmentReviewPolicy"] = {"PolicyName": KNOWN_ANSWERS}
    if HIT_LEVEL in levels and hit.hit_review_policy is not None:
        body["HITReviewPolicy"] = {"PolicyName": PLURALITY}
    return body


def result_dict(result: ReviewResult) -> dict[str, Any]:
    body = {
        "ActionId": result.action_id,
        "SubjectId": result.subject_id,
        "SubjectType": result.subject_type,
        "QuestionId": result.question_id,
        "Key": result.key,
        "Value": result.value,
    }
    return {key: value for key, value in body.items() if value is not None}


def action_dict(action: ReviewAction) -> dict[str, Any]:
    body = {
        "ActionId": action.id,
        "ActionName": action.action_name,
        "TargetId": action.target_id,
        "TargetType": action.target_type,
        "Status": action.status,
        "CompleteTime": action.complete_time,
        "Result": action.result,
        "ErrorCode": action.error_code,
    }
    return {key: value for key, value in body.items() if value is not None}
