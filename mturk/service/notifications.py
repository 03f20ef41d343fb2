"""MTurk's notifications: a HIT type's events, sent as MTurk sent them to SQS queues and SNS
topics, at least once.

UpdateNotificationSettings gives a HIT type a notification specification (a destination, its
transport, the event types). When one of those events happens to one of the type's HITs, the
handler ``on_event`` (subscribed by the package) writes the message to the outbox
(``OutboundNotification``) inside the change's own transaction: a message exists if and only
if the change committed. One ``Deliverer``, in the process that supervises the service
(``hitblocks run``, or ``hitblocks mturk-local`` run alone), polls the outbox, claims each due
row with a conditional UPDATE, sends it with boto3 and marks it delivered; a failed send is
retried with exponential backoff for up to four days. No request ever waits on a send.

The message is MTurk's JSON (``{"Events": [{"EventType", "EventTimestamp", "HITId",
"AssignmentId", "HITTypeId"}], "EventDocId", "CustomerId", "EventDocVersion"}``), one event per
message; receivers deduplicate on ``EventDocId``, as MTurk told them to. The Email transport is
accepted and kept, not sent: this service has no mail to send it with.
"""

from __future__ import annotations

import datetime
import json
import logging
import random
import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.config import Config
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from mturk.service import events
from mturk.service.errors import TurkError
from mturk.service.store import HITType, OutboundNotification, Requester, Store, new_id
from mturk.service.store import now as clock

log = logging.getLogger(__name__)

# The Notification API version the 2017-01-17 API takes, and the document version MTurk's
# messages carried whatever was asked (what Dallinger, Mephisto and others saw and parse).
VERSION = "2006-05-05"
EVENT_DOC_VERSION = "2014-08-15"
PING = "Ping"
EVENT_TYPES = frozenset(
    {
        events.ASSIGNMENT_ACCEPTED,
        events.ASSIGNMENT_ABANDONED,
        events.ASSIGNMENT_RETURNED,
        events.ASSIGNMENT_SUBMITTED,
        events.ASSIGNMENT_REJECTED,
        events.ASSIGNMENT_APPROVED,
        events.HIT_CREATED,
        events.HIT_EXTENDED,
        events.HIT_DISPOSED,
        events.HIT_REVIEWABLE,
        events.HIT_EXPIRED,
    }
)
SENT_TRANSPORTS = frozenset({"SQS", "SNS"})  # Email: kept, not sent
INVALID = "AWS.MechanicalTurk.InvalidParameterValue"
SPECIFICATION_KEYS = ("Destination", "Transport", "Version", "EventTypes")

# A send must end well inside its claim's lease, so that the row is not sent twice at once.
CONNECT_TIMEOUT = 5
READ_TIMEOUT = 10
LEASE_SECONDS = 60.0
# Backoff of a failing row: 1 s, doubled per failure up to 15 min, drawn in the upper half of
# that span; given up (deleted, with a warning) once the row is 4 days old, as MTurk gave up
# on unreachable destinations. Delivered rows are kept 7 days, then deleted.
FIRST_RETRY_SECONDS = 1.0
LONGEST_RETRY_SECONDS = 15 * 60.0
GIVE_UP_SECONDS = 4 * 86_400.0
KEEP_DELIVERED_SECONDS = 7 * 86_400.0
CLEANUP_EVERY_SECONDS = 600.0
MAX_ERROR_LENGTH = 1000

TOPIC_ARN = re.compile(
    r"arn:aws(?:-[a-z]+)*:sns:([a-z0-9-]+):\d{12}:[A-Za-z0-9_-]{1,256}(?:\.fifo)?"
)
QUEUE_NAME = re.compile(r"[A-Za-z0-9_-]{1,80}(?:\.fifo)?")
AWS_QUEUE_HOST = re.compile(r"(?:sqs\.([a-z0-9-]+)|([a-z0-9-]+)\.queue)\.amazonaws\.com(?:\.cn)?")
EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s.]+(?:\.[^@\s.]+)+")
MAX_DESTINATION_LENGTH = 1024


# ---- the specification ------------------------------------------------------------------


def check_specification(spec: dict[str, Any], test: bool = False) -> dict[str, Any]:
    """MTurk's rules for a Notification beyond botocore's model (which only wants its four
    members): Version 2006-05-05, at least one event type, Ping only in a test, and a
    Destination of its Transport's kind. The specification as kept (its four members)."""
    if spec.get("Version") != VERSION:
        raise TurkError(f"The Notification Version must be {VERSION}.", INVALID)
    types = spec.get("EventTypes") or []
    if not types:
        raise TurkError("The Notification must name at least one EventType.", INVALID)
    for event_type in types:
        if event_type == PING and not test:
            raise TurkError(
                "The Ping event is only valid for the SendTestEventNotification operation.",
                INVALID,
            )
        if event_type not in EVENT_TYPES | {PING}:
            raise TurkError(f"{event_type!r} is not an EventType.", INVALID)
    transport, destination = spec.get("Transport"), spec.get("Destination", "")
    problem = _destination_problem(transport, destination)
    if problem:
        raise TurkError(problem, INVALID)
    return {key: spec[key] for key in SPECIFICATION_KEYS}


