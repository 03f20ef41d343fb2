"""A fake MTurk gateway for fast service tests: no HTTP, answers scripted per call."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from mturk.gateway import (
    INVALID_ASSIGNMENT_STATE,
    AssignmentInfo,
    CreatedHit,
    HitInfo,
    HitTypeSpec,
    MTurkError,
    MTurkRejected,
    MTurkUnavailable,
)


class FakeGateway:
    """Creates HITs in memory; ``fail_creates`` makes CreateHIT raise that error instead, and
    ``during_create`` runs while a create is under way (before MTurk has the HIT)."""

    def __init__(self, balance: Decimal = Decimal("1000.00")) -> None:
        self.balance = balance
        self.hits: dict[str, dict[str, Any]] = {}  # HIT id -> what it was created with
        self.fail_creates: MTurkError | None = None
        self.calls: list[str] = []
        self.expired: set[str] = set()
        self.extended: dict[str, datetime] = {}  # HIT id -> the expiration it was extended to
        self.during_create: Callable[[], None] | None = None
        self._ids = (f"HIT{n:017d}" for n in itertools.count(1))
        # Qualification types by name; (type, worker) granted; blocked workers -> reason.
        self.qualification_types: dict[str, str] = {}
        self.granted: set[tuple[str, str]] = set()
        self.blocked: dict[str, str] = {}
        self.fail_quality: MTurkError | None = None  # raised by the calls above when set
        self.hit_type_specs: list[HitTypeSpec] = []
        # HIT type -> (destination, event types) of UpdateNotificationSettings.
        self.notifications: dict[str, tuple[str, list[str]]] = {}

    def preview_url(self, hit_id: str, group_id: str) -> str:
        return f"https://worker.example/projects/{group_id}/tasks/{hit_id}"

    def available_balance(self) -> Decimal:
        self.calls.append("GetAccountBalance")
        return self.balance

    def create_hit_type(self, spec: HitTypeSpec) -> str:
        self.calls.append("CreateHITType")
        self.hit_type_specs.append(spec)
        return "TYPE0000000000000001"

    def create_hit(self, **params: Any) -> CreatedHit:
        self.calls.append("CreateHITWithHITType")
        if self.fail_creates is not None:
            raise self.fail_creates
        if self.during_create is not None:
            self.during_create()
        hit_id = next(self._ids)
        self.hits[hit_id] = params
        return CreatedHit(hit_id, recovered=False)

    def expire_hit(self, hit_id: str) -> None:
        self.calls.append("UpdateExpirationForHIT")
        self.expired.add(hit_id)

    def extend_hit(self, hit_id: str, expire_at: datetime) -> None:
        self.calls.append("UpdateExpirationForHIT")
        self.expired.discard(hit_id)
        self.extended[hit_id] = expire_at

    def delete_hit(self, hit_id: str) -> bool:
        self.calls.append("DeleteHIT")
        return False

    def assignments(self, hit_id: str, statuses: list[str]) -> list[AssignmentInfo]:
        self.calls.append("ListAssignmentsForHIT")
        return []

    def create_qualification_type(self, name: str, description: str) -> str:
        self.calls.append("CreateQualificationType")
        if self.fail_quality is not None:
            raise self.fail_quality
        return self.qualification_types.setdefault(
            name, f"QUAL{len(self.qualification_types):016d}"
        )

    def grant_qualification(self, qualification_type_id: str, worker_id: str, value: int) -> None:
        self.calls.append("AssociateQualificationWithWorker")
        if self.fail_quality is not None:
            raise self.fail_quality
        self.granted.add((qualification_type_id, worker_id))

    def block_worker(self, worker_id: str, reason: str) -> None:
        self.calls.append("CreateWorkerBlock")
        if self.fail_quality is not None:
            raise self.fail_quality
        self.blocked[worker_id] = reason

    def unblock_worker(self, worker_id: str, reason: str) -> None:
        self.calls.append("DeleteWorkerBlock")
        if self.fail_quality is not None:
            raise self.fail_quality
        self.blocked.pop(worker_id, None)

    def update_notification_settings(
        self, hit_type_id: str, destination: str, events: list[str]
    ) -> None:
        self.calls.append("UpdateNotificationSettings")
        self.notifications[hit_type_id] = (destination, list(events))

    def hits_by_annotation(self, annotations: set[str]) -> dict[str, str]:
        self.calls.append("ListHITs")
        return {
            hit["annotation"]: hit_id
            for hit_id, hit in self.hits.items()
            if hit["annotation"] in annotations
        }


class ReviewGateway(FakeGateway):
    """Assignments whose state MTurk keeps: ``states`` is MTurk's own state of an assignment
    (say, approved automatically already); deciding one that is not Submitted is refused with
    InvalidAssignmentState, as MTurk does. ``fail`` is an error for an assignment's decision,
    ``fail_bonuses`` errors SendBonus raises, one per call, before it pays."""

    def __init__(self) -> None:
        super().__init__()
        self.states: dict[str, str] = {}
        self.feedback: dict[str, str | None] = {}
        self.fail: dict[str, Exception] = {}
        self.decisions: list[tuple[str, str, str | None]] = []
        self.bonuses: list[dict[str, Any]] = []  # each bonus MTurk paid (once per token)
        self.fail_bonuses: list[MTurkError] = []

    def _decide(self, assignment_id: str, state: str, feedback: str | None) -> None:
        self.calls.append("ApproveAssignment" if state == "Approved" else "RejectAssignment")
        if assignment_id in self.fail:
            raise self.fail[assignment_id]
        if self.states.get(assignment_id, "Submitted") != "Submitted":
            raise MTurkRejected("This operation can be called with a status of: Submitted",
                                INVALID_ASSIGNMENT_STATE)  # fmt: skip
        self.states[assignment_id] = state
        self.feedback[assignment_id] = feedback
        self.decisions.append((assignment_id, state, feedback))

    def approve(self, assignment_id: str, feedback: str | None) -> None:
        self._decide(assignment_id, "Approved", feedback)

    def reject(self, assignment_id: str, feedback: str) -> None:
        self._decide(assignment_id, "Rejected", feedback)

    def get_assignment(self, assignment_id: str) -> AssignmentInfo:
        self.calls.append("GetAssignment")
        state = self.states.get(assignment_id, "Submitted")
        return AssignmentInfo(assignment_id, "W", "H", state, "", None, None, None)

    def send_bonus(self, **fields: Any) -> bool:
        """Pays once per UniqueRequestToken, as MTurk does; True when this call paid."""
        self.calls.append("SendBonus")
        if self.fail_bonuses:
            raise self.fail_bonuses.pop(0)
        if any(paid["token"] == fields["token"] for paid in self.bonuses):
            return False
        self.bonuses.append(fields)
        return True


class WorkGateway(FakeGateway):
    """Work MTurk holds: ``work`` maps a HIT id to its assignments, answered by
    ListAssignmentsForHIT and GetAssignment (unknown ids refused as MTurk refuses them);
    ``unavailable`` makes both raise MTurkUnavailable."""

    def __init__(self) -> None:
        super().__init__()
        self.work: dict[str, list[AssignmentInfo]] = {}
        self.unavailable = False
        # HIT id -> its expiration as GetHIT answers it (default: expired a minute ago).
        self.expirations: dict[str, datetime] = {}

    def get_hit(self, hit_id: str) -> HitInfo:
        self.calls.append("GetHIT")
        if self.unavailable:
            raise MTurkUnavailable("MTurk is down", "ServiceUnavailable")
        expiration = self.expirations.get(hit_id, datetime.now(UTC) - timedelta(minutes=1))
        status = "Assignable" if expiration > datetime.now(UTC) else "Reviewable"
        return HitInfo(hit_id, status, expiration, 1)

    def assignments(self, hit_id: str, statuses: list[str]) -> list[AssignmentInfo]:
        self.calls.append("ListAssignmentsForHIT")
        if self.unavailable:
            raise MTurkUnavailable("MTurk is down", "ServiceUnavailable")
        return [a for a in self.work.get(hit_id, []) if a.status in statuses]

    def get_assignment(self, assignment_id: str) -> AssignmentInfo:
        self.calls.append("GetAssignment")
        if self.unavailable:
            raise MTurkUnavailable("MTurk is down", "ServiceUnavailable")
        for assignments in self.work.values():
            for assignment in assignments:
                if assignment.assignment_id == assignment_id:
                    return assignment
        raise MTurkRejected(
            f"Assignment {assignment_id} does not exist.", "AWS.ParameterOutOfRange"
        )
