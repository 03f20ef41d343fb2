"""Publishing: items become HITs on the MTurk endpoint, exactly once each.

Never two HITs for one item: each item's ``UniqueRequestToken`` is stored (and committed)
before CreateHITWithHITType is called. If the process dies after MTurk answered and before
our commit, the next attempt sends the same token, MTurk answers "already exists" with the
HIT's id, and we record that HIT instead of making another.
"""

from __future__ import annotations

import logging
import secrets
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import islice
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, bindparam, case, select, update

from app.domain import (
    InsufficientFunds,
    InvalidInput,
    InvalidState,
    NothingPublished,
    PublishFailure,
)
from app.models import Hitblock, Item, utcnow
from app.services import DbSession, events, gold, notifications, transaction
from app.services.deliveries import Destination, subscribed_endpoints
from app.services.hitblocks import check_template, find_hitblock
from app.services.items import find_item
from app.templates import HITBLOCK_TYPES, render, submittable
from mturk.fees import hit_cost
from mturk.gateway import CreatedHit, HitTypeSpec, MTurkError, MTurkGateway
from mturk.questions import MAX_QUESTION_BYTES, html_question

log = logging.getLogger(__name__)
CLOSED_STATUSES = {"paused", "canceled"}
# MTurk remembers a UniqueRequestToken for 24 hours; past this, a token proves nothing.
TOKEN_MEMORY = timedelta(hours=23)
# The items table, for the recorder's Core UPDATE: its transaction ends right after it, so no
# object in the session needs to hear of the change (an ORM UPDATE would look for them all).
ITEMS = cast(Table, Item.__table__)
GATHER = 0.005
# Items the recorder records in one transaction at most (one UPDATE's CASE and IN list).
RECORD_BATCH = 500


@dataclass(frozen=True)
class PublishedHit:
    """The seed's ``HIT`` object: where workers find the item's HIT, and the item."""

    hit_id: str
    url: str
    created: datetime
    item: Item
    object: str = "HIT"
    service: str = "AMT"
    status: str = "published"


@dataclass(frozen=True)
class HitblockPublication:
    hitblock: Hitblock
    published: list[int]
    failed: list[PublishFailure]
    object: str = "hitblock_publication"


def question_for(hitblock: Hitblock, item_id: int, params: dict[str, Any]) -> str:
    """The item's HTMLQuestion: the hitblock's template, with MTurk's submit plumbing added
    where it lacks it, filled with the item's fields. A template saved before the checks
    existed is checked here, before any MTurk call."""
    check_template(hitblock.template)
    page = submittable(hitblock.template)
    html = render(HITBLOCK_TYPES[hitblock.type], page, params)
    question = html_question(html)
    if len(question.encode()) > MAX_QUESTION_BYTES:
        raise InvalidInput(
            f"Item {item_id} renders to more than MTurk's {MAX_QUESTION_BYTES} bytes per "
            "question; shorten its fields or the template.",
            code="question_too_large",
        )
    return question


def _published_hit(gateway: MTurkGateway, item: Item) -> PublishedHit:
    assert item.hit_id is not None and item.published is not None
    group_id = item.hitblock.hit_type_id or ""
    url = gateway.preview_url(item.hit_id, group_id)
    return PublishedHit(item.hit_id, url, item.published, item)


def _check_open(hitblock: Hitblock) -> None:
    if hitblock.status in CLOSED_STATUSES:
        raise InvalidState(
            f"Hitblock {hitblock.id} is {hitblock.status}; nothing is published from it.",
            code=f"hitblock_{hitblock.status}",
        )


def _exclusion_requirement(gateway: MTurkGateway, hitblock: Hitblock) -> list[dict[str, Any]]:
    """Under a gold policy, workers holding the hitblock's exclusion qualification (granted
    when they fail it) can neither find, preview nor accept its HITs. The type is made once
    (a retry finds it by its name)."""
    if not hitblock.gold_policy:
        return []
    if hitblock.exclusion_qualification_type_id is None:
        hitblock.exclusion_qualification_type_id = gateway.create_qualification_type(
            gold.exclusion_qualification_name(hitblock),
            f"Workers excluded from hitblock {hitblock.id} by its gold policy.",
        )
    return [
        {
            "qualification_type_id": hitblock.exclusion_qualification_type_id,
            "comparator": "DoesNotExist",
            "actions_guarded": "DiscoverPreviewAndAccept",
        }
    ]


