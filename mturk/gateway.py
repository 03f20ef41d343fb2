"""The MTurk adapter: receives a boto3 client, speaks PascalCase to it, and hands the rest
of Hitblocks our own types and errors."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from mturk.client import Endpoint
from mturk.fees import format_amount

HIT_ALREADY_EXISTS = "AWS.MechanicalTurk.HitAlreadyExists"
INVALID_HIT_STATE = "AWS.MechanicalTurk.InvalidHITState"
INVALID_ASSIGNMENT_STATE = "AWS.MechanicalTurk.InvalidAssignmentState"
DUPLICATE_REQUEST = "AWS.MechanicalTurk.DuplicateRequest"
# The Notification API version the 2017-01-17 API takes in UpdateNotificationSettings.
NOTIFICATION_VERSION = "2006-05-05"
PAGE_SIZE = 100  # MaxResults of every List call (MTurk's maximum)
_HIT_ID_IN_MESSAGE = re.compile(r"\b[A-Z0-9]{20,64}\b")


class MTurkError(Exception):
    """MTurk could not do what was asked; ``code`` is MTurk's own (TurkErrorCode or AWS's)."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class MTurkRejected(MTurkError):
    """MTurk refused the request itself (RequestError and other 4xx): retrying won't help."""


class MTurkUnavailable(MTurkError):
    """MTurk failed or could not be reached even after botocore's retries: try again later."""


@dataclass(frozen=True)
class HitTypeSpec:
    title: str
    description: str
    reward: Decimal
    assignment_duration: int
    auto_approval_delay: int
    keywords: str = ""
    qualification_requirements: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class HitInfo:
    hit_id: str
    status: str
    expiration: datetime
    max_assignments: int


@dataclass(frozen=True)
class AssignmentInfo:
    assignment_id: str
    worker_id: str
    hit_id: str
    status: str  # Submitted, Approved or Rejected
    answer: str
    accepted: datetime | None
    submitted: datetime | None
    auto_approval_due: datetime | None


def _assignment(raw: dict[str, Any]) -> AssignmentInfo:
    return AssignmentInfo(
        assignment_id=raw["AssignmentId"],
        worker_id=raw["WorkerId"],
        hit_id=raw["HITId"],
        status=raw["AssignmentStatus"],
        answer=raw.get("Answer", ""),
        accepted=raw.get("AcceptTime"),
        submitted=raw.get("SubmitTime"),
        auto_approval_due=raw.get("AutoApprovalTime"),
    )


@dataclass(frozen=True)
class CreatedHit:
    hit_id: str
    recovered: bool  # True when MTurk already had it under our token (a retried create)


def _qualification(requirement: dict[str, Any]) -> dict[str, Any]:
    """Our snake_case QualificationRequirement in MTurk's PascalCase."""
    translated: dict[str, Any] = {
        "QualificationTypeId": requirement["qualification_type_id"],
        "Comparator": requirement["comparator"],
        "ActionsGuarded": requirement.get("actions_guarded", "Accept"),
    }
    if requirement.get("integer_values"):
        translated["IntegerValues"] = list(requirement["integer_values"])
    if requirement.get("locale_values"):
        translated["LocaleValues"] = [
            {
                "Country": locale["country"],
                **({"Subdivision": locale["subdivision"]} if locale.get("subdivision") else {}),
            }
            for locale in requirement["locale_values"]
        ]
    return translated


