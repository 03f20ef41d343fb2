"""A fake MTurk gateway for fast service tests: no HTTP, answers scripted per call."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from mturk.gateway import AssignmentInfo, CreatedHit, HitTypeSpec, MTurkError


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

    def preview_url(self, hit_id: str, group_id: str) -> str:
        return f"https://worker.example/projects/{group_id}/tasks/{hit_id}"

    def available_balance(self) -> Decimal:
        self.calls.append("GetAccountBalance")
        return self.balance

    def create_hit_type(self, spec: HitTypeSpec) -> str:
        self.calls.append("CreateHITType")
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

    def hits_by_annotation(self, annotations: set[str]) -> dict[str, str]:
        self.calls.append("ListHITs")
        return {
            hit["annotation"]: hit_id
            for hit_id, hit in self.hits.items()
            if hit["annotation"] in annotations
        }