def _ensure_hit_type(
    session: DbSession, gateway: MTurkGateway, hitblock: Hitblock, notify: str | None = None
) -> str:
    """One HIT type per hitblock, created on first publish (MTurk's create is idempotent).
    ``notify``: the notification queue its events go to (subscribed with the create, before
    any HIT of it exists; a failure leaves no type recorded, and the retry subscribes)."""
    if hitblock.hit_type_id is None:
        hit_type_id = gateway.create_hit_type(
            HitTypeSpec(
                title=hitblock.title,
                description=hitblock.description or hitblock.title,
                reward=hitblock.cost_per_item,
                assignment_duration=hitblock.assignment_duration_in_seconds,
                auto_approval_delay=hitblock.auto_approval_delay_in_seconds,
                keywords=hitblock.keywords,
                qualification_requirements=[
                    *hitblock.qualification_requirements,
                    *_exclusion_requirement(gateway, hitblock),
                ],
            )
        )
        hitblock.hit_type_id = hit_type_id
    if notify and hitblock.notification_destination != notify:
        # A new type, one made before the queue was configured, or another queue: one call,
        # then never again for this queue.
        notifications.subscribe(gateway, hitblock.hit_type_id, notify)
        hitblock.notification_destination = notify
    return hitblock.hit_type_id


def _check_funds(gateway: MTurkGateway, hitblock: Hitblock, count: int) -> None:
    needed = hit_cost(hitblock.cost_per_item, hitblock.workers_per_item) * count
    available = gateway.available_balance()
    if available < needed:
        raise InsufficientFunds(
            f"Publishing {count} item(s) can cost ${needed} (rewards and MTurk's fees), "
            f"but the MTurk balance is ${available}. Nothing was published."
        )


def _assign_tokens(session: DbSession, item_ids: list[int]) -> dict[int, tuple[str, datetime]]:
    """Each item's token (and when it was given), derived from its id and kept: every retry
    reuses it.

    Set only where none is set yet, in one conditional UPDATE, so that two requests posting
    the same item at once end up with the same token, and MTurk makes one HIT for both.
    """
    session.connection().execute(
        update(Item)
        .where(Item.id == bindparam("item_id"), Item.unique_request_token.is_(None))
        .values(unique_request_token=bindparam("token"), token_issued=utcnow()),
        [{"item_id": i, "token": f"hb-{i}-{secrets.token_hex(8)}"} for i in item_ids],
    )
    rows = session.execute(
        select(Item.id, Item.unique_request_token, Item.token_issued).where(Item.id.in_(item_ids))
    )
    return {item_id: (token, issued or utcnow()) for item_id, token, issued in rows if token}


def annotation(item_id: int, token: str) -> str:
    """How a HIT names its item on MTurk (RequesterAnnotation), found by it when the token
    cannot find it any more. The token makes it this database's own: another installation
    (or a restored backup) on the same requester account has other tokens."""
    return f"hitblocks:item:{item_id}:{token}"


def _recover_old_attempts(
    gateway: MTurkGateway, tokens: dict[int, tuple[str, datetime]]
) -> dict[int, str]:
    """HITs made under tokens MTurk no longer remembers (given out more than a day ago, and the
    item still not recorded as published): found by their RequesterAnnotation instead, so
    that a retry after a long outage still makes no second HIT."""
    stale = {
        item_id: annotation(item_id, token)
        for item_id, (token, issued) in tokens.items()
        if issued < utcnow() - TOKEN_MEMORY
    }
    if not stale:
        return {}
    found = gateway.hits_by_annotation(set(stale.values()))
    return {item_id: found[name] for item_id, name in stale.items() if name in found}


@dataclass(frozen=True)
class HitRequest:
    """Plain values for one CreateHITWithHITType, safe to hand to a worker thread."""

    item_id: int
    token: str
    question: str
    hit_type_id: str
    max_assignments: int
    lifetime: int

    @classmethod
    def of(cls, hitblock: Hitblock, item_id: int, token: str, question: str) -> HitRequest:
        assert hitblock.hit_type_id is not None
        return cls(
            item_id,
            token,
            question,
            hitblock.hit_type_id,
            hitblock.workers_per_item,
            hitblock.lifetime_in_seconds,
        )

    def send(self, gateway: MTurkGateway) -> CreatedHit:
        return gateway.create_hit(
            hit_type_id=self.hit_type_id,
            question=self.question,
            max_assignments=self.max_assignments,
            lifetime=self.lifetime,
            annotation=annotation(self.item_id, self.token),
            token=self.token,
        )