class MTurkGateway:
    def __init__(self, client: Any, endpoint: Endpoint) -> None:
        self.client = client
        self.endpoint = endpoint

    @contextmanager
    def _translate(self) -> Iterator[None]:
        """AWS errors become ours, told apart by code, never by message text."""
        try:
            yield
        except ClientError as error:
            response = error.response
            code = response.get("TurkErrorCode") or response.get("Error", {}).get("Code", "")
            message = response.get("Error", {}).get("Message", str(error))
            status = response.get("ResponseMetadata", {}).get("HTTPStatusCode", 500)
            aws_code = response.get("Error", {}).get("Code", "")
            if aws_code == "ServiceFault" or "Throttl" in aws_code or status >= 500:
                raise MTurkUnavailable(message, code) from error
            raise MTurkRejected(message, code) from error
        except BotoCoreError as error:  # connection failures, timeouts, missing credentials
            raise MTurkUnavailable(str(error), type(error).__name__) from error

    def preview_url(self, hit_id: str, group_id: str) -> str:
        return self.endpoint.preview_url(hit_id, group_id)

    def available_balance(self) -> Decimal:
        with self._translate():
            return Decimal(self.client.get_account_balance()["AvailableBalance"])

    def create_hit_type(self, spec: HitTypeSpec) -> str:
        """MTurk answers the same id for the same properties, so this is safe to repeat."""
        params: dict[str, Any] = {
            "Title": spec.title,
            "Description": spec.description,
            "Reward": format_amount(spec.reward),
            "AssignmentDurationInSeconds": spec.assignment_duration,
            "AutoApprovalDelayInSeconds": spec.auto_approval_delay,
            "QualificationRequirements": [
                _qualification(q) for q in spec.qualification_requirements
            ],
        }
        if spec.keywords:
            params["Keywords"] = spec.keywords
        with self._translate():
            return str(self.client.create_hit_type(**params)["HITTypeId"])

    def create_hit(
        self,
        *,
        hit_type_id: str,
        question: str,
        max_assignments: int,
        lifetime: int,
        annotation: str,
        token: str,
    ) -> CreatedHit:
        """Create the HIT once: a repeat with the same token answers the HIT made before."""
        try:
            with self._translate():
                response = self.client.create_hit_with_hit_type(
                    HITTypeId=hit_type_id,
                    MaxAssignments=max_assignments,
                    LifetimeInSeconds=lifetime,
                    Question=question,
                    RequesterAnnotation=annotation,
                    UniqueRequestToken=token,
                )
        except MTurkRejected as error:
            if error.code == HIT_ALREADY_EXISTS:
                match = _HIT_ID_IN_MESSAGE.search(error.message)
                if match:
                    return CreatedHit(match.group(0), recovered=True)
            raise
        return CreatedHit(str(response["HIT"]["HITId"]), recovered=False)

    def _pages(self, operation: str, items: str, **params: Any) -> Iterator[dict[str, Any]]:
        """Every page of a List operation, ``PAGE_SIZE`` items a page, through boto3's
        paginator (which follows NextToken); errors translated as they come.

        MTurk puts a NextToken on every non-empty page, the last one included, and answers
        the call after it with an empty page. A page shorter than asked is the last one, so
        that call is not made: a HIT's assignments cost one call, not two.
        """
        paginator = self.client.get_paginator(operation)
        pages = iter(paginator.paginate(**params, PaginationConfig={"PageSize": PAGE_SIZE}))
        while True:
            with self._translate():
                page = next(pages, None)
            if page is None:
                return
            yield page
            if len(page.get(items, [])) < PAGE_SIZE:
                return

    def hits_by_annotation(self, annotations: set[str]) -> dict[str, str]:
        """HIT ids by RequesterAnnotation, over the account's HITs until all are found
        (ListHITs; for recovery only: it costs a call per 100 HITs)."""
        found: dict[str, str] = {}
        for page in self._pages("list_hits", "HITs"):
            for hit in page.get("HITs", []):
                if hit.get("RequesterAnnotation") in annotations:
                    found[hit["RequesterAnnotation"]] = hit["HITId"]
            if len(found) == len(annotations):
                break
        return found

    def reviewable_hits(self, hit_type_id: str) -> Iterator[HitInfo]:
        """HITs of a HIT type whose work is all in (or that expired), page by page."""
        for page in self._pages(
            "list_reviewable_hits", "HITs", HITTypeId=hit_type_id, Status="Reviewable"
        ):
            for hit in page.get("HITs", []):
                yield HitInfo(
                    hit["HITId"], hit["HITStatus"], hit["Expiration"], hit["MaxAssignments"]
                )

    def get_hit(self, hit_id: str) -> HitInfo:
        """One HIT's status and expiration as MTurk has them now."""
        with self._translate():
            hit = self.client.get_hit(HITId=hit_id)["HIT"]
        return HitInfo(hit["HITId"], hit["HITStatus"], hit["Expiration"], hit["MaxAssignments"])

    def assignments(self, hit_id: str, statuses: list[str]) -> list[AssignmentInfo]:
        """Every assignment of a HIT in these statuses, all pages."""
        pages = self._pages(
            "list_assignments_for_hit", "Assignments", HITId=hit_id, AssignmentStatuses=statuses
        )
        return [_assignment(raw) for page in pages for raw in page.get("Assignments", [])]

    def get_assignment(self, assignment_id: str) -> AssignmentInfo:
        with self._translate():
            return _assignment(self.client.get_assignment(AssignmentId=assignment_id)["Assignment"])

    def approve(self, assignment_id: str, feedback: str | None) -> None:
        params = {"AssignmentId": assignment_id}
        if feedback:
            params["RequesterFeedback"] = feedback
        with self._translate():
            self.client.approve_assignment(**params)

    def reject(self, assignment_id: str, feedback: str) -> None:
        with self._translate():
            self.client.reject_assignment(AssignmentId=assignment_id, RequesterFeedback=feedback)

    def send_bonus(
        self, *, worker_id: str, assignment_id: str, amount: Decimal, reason: str, token: str
    ) -> bool:
        """Pay a bonus once per token; False when MTurk already paid it under this token."""
        try:
            with self._translate():
                self.client.send_bonus(
                    WorkerId=worker_id,
                    AssignmentId=assignment_id,
                    BonusAmount=format_amount(amount),
                    Reason=reason,
                    UniqueRequestToken=token,
                )
        except MTurkRejected as error:
            if error.code == DUPLICATE_REQUEST:
                return False
            raise
        return True

    def mark_reviewing(self, hit_id: str) -> None:
        """Move a Reviewable HIT to Reviewing, so that it stops coming back as new work."""
        try:
            with self._translate():
                self.client.update_hit_review_status(HITId=hit_id, Revert=False)
        except MTurkRejected as error:
            if error.code != INVALID_HIT_STATE:  # already Reviewing, or disposed
                raise

    def update_notification_settings(
        self, hit_type_id: str, destination: str, events: list[str]
    ) -> None:
        """Have MTurk send these events of the HIT type's HITs to an SQS queue (its URL), at
        least once each; a repeat replaces the specification."""
        notification = {
            "Destination": destination,
            "Transport": "SQS",
            "Version": NOTIFICATION_VERSION,
            "EventTypes": list(events),
        }
        with self._translate():
            self.client.update_notification_settings(
                HITTypeId=hit_type_id, Notification=notification, Active=True
            )

    def expire_hit(self, hit_id: str) -> None:
        with self._translate():
            self.client.update_expiration_for_hit(HITId=hit_id, ExpireAt=datetime.now(UTC))

    def extend_hit(self, hit_id: str, expire_at: datetime) -> None:
        """Move the HIT's expiration later (MTurk refuses to move it earlier, except to now);
        an expired HIT extended takes workers again."""
        with self._translate():
            self.client.update_expiration_for_hit(HITId=hit_id, ExpireAt=expire_at)

    def create_qualification_type(self, name: str, description: str) -> str:
        """A qualification type of ours that workers cannot request (we grant it). Names are
        unique per requester: when MTurk refuses the name, the type of that name we already
        own (made by an attempt whose answer was lost) is answered instead."""
        try:
            with self._translate():
                response = self.client.create_qualification_type(
                    Name=name, Description=description, QualificationTypeStatus="Active"
                )
        except MTurkRejected:
            existing = self.qualification_type_named(name)
            if existing is None:
                raise
            return existing
        return str(response["QualificationType"]["QualificationTypeId"])

    def qualification_type_named(self, name: str) -> str | None:
        """The id of our own qualification type of exactly this name, if there is one."""
        for page in self._pages(
            "list_qualification_types",
            "QualificationTypes",
            Query=name,
            MustBeRequestable=False,
            MustBeOwnedByCaller=True,
        ):
            for found in page.get("QualificationTypes", []):
                if found.get("Name") == name:
                    return str(found["QualificationTypeId"])
        return None

    def grant_qualification(self, qualification_type_id: str, worker_id: str, value: int) -> None:
        """Give the worker our qualification (quietly: no message to the worker)."""
        with self._translate():
            self.client.associate_qualification_with_worker(
                QualificationTypeId=qualification_type_id,
                WorkerId=worker_id,
                IntegerValue=value,
                SendNotification=False,
            )

    def block_worker(self, worker_id: str, reason: str) -> None:
        """Block the worker from every HIT of this requester (a repeat is harmless)."""
        with self._translate():
            self.client.create_worker_block(WorkerId=worker_id, Reason=reason)

    def unblock_worker(self, worker_id: str, reason: str) -> None:
        with self._translate():
            self.client.delete_worker_block(WorkerId=worker_id, Reason=reason)

    def delete_hit(self, hit_id: str) -> bool:
        """Delete the HIT if MTurk allows it now; False when its state does not allow it."""
        try:
            with self._translate():
                self.client.delete_hit(HITId=hit_id)
        except MTurkRejected as error:
            if error.code == INVALID_HIT_STATE:
                return False
            raise
        return True
