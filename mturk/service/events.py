"""What happens to HITs and assignments, told to whoever acts on it.

MTurk's event types (``AssignmentSubmitted``, ``HITReviewable``...) are emitted where the
change is made, inside its transaction; handlers run there too, so what they write (a
notification to send, a review policy's result) commits or rolls back with the change.
The handlers are registered once, by the package (``mturk/service/__init__.py``):
notifications, then review policies; a handler that emits (a policy approving) runs the
handlers again for that event, so notifications queue events in the order they happen.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from mturk.service.store import HIT
from mturk.service.store import now as clock

# MTurk's event types (the notification API's EventType values), Ping aside.
ASSIGNMENT_ACCEPTED = "AssignmentAccepted"
ASSIGNMENT_ABANDONED = "AssignmentAbandoned"
ASSIGNMENT_RETURNED = "AssignmentReturned"
ASSIGNMENT_SUBMITTED = "AssignmentSubmitted"
ASSIGNMENT_REJECTED = "AssignmentRejected"
ASSIGNMENT_APPROVED = "AssignmentApproved"
HIT_CREATED = "HITCreated"
HIT_EXTENDED = "HITExtended"
HIT_DISPOSED = "HITDisposed"
HIT_REVIEWABLE = "HITReviewable"
HIT_EXPIRED = "HITExpired"


@dataclass(frozen=True)
class Event:
    type: str
    hit: HIT
    assignment_id: str | None
    at: float


Handler = Callable[[Session, Event], None]
_handlers: list[Handler] = []


def subscribe(handler: Handler) -> None:
    if handler not in _handlers:
        _handlers.append(handler)


def emit(
    session: Session,
    event_type: str,
    hit: HIT,
    assignment_id: str | None = None,
    at: float | None = None,
) -> None:
    event = Event(event_type, hit, assignment_id, clock() if at is None else at)
    for handler in list(_handlers):
        handler(session, event)