@dataclass
class _Recorder:
    """Records HITs as MTurk answers: items published (each once: a concurrent recorder of
    the same item changes nothing), their ``item.published`` events, the hitblock in
    progress, each batch in a transaction of its own. The webhook endpoints are looked up
    once per publish, not once per batch.

    An item deleted while its create was in flight keeps its HIT's id (so the poller collects
    whatever work reaches it) and the HIT is expired: no live HIT is left that no row names.
    """

    session: DbSession
    gateway: MTurkGateway
    hitblock_id: int
    account_id: int
    endpoints: list[Destination] | None = None

    def __call__(self, published: dict[int, str]) -> None:
        """Record ``published`` (item id -> HIT id), ``RECORD_BATCH`` items a transaction at
        most (in id order): the HITs a publish recovers come all at once."""
        ids = sorted(published)
        for start in range(0, len(ids), RECORD_BATCH):
            self._record_batch(
                {item_id: published[item_id] for item_id in ids[start : start + RECORD_BATCH]}
            )

    def _record_batch(self, published: dict[int, str]) -> None:
        session, now = self.session, utcnow()
        with transaction(session):
            changed = _record(session, published, ITEMS.c.status == "pending", now, "published")
            rest = {item_id: published[item_id] for item_id in published if item_id not in changed}
            unrecorded = (ITEMS.c.status == "deleted") & ITEMS.c.hit_id.is_(None)
            deleted = _record(session, rest, unrecorded, now, lock=False) if rest else set()
            if changed:
                self._published(sorted(changed))
        for item_id in sorted(deleted):
            try:
                self.gateway.expire_hit(published[item_id])
            except MTurkError as error:  # the poller still collects what reaches it
                log.warning(
                    "HIT %s of a deleted item could not be expired: %s", published[item_id], error
                )

    def _published(self, changed: list[int]) -> None:
        """Events of the items just published, and the hitblock in progress."""
        session = self.session
        if self.endpoints is None:
            self.endpoints = subscribed_endpoints(session, self.account_id, "item.published")
        snapshots = events.item_snapshots(session, changed)
        events.emit_many(
            session, self.account_id, "item.published", snapshots, endpoints=self.endpoints
        )
        session.execute(
            update(Hitblock)
            .where(
                Hitblock.id == self.hitblock_id, Hitblock.status.in_(("unlaunched", "completed"))
            )
            .values(status="in_progress")
        )


def _record(
    session: DbSession,
    hits: dict[int, str],
    still: ColumnElement[bool],
    now: datetime,
    status: str | None = None,
    *,
    lock: bool = True,
) -> set[int]:
    """Give the items their HITs in one statement (not one per item: the recorder's main
    cost), where ``still`` holds for them; the ids of those it changed. On PostgreSQL the
    rows are first locked in id order (``lock``), whatever order MTurk answered in, so that
    two publishes of one hitblock at once wait for each other instead of deadlocking; FOR NO
    KEY UPDATE, as an UPDATE locks, so a response being stored for an item does not wait."""
    ids = sorted(hits)
    if lock and session.get_bind().dialect.name != "sqlite":  # SQLite: one writer at a time
        session.execute(select(ITEMS.c.id).where(ITEMS.c.id.in_(ids)).order_by(ITEMS.c.id)
                        .with_for_update(key_share=True))  # fmt: skip
    values: dict[str, Any] = {"hit_id": case(hits, value=ITEMS.c.id), "published": now}
    if status is not None:
        values["status"] = status
    statement = update(ITEMS).where(ITEMS.c.id.in_(ids), still).values(values).returning(ITEMS.c.id)
    return set(session.scalars(statement))


def post_item(
    session: DbSession,
    gateway: MTurkGateway,
    account_id: int,
    item_id: int,
    *,
    notify: str | None = None,
) -> PublishedHit:
    """Publish one item; posting an item already published answers its HIT again.
    ``notify``: the notification queue a new HIT type is subscribed to."""
    item = find_item(session, account_id, item_id)
    if item.hit_id is None:
        hitblock = item.hitblock
        _check_open(hitblock)
        question = question_for(hitblock, item.id, item.params)
        with transaction(session):
            _check_funds(gateway, hitblock, 1)
            _ensure_hit_type(session, gateway, hitblock, notify)
            tokens = _assign_tokens(session, [item_id])
            request = HitRequest.of(hitblock, item_id, tokens[item_id][0], question)
        recovered = _recover_old_attempts(gateway, tokens)
        hit_id = recovered.get(item_id) or request.send(gateway).hit_id
        _Recorder(session, gateway, hitblock.id, account_id)({item_id: hit_id})
        item = find_item(session, account_id, item_id)
    return _published_hit(gateway, item)