def _destination_problem(transport: Any, destination: str) -> str | None:
    if len(destination) > MAX_DESTINATION_LENGTH:
        return f"The Destination is longer than {MAX_DESTINATION_LENGTH} characters."
    if transport == "SQS":
        ok = is_queue_url(destination)
        return None if ok else "With Transport SQS, the Destination must be your queue's URL."
    if transport == "SNS":
        ok = TOPIC_ARN.fullmatch(destination) is not None
        return None if ok else "With Transport SNS, the Destination must be your topic's ARN."
    if transport == "Email":
        ok = EMAIL.fullmatch(destination) is not None
        return None if ok else "With Transport Email, the Destination must be an email address."
    return "The Notification Transport must be Email, SQS or SNS."


def is_queue_url(value: str) -> bool:
    """An SQS queue URL: AWS's (``https://sqs.REGION.amazonaws.com/ACCOUNT/NAME``) or an
    SQS-compatible service's (moto's, ElasticMQ's: any http(s) URL ending in a queue name)."""
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:
        return False
    segments = [segment for segment in parts.path.split("/") if segment]
    return (
        parts.scheme in {"http", "https"}
        and bool(host)
        and not parts.query
        and not parts.fragment
        and bool(segments)
        and QUEUE_NAME.fullmatch(segments[-1]) is not None
    )


def region_of(transport: str, destination: str) -> str | None:
    """The region a destination names, if it names one: a topic ARN always does, an AWS
    queue URL by its host; a local service's queue URL does not."""
    if transport == "SNS":
        match = TOPIC_ARN.fullmatch(destination)
        return match.group(1) if match else None
    host = urlsplit(destination).hostname or ""
    if host in {"queue.amazonaws.com", "sqs.amazonaws.com"}:
        return "us-east-1"
    match = AWS_QUEUE_HOST.fullmatch(host)
    return (match.group(1) or match.group(2)) if match else None


# ---- messages, written to the outbox ------------------------------------------------------


