"""What the services refuse, in the domain's words.

Services raise these (and ``mturk.gateway.MTurkError``) and never pick an HTTP status;
``app.errors`` at the web edge maps each kind to a status, a type and a code. Lower layers
(body parsing, batches) use the plain data types here too, so nothing below the services has
to import them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from mturk.gateway import MTurkError


class DomainError(Exception):
    """A refusal: ``message`` for people, ``param`` naming the input at fault, ``code`` for
    programs."""

    default_code: str | None = None

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code or self.default_code


class InvalidInput(DomainError):
    """The request's data cannot be accepted as given."""


class InvalidRows(InvalidInput):
    """Some rows of a batch are invalid; ``errors`` lists each problem with where it stands."""

    default_code = "batch_invalid"

    def __init__(self, message: str, errors: list[dict[str, Any]]) -> None:
        super().__init__(message)
        self.errors = errors


class InvalidState(DomainError):
    """The object's state does not allow this now (a canceled hitblock, a launched one)."""


class InsufficientFunds(DomainError):
    """The MTurk balance cannot cover what the request could cost."""

    default_code = "insufficient_funds"


class Conflict(DomainError):
    """The object ended up otherwise than asked (say, MTurk had already approved it)."""


class NotFound(DomainError):
    """Missing, or another account's: the two must be indistinguishable."""

    default_code = "resource_missing"

    def __init__(self, kind: str, object_id: object) -> None:
        super().__init__(f"No such {kind}: {object_id}", param="id")
        self.kind = kind


class NothingPublished(DomainError):
    """Not one item of a hitblock could be published; ``failures`` says why for each."""

    def __init__(self, failures: list[PublishFailure]) -> None:
        super().__init__(f"No item could be published: {failures[0].error.message}")
        self.failures = failures


@dataclass(frozen=True)
class PublishFailure:
    """An item left pending by a hitblock publish, and what MTurk said."""

    item: int
    error: MTurkError


@dataclass(frozen=True)
class Deleted:
    """What a delete answers: the id of the object that is gone."""

    id: int
    deleted: bool = True


@dataclass(frozen=True)
class BadRow:
    """A batch row that could not even be read as fields (a CSV line of the wrong width)."""

    message: str


class BlockStatus(StrEnum):
    """A worker block on its way to MTurk and back: ``pending`` until MTurk confirms the
    block, ``removing`` until it confirms the unblock; ``failed`` when MTurk refused a
    retried block for good. Rows are kept: a later block of the worker reuses its row."""

    PENDING = "pending"
    ACTIVE = "active"
    REMOVING = "removing"
    REMOVED = "removed"
    FAILED = "failed"


class ExclusionStatus(StrEnum):
    """A gold-policy exclusion: ``pending`` until MTurk granted the exclusion qualification
    (retried while MTurk is down), ``failed`` when MTurk refused it for good."""

    PENDING = "pending"
    ACTIVE = "active"
    FAILED = "failed"


class UserRole(StrEnum):
    """What a console user may do: an ``admin`` everything, a ``reviewer`` only review."""

    ADMIN = "admin"
    REVIEWER = "reviewer"