def _answered(in_flight: dict[Future[CreatedHit], int], workers: int) -> set[Future[CreatedHit]]:
    """The calls answered, at least one, to be recorded together. When fewer than a quarter
    of the workers' calls came back, more are waited for, ``GATHER`` seconds at most from the
    first, so that a transaction records several HITs and its fixed cost (the commit, the
    hitblock, the events' look-up) is shared, rather than one transaction per HIT whenever
    the recorder keeps up with MTurk."""
    done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
    enough = min(len(in_flight), max(1, workers // 4))
    deadline = time.monotonic() + GATHER
    while len(done) < enough and (left := deadline - time.monotonic()) > 0:
        more, _ = wait(in_flight.keys() - done, timeout=left, return_when=FIRST_COMPLETED)
        done |= more
    return done


def _pending_questions(session: DbSession, hitblock: Hitblock) -> dict[int, str]:
    """The question of each pending item, in id order, read as plain rows: items loaded in the
    session for the whole publish were expired by every recorder commit and searched by
    every UPDATE, a cost per HIT that grew with the hitblock (O(items^2) a publish)."""
    pending = session.execute(
        select(Item.id, Item.params)
        .where(Item.hitblock_id == hitblock.id, Item.status == "pending")
        .order_by(Item.id)
    )
    return {item_id: question_for(hitblock, item_id, params) for item_id, params in pending}


def post_hitblock(
    session: DbSession,
    gateway: MTurkGateway,
    account_id: int,
    hitblock_id: int,
    concurrency: int,
    *,
    notify: str | None = None,
) -> HitblockPublication:
    """Publish every pending item of a hitblock: one balance check, one HIT type, then one
    CreateHITWithHITType per item, at most ``concurrency`` in flight.

    Each HIT is recorded as soon as MTurk answers, or ``GATHER`` seconds later with others
    (what has come back is committed while the next calls are in flight), so a crash leaves
    at most the calls in flight or just answered unrecorded, and their tokens find them
    again on the next post.
    """
    hitblock = find_hitblock(session, account_id, hitblock_id)
    _check_open(hitblock)
    questions = _pending_questions(session, hitblock)
    requests: list[HitRequest] = []
    recovered: dict[int, str] = {}
    if questions:
        with transaction(session):
            _check_funds(gateway, hitblock, len(questions))
            _ensure_hit_type(session, gateway, hitblock, notify)
            tokens = _assign_tokens(session, list(questions))
            requests = [
                HitRequest.of(hitblock, item_id, tokens[item_id][0], question)
                for item_id, question in questions.items()
            ]
        recovered = _recover_old_attempts(gateway, tokens)
        requests = [request for request in requests if request.item_id not in recovered]
    record = _Recorder(session, gateway, hitblock_id, account_id)
    record(recovered)
    published = dict(recovered)
    failed: list[PublishFailure] = []
    workers = max(1, concurrency)
    queue = iter(requests)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        # A window of calls, not all of them at once: if recording fails, the calls not yet
        # made are never made, and waiting costs the window's size, not the hitblock's.
        in_flight: dict[Future[CreatedHit], int] = {}
        try:
            while True:
                for request in islice(queue, 2 * workers - len(in_flight)):
                    in_flight[pool.submit(request.send, gateway)] = request.item_id
                if not in_flight:
                    break
                done = _answered(in_flight, workers)
                answered: dict[int, str] = {}
                for future in done:
                    item_id = in_flight.pop(future)
                    try:
                        answered[item_id] = future.result().hit_id
                    except MTurkError as error:
                        failed.append(PublishFailure(item_id, error))
                record(answered)
                published.update(answered)
        except BaseException:
            pool.shutdown(cancel_futures=True)  # the calls under way finish; no new one starts
            raise
    failed.sort(key=lambda failure: failure.item)
    if requests and not published:
        raise NothingPublished(failed)
    return HitblockPublication(
        find_hitblock(session, account_id, hitblock_id), sorted(published), failed
    )