def timestamp(at: float) -> str:
    """MTurk's EventTimestamp: ISO 8601, UTC, whole seconds, ``Z``."""
    return datetime.datetime.fromtimestamp(at, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def event_document(
    event_type: str, at: float, hit_type_id: str, hit_id: str, assignment_id: str | None
) -> dict[str, str]:
    """One Event as MTurk wrote it; AssignmentId only for an assignment's event."""
    document = {"EventType": event_type, "EventTimestamp": timestamp(at), "HITId": hit_id}
    if assignment_id is not None:
        document["AssignmentId"] = assignment_id
    document["HITTypeId"] = hit_type_id
    return document


def message(customer_id: str, documents: list[dict[str, str]]) -> str:
    """The body sent: MTurk's JSON, with a fresh EventDocId (40 hex digits, as MTurk's)."""
    body = {
        "Events": documents,
        "EventDocId": secrets.token_hex(20),
        "CustomerId": customer_id,
        "EventDocVersion": EVENT_DOC_VERSION,
    }
    return json.dumps(body, separators=(",", ":"))


def enqueue(
    session: Session, requester_id: int, spec: dict[str, Any], documents: list[dict[str, str]]
) -> None:
    """Write the message to the outbox, in the caller's transaction; Email is not sent."""
    if spec.get("Transport") not in SENT_TRANSPORTS or not spec.get("Destination"):
        return
    customer = session.get_one(Requester, requester_id).name
    session.add(
        OutboundNotification(
            requester_id=requester_id,
            transport=spec["Transport"],
            destination=spec["Destination"],
            message=message(customer, documents),
            next_attempt_at=clock(),
        )
    )


def on_event(session: Session, event: events.Event) -> None:
    """The events handler: a message for each event the HIT's type has asked to be told."""
    hit_type = session.get(HITType, event.hit.hit_type_id)
    if hit_type is None or not hit_type.notification_active or not hit_type.notification:
        return
    spec = hit_type.notification
    if event.type not in spec.get("EventTypes", []):
        return
    document = event_document(event.type, event.at, hit_type.id, event.hit.id, event.assignment_id)
    enqueue(session, hit_type.requester_id, spec, [document])


def send_test(session: Session, requester_id: int, spec: dict[str, Any], event_type: str) -> None:
    """SendTestEventNotification: one message of ``event_type`` to the specification's
    destination, whatever its EventTypes, sent at once through the outbox. Its event is
    synthetic: fresh ids that name no HIT type, HIT or assignment (an AssignmentId only for
    an assignment's event type)."""
    spec = check_specification(spec, test=True)
    assignment_id = new_id() if event_type.startswith("Assignment") else None
    document = event_document(event_type, clock(), new_id(), new_id(), assignment_id)
    enqueue(session, requester_id, spec, [document])


# ---- sending ------------------------------------------------------------------------------

Send = Callable[[str, str, str], None]  # (transport, destination, message); raises if not sent
ClientFactory = Callable[[str, str], Any]  # (service, region) -> a boto3 client


def boto3_clients(endpoint_url: str = "") -> ClientFactory:
    """boto3 clients of SQS and SNS at ``endpoint_url`` (empty: AWS's own endpoints), with
    credentials from boto3's standard chain. One try per send and short timeouts: the
    deliverer retries, and a send must end well inside its claim's lease."""
    session = boto3.session.Session()
    config = Config(
        retries={"max_attempts": 1, "mode": "standard"},
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=READ_TIMEOUT,
    )

    def make(service: str, region: str) -> Any:
        return session.client(
            service,  # type: ignore[call-overload]
            region_name=region,
            endpoint_url=endpoint_url or None,
            config=config,
        )

    return make


class AwsTransports:
    """Sends a message as MTurk did: ``sqs.send_message`` to a queue URL, ``sns.publish`` to
    a topic ARN (Subject: the time in milliseconds, as MTurk's). The region is ``region`` when
    set, else the destination's, else us-east-1. Clients are made on first use per service
    and region, and only by the deliverer's one thread."""

    def __init__(
        self,
        make_client: ClientFactory,
        region: str | None = None,
        clock: Callable[[], float] = clock,
    ) -> None:
        self.make_client = make_client
        self.region = region
        self.clock = clock
        self._clients: dict[tuple[str, str], Any] = {}

    def __call__(self, transport: str, destination: str, body: str) -> None:
        region = self.region or region_of(transport, destination) or "us-east-1"
        extra: dict[str, str] = {}
        if destination.endswith(".fifo"):  # FIFO queues and topics want a group and a dedup id
            extra = {"MessageGroupId": "mturk", "MessageDeduplicationId": _doc_id(body)}
        if transport == "SQS":
            self._client("sqs", region).send_message(
                QueueUrl=destination, MessageBody=body, **extra
            )
        elif transport == "SNS":
            subject = str(int(self.clock() * 1000))
            self._client("sns", region).publish(
                TopicArn=destination, Message=body, Subject=subject, **extra
            )
        else:
            raise ValueError(f"{transport} notifications are not sent")

    def _client(self, service: str, region: str) -> Any:
        key = (service, region)
        if key not in self._clients:
            self._clients[key] = self.make_client(service, region)
        return self._clients[key]


def _doc_id(body: str) -> str:
    return str(json.loads(body)["EventDocId"])


def retry_delay(
    attempts: int,
    first: float = FIRST_RETRY_SECONDS,
    longest: float = LONGEST_RETRY_SECONDS,
    draw: Callable[[], float] = random.random,
) -> float:
    """Seconds before the next try after ``attempts`` failed ones: ``first`` doubled per
    failure, at most ``longest``, drawn in the upper half of that (jitter spreads the retries
    of many rows without ever bringing one early)."""
    ceiling = min(longest, first * 2.0 ** min(max(attempts - 1, 0), 60))
    return ceiling * (0.5 + draw() / 2)


@dataclass(frozen=True)
class Claimed:
    """A row this deliverer holds until ``attempts`` changes (another claim after the lease)."""

    seq: int
    transport: str
    destination: str
    message: str
    attempts: int
    created_at: float


@dataclass
class Deliverer:
    """Sends the outbox: polls it every ``interval`` seconds with one indexed read (which
    takes no write lock; an idle deliverer writes nothing), claims each due row by a
    conditional UPDATE (a lease: two deliverers never send one row at once), sends it, and
    marks it delivered or schedules its retry. At least once: a deliverer that dies mid-send
    leaves its row to be sent again when the lease ends."""

    store: Store
    send: Send
    interval: float = 0.2
    batch: int = 50
    lease: float = LEASE_SECONDS
    first_retry: float = FIRST_RETRY_SECONDS
    longest_retry: float = LONGEST_RETRY_SECONDS
    give_up_after: float = GIVE_UP_SECONDS
    keep_delivered: float = KEEP_DELIVERED_SECONDS
    clock: Callable[[], float] = clock
    draw: Callable[[], float] = random.random
    _next_cleanup: float = field(default=0.0, init=False)

    def run(self, stop: threading.Event, each_pass: Callable[[], object] | None = None) -> None:
        """Deliver until ``stop`` is set; a pass that found a full batch is followed at once.
        ``each_pass``: other background work of the service run before each pass (the
        lifecycle's ``Clock``, whose changes are then delivered in the same pass)."""
        while not stop.is_set():
            handled = 0
            try:
                if each_pass is not None:
                    each_pass()
                handled = self.deliver_due()
            except Exception:  # the database hiccupped: the next pass tries again
                log.exception("a background pass of the MTurk service failed")
            if handled < self.batch:
                stop.wait(self.interval)

    def deliver_due(self) -> int:
        """One pass: try each row due now (up to ``batch``); how many were tried."""
        due = self._due()
        for seq in due:
            claimed = self._claim(seq)
            if claimed is not None:  # else another deliverer holds it, or it is done
                self._attempt(claimed)
        self._clean_up_if_due()
        return len(due)

    def _due(self) -> list[int]:
        row = OutboundNotification
        with self.store.reading() as connection:
            return list(
                connection.scalars(
                    select(row.seq)
                    .where(row.delivered_at.is_(None), row.next_attempt_at <= self.clock())
                    .order_by(row.next_attempt_at)
                    .limit(self.batch)
                )
            )

    def _claim(self, seq: int) -> Claimed | None:
        row = OutboundNotification
        at = self.clock()
        claim = (
            update(row)
            .where(row.seq == seq, row.delivered_at.is_(None), row.next_attempt_at <= at)
            .values(next_attempt_at=at + self.lease, attempts=row.attempts + 1)
            .returning(row.transport, row.destination, row.message, row.attempts, row.created_at)
            .execution_options(synchronize_session=False)
        )
        with self.store.transaction() as session:
            found = session.execute(claim).one_or_none()
        return None if found is None else Claimed(seq, *found)

    def _attempt(self, claimed: Claimed) -> None:
        try:
            self.send(claimed.transport, claimed.destination, claimed.message)
        except Exception as exc:  # whatever failed (destination, network, credentials): retry
            self._failed(claimed, f"{type(exc).__name__}: {exc}"[:MAX_ERROR_LENGTH])
            return
        row = OutboundNotification
        with self.store.transaction() as session:
            session.execute(
                update(row)
                .where(row.seq == claimed.seq)
                .values(delivered_at=self.clock(), last_error=None)
                .execution_options(synchronize_session=False)
            )

    def _failed(self, claimed: Claimed, error: str) -> None:
        """Schedule the row's retry (if it is still ours), or give it up once it is too old."""
        row = OutboundNotification
        at = self.clock()
        ours = row.seq == claimed.seq, row.delivered_at.is_(None), row.attempts == claimed.attempts
        give_up = at - claimed.created_at >= self.give_up_after
        if give_up:
            change: Any = delete(row).where(*ours)
        else:
            delay = retry_delay(claimed.attempts, self.first_retry, self.longest_retry, self.draw)
            change = update(row).where(*ours).values(next_attempt_at=at + delay, last_error=error)
        with self.store.transaction() as session:
            session.execute(change.execution_options(synchronize_session=False))
        where = f"notification {claimed.seq} to {claimed.transport} {claimed.destination}"
        if give_up:
            log.warning("gave up on %s after %d attempts: %s", where, claimed.attempts, error)
        elif claimed.attempts == 1:
            log.warning("%s failed, will retry: %s", where, error)

    def _clean_up_if_due(self) -> None:
        """Delete delivered rows past ``keep_delivered``, checking (a read) every ten minutes."""
        at = self.clock()
        if at < self._next_cleanup:
            return
        self._next_cleanup = at + CLEANUP_EVERY_SECONDS
        row = OutboundNotification
        old = row.delivered_at < at - self.keep_delivered
        with self.store.reading() as connection:
            if connection.scalar(select(row.seq).where(old).limit(1)) is None:
                return
        with self.store.transaction() as session:
            session.execute(delete(row).where(old).execution_options(synchronize_session=False))


class Running:
    """A deliverer in a daemon thread of this process; ``stop`` ends it after its pass."""

    def __init__(self, deliverer: Deliverer, each_pass: Callable[[], object] | None = None) -> None:
        self.deliverer = deliverer
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=deliverer.run,
            args=(self._stop, each_pass),
            name="mturk-notifications",
            daemon=True,
        )
        self._thread.start()

    def stop(self, timeout: float = CONNECT_TIMEOUT + READ_TIMEOUT + 5) -> None:
        self._stop.set()
        self._thread.join(timeout)


def describe(endpoint_url: str, region: str | None, pid: int) -> str:
    """The line a server prints about where notifications go."""
    where = endpoint_url or "AWS's SQS and SNS endpoints"
    regions = f"region {region}" if region else "each destination's region"
    return f"Notifications: sent to {where} ({regions}), from process {pid}"
