"""Gold items: answers known in advance, scored as workers' answers arrive, and the policy
that excludes a worker from a hitblock whose gold they keep getting wrong.

Gold stays in our database: the HIT of a gold item is built like any other, so a worker
cannot tell it apart. A worker's exclusion is decided and committed here (with its event,
and the worker's submitted responses in the hitblock flagged for review); the MTurk side
(granting the hitblock's exclusion qualification) is sent after commit by
``send_exclusions``, which the poll cycle also runs, so a crash in between loses nothing;
an exclusion MTurk refused (not merely failed to answer) is marked ``failed`` and left.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import case, func, select, update

from app.domain import ExclusionStatus, InvalidInput
from app.models import Hitblock, Item, Response, WorkerExclusion, utcnow
from app.services import DbSession, events, insert_for, transaction
from mturk.gateway import MTurkError, MTurkGateway, MTurkRejected

FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")  # fullmatch
MAX_GOLD_FIELDS = 20
MAX_GOLD_VALUE = 1000
EXCLUDED_REASON = (
    "Excluded from this hitblock by its gold policy: {correct} of {answers} gold answers "
    "right ({accuracy:.0%}, below {minimum:.0%})."
)
FLAG_REASON = "The worker failed this hitblock's gold policy; review before approving."


# ---- validation ----------------------------------------------------------------------


def check_gold(gold: Any) -> dict[str, Any] | None:
    """``{field: expected value}``: answer fields cannot all be known in advance (a template
    may add them in script), so only sane limits are checked."""
    if gold is None:
        return None
    if not isinstance(gold, dict) or not gold:
        raise InvalidInput(
            "gold must be an object of answer fields to expected values.", param="gold"
        )
    if len(gold) > MAX_GOLD_FIELDS:
        raise InvalidInput(f"gold may name at most {MAX_GOLD_FIELDS} fields.", param="gold")
    for name, value in gold.items():
        param = f"gold[{name}]"
        if not isinstance(name, str) or not FIELD_NAME.fullmatch(name):
            raise InvalidInput(
                f"{name!r} is not a field name (letters, digits and _, up to 64 long).",
                param=param,
            )
        if not isinstance(value, str | int | float | bool):
            raise InvalidInput(f"{param} must be a string, a number or a boolean.", param=param)
        if isinstance(value, str) and not value.strip():
            raise InvalidInput(f"{param} must not be blank.", param=param)
        if isinstance(value, str) and len(value) > MAX_GOLD_VALUE:
            raise InvalidInput(f"{param} is longer than {MAX_GOLD_VALUE} characters.", param=param)
    return dict(gold)


@dataclass(frozen=True)
class GoldPolicy:
    min_accuracy: float
    min_answers: int

    @classmethod
    def of(cls, hitblock: Hitblock) -> GoldPolicy | None:
        policy = hitblock.gold_policy
        if not policy:
            return None
        return cls(float(policy["min_accuracy"]), int(policy["min_answers"]))

    def fails(self, answers: int, correct: int) -> bool:
        return answers >= self.min_answers and correct / answers < self.min_accuracy


# ---- scoring ---------------------------------------------------------------------------


def normalise(value: Any) -> Any:
    """How answers compare: strings stripped and casefolded, booleans as the words
    true/false, a list of one value as that value, anything else as canonical JSON."""
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value.strip().casefold()
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, sort_keys=True)


def _number(value: Any) -> Decimal | None:
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def matches(expected: Any, given: Any) -> bool:
    """A numeric gold value compares by value (a form's "12.00" is 12); the rest by
    ``normalise``."""
    if isinstance(expected, int | float) and not isinstance(expected, bool):
        number = _number(given)
        return number is not None and number == _number(expected)
    return bool(normalise(given) == normalise(expected))


def score(gold: dict[str, Any], answer: dict[str, Any]) -> bool:
    """True when every gold field was answered with its expected value."""
    return all(name in answer and matches(value, answer[name]) for name, value in gold.items())


# ---- the policy ------------------------------------------------------------------------


def excluded_workers(session: DbSession, hitblock_id: int, worker_ids: set[str]) -> set[str]:
    if not worker_ids:
        return set()
    return set(
        session.scalars(
            select(WorkerExclusion.worker_id).where(
                WorkerExclusion.hitblock_id == hitblock_id,
                WorkerExclusion.worker_id.in_(worker_ids),
            )
        )
    )


def gold_record(
    session: DbSession, hitblock_id: int, worker_ids: set[str] | None = None
) -> dict[str, tuple[int, int]]:
    """Each worker's gold answers in the hitblock: worker -> (answers, correct), in one
    statement."""
    stmt = (
        select(
            Response.worker_id,
            func.count(Response.id),
            func.sum(case((Response.gold_correct.is_(True), 1), else_=0)),
        )
        .join(Item, Item.id == Response.item_id)
        .where(Item.hitblock_id == hitblock_id, Response.gold_correct.is_not(None))
        .group_by(Response.worker_id)
    )
    if worker_ids is not None:
        stmt = stmt.where(Response.worker_id.in_(worker_ids))
    return {
        worker: (answers, int(correct or 0)) for worker, answers, correct in session.execute(stmt)
    }


def apply_policy(
    session: DbSession, hitblock: Hitblock, worker_ids: set[str] | None = None
) -> list[str]:
    """Exclude the workers (these, or all of the hitblock's) who fail its gold policy, in the
    caller's transaction: the exclusion row, their submitted responses flagged, an event.
    Answers the workers newly excluded."""
    policy = GoldPolicy.of(hitblock)
    if policy is None:
        return []
    record = gold_record(session, hitblock.id, worker_ids)
    failing = {w: r for w, r in record.items() if policy.fails(*r)}
    if not failing:
        return []
    already = excluded_workers(session, hitblock.id, set(failing))
    newly: list[str] = []
    for worker_id, (answers, correct) in sorted(failing.items()):
        if worker_id in already:
            continue
        reason = EXCLUDED_REASON.format(
            correct=correct,
            answers=answers,
            accuracy=correct / answers,
            minimum=policy.min_accuracy,
        )
        inserted = session.execute(
            insert_for(session, WorkerExclusion)
            .values(
                hitblock_id=hitblock.id,
                worker_id=worker_id,
                reason=reason,
                status=ExclusionStatus.PENDING,
                created=utcnow(),
            )
            .on_conflict_do_nothing(index_elements=["hitblock_id", "worker_id"])
            .returning(WorkerExclusion.id)
        ).scalar()
        if inserted is None:
            continue  # a concurrent poller excluded them first
        newly.append(worker_id)
        flagged = session.execute(
            update(Response)
            .where(
                Response.worker_id == worker_id,
                Response.status == "submitted",
                Response.item_id.in_(select(Item.id).where(Item.hitblock_id == hitblock.id)),
            )
            .values(flagged=True, flag_reason=FLAG_REASON)
            .execution_options(synchronize_session=False)
        ).rowcount  # type: ignore[attr-defined]
        events.emit(
            session,
            hitblock.account_id,
            "worker.excluded",
            {
                "object": "worker_exclusion",
                "hitblock": hitblock.id,
                "worker_id": worker_id,
                "gold_answers": answers,
                "gold_correct": correct,
                "gold_accuracy": round(correct / answers, 4),
                "responses_flagged": flagged,
                "reason": reason,
            },
        )
    return newly


def send_exclusions(session: DbSession, gateway: MTurkGateway, limit: int = 100) -> list[str]:
    """Grant the exclusion qualification for exclusions not yet confirmed by MTurk (those of
    hitblocks that have their qualification type), the least recently tried first; each is
    marked active once MTurk took it. While MTurk is down it stays pending for the next
    cycle; what MTurk refused becomes ``failed`` with its error. Answers one line per
    failure."""
    with transaction(session):  # committed before any MTurk call: none is held open across
        rows = session.execute(
            select(
                WorkerExclusion.id,
                WorkerExclusion.worker_id,
                Hitblock.exclusion_qualification_type_id,
            )
            .join(Hitblock, Hitblock.id == WorkerExclusion.hitblock_id)
            .where(
                WorkerExclusion.status == ExclusionStatus.PENDING,
                Hitblock.exclusion_qualification_type_id.is_not(None),
            )
            .order_by(WorkerExclusion.last_attempt.asc().nulls_first(), WorkerExclusion.id)
            .limit(limit)
        ).all()
        if rows:
            session.execute(
                update(WorkerExclusion)
                .where(WorkerExclusion.id.in_([row.id for row in rows]))
                .values(last_attempt=utcnow())
            )
    errors: list[str] = []
    for exclusion_id, worker_id, qualification_type_id in rows:
        assert qualification_type_id is not None  # selected so
        try:
            gateway.grant_qualification(qualification_type_id, worker_id, 1)
        except MTurkError as error:
            errors.append(f"exclusion of {worker_id}: {error.message}")
            values: dict[str, Any] = {}
            if isinstance(error, MTurkRejected):
                values = {
                    "status": ExclusionStatus.FAILED,
                    "error_code": error.code,
                    "error_message": error.message,
                }
        else:
            values = {"status": ExclusionStatus.ACTIVE, "applied": utcnow()}
        if values:
            with transaction(session):
                session.execute(
                    update(WorkerExclusion)
                    .where(
                        WorkerExclusion.id == exclusion_id,
                        WorkerExclusion.status == ExclusionStatus.PENDING,
                    )
                    .values(**values)
                )
    return errors


def exclusion_qualification_name(hitblock: Hitblock) -> str:
    """Unique per requester (MTurk requires it) and stable for the hitblock, so a retried
    create finds the type an earlier attempt made; the creation time keeps two databases on
    one requester (a reset development database) apart."""
    return f"Hitblocks: excluded from hitblock {hitblock.id} ({hitblock.created:%Y%m%dT%H%M%S.%fZ})"
