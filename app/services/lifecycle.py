"""A hitblock's lifecycle: pause, resume, cancel, and what each does on MTurk.

- Pause (from in_progress) expires every open HIT: no worker can accept them any more, but
  a worker who had accepted can still submit, and the poller still collects that work.
- Resume (from paused) extends each of them again, by the lifetime it had left when paused
  (a HIT whose lifetime had run out by then stays expired, and its item settles expired).
- Cancel (from unlaunched, in_progress or paused) expires every open HIT for good. Items
  not yet published stay pending, and publishing a paused or canceled hitblock is refused.

Crash safety: pause and cancel commit the new status (and their event) before calling
MTurk, so repeating the call (allowed on a hitblock already paused or canceled) expires
whatever is still open. Resume calls MTurk first and commits after: while the hitblock is
still paused the poller never settles its expired HITs as expired, and a repeat extends
each HIT again, later than before, which MTurk allows.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from functools import partial

from sqlalchemy import exists, select, update

from app.domain import InvalidState
from app.models import Hitblock, Item, utcnow
from app.services import DbSession, events, transaction
from app.services.hitblocks import find_hitblock
from mturk.gateway import INVALID_HIT_STATE, MTurkError, MTurkGateway

PAUSABLE = {"in_progress", "paused"}  # paused: a repeat, that expires what is still open
CANCELABLE = {"unlaunched", "in_progress", "paused", "canceled"}  # canceled: a repeat


def _open_hits(session: DbSession, hitblock_id: int) -> list[str]:
    """HITs of the hitblock's published items (the poller has not settled them yet)."""
    hit_ids = session.scalars(
        select(Item.hit_id)
        .where(Item.hitblock_id == hitblock_id, Item.status == "published")
        .order_by(Item.id)
    )
    return [hit_id for hit_id in hit_ids if hit_id]


def _on_each(calls: list[Callable[[], None]], concurrency: int) -> None:
    """Make the MTurk calls, at most ``concurrency`` at once; all are tried, then the first
    failure is raised (the caller's retry makes them again). A HIT MTurk already disposed of
    needs nothing more."""

    def attempt(call: Callable[[], None]) -> MTurkError | None:
        try:
            call()
        except MTurkError as error:
            return None if error.code == INVALID_HIT_STATE else error
        return None

    if not calls:
        return
    with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(calls)))) as pool:
        failures = [error for error in pool.map(attempt, calls) if error is not None]
    if failures:
        raise failures[0]


def _transition(
    session: DbSession, hitblock: Hitblock, sources: set[str], target: str, **values: object
) -> bool:
    """Move the hitblock to ``target`` only from ``sources`` (a conditional UPDATE, so two
    requests at once write one event), with its ``hitblock.<target>`` event."""
    changed = session.execute(
        update(Hitblock)
        .where(Hitblock.id == hitblock.id, Hitblock.status.in_(sources))
        .values(status=target, **values)
    ).rowcount  # type: ignore[attr-defined]
    if changed:
        snapshot = events.hitblock_snapshot(session, hitblock.id)
        event_type = {"in_progress": "hitblock.resumed"}.get(target, f"hitblock.{target}")
        events.emit(session, hitblock.account_id, event_type, snapshot)
    return bool(changed)


def _refuse(hitblock: Hitblock, action: str) -> InvalidState:
    return InvalidState(
        f"Hitblock {hitblock.id} is {hitblock.status}; it cannot be {action}.",
        code=f"hitblock_{hitblock.status}",
    )


def pause_hitblock(
    session: DbSession, gateway: MTurkGateway, account_id: int, hitblock_id: int, concurrency: int
) -> Hitblock:
    """Pause: the status first, then one UpdateExpirationForHIT (to now) per open HIT."""
    with transaction(session):
        hitblock = find_hitblock(session, account_id, hitblock_id)
        if hitblock.status not in PAUSABLE:
            raise _refuse(hitblock, "paused")
        _transition(session, hitblock, {"in_progress"}, "paused", paused_at=utcnow())
        hit_ids = _open_hits(session, hitblock_id)
    _on_each([partial(gateway.expire_hit, h) for h in hit_ids], concurrency)
    return find_hitblock(session, account_id, hitblock_id)


def resume_hitblock(
    session: DbSession, gateway: MTurkGateway, account_id: int, hitblock_id: int, concurrency: int
) -> Hitblock:
    """Resume: one UpdateExpirationForHIT per open HIT that had lifetime left, to now plus
    what it had left; then the status, and each HIT's new expiration, are recorded."""
    hitblock = find_hitblock(session, account_id, hitblock_id)
    if hitblock.status != "paused":
        raise _refuse(hitblock, "resumed")
    now = utcnow()
    paused_at = hitblock.paused_at or now
    lifetime = timedelta(seconds=hitblock.lifetime_in_seconds)
    plan: dict[int, tuple[str, datetime]] = {}
    rows = session.execute(
        select(Item.id, Item.hit_id, Item.published, Item.expires).where(
            Item.hitblock_id == hitblock_id, Item.status == "published"
        )
    )
    for item_id, hit_id, published, expires in rows:
        if hit_id is None or published is None:
            continue
        left = (expires or published + lifetime) - paused_at
        if left > timedelta(0):
            plan[item_id] = (hit_id, now + left)
    session.rollback()  # end the read; nothing is written until MTurk has answered
    _on_each([partial(gateway.extend_hit, h, at) for h, at in plan.values()], concurrency)
    with transaction(session):
        hitblock = find_hitblock(session, account_id, hitblock_id)
        if _transition(session, hitblock, {"paused"}, "in_progress", paused_at=None):
            for item_id, (_, expires) in plan.items():
                session.execute(update(Item).where(Item.id == item_id).values(expires=expires))
            _complete_if_settled(session, hitblock)
    return find_hitblock(session, account_id, hitblock_id)


def _complete_if_settled(session: DbSession, hitblock: Hitblock) -> None:
    """Every item settled while it was paused: the resumed hitblock is completed (the poller,
    which completes hitblocks, left it alone while it was paused)."""
    still_open = session.scalar(
        select(
            exists().where(
                Item.hitblock_id == hitblock.id, Item.status.in_(("pending", "published"))
            )
        )
    )
    if not still_open:
        _transition(session, hitblock, {"in_progress"}, "completed")


def cancel_hitblock(
    session: DbSession, gateway: MTurkGateway, account_id: int, hitblock_id: int, concurrency: int
) -> Hitblock:
    """Cancel: the status first, then one UpdateExpirationForHIT (to now) per open HIT.
    Submitted work is kept and still collected; pending items are never published."""
    with transaction(session):
        hitblock = find_hitblock(session, account_id, hitblock_id)
        if hitblock.status not in CANCELABLE:
            raise _refuse(hitblock, "canceled")
        _transition(session, hitblock, CANCELABLE - {"canceled"}, "canceled", paused_at=None)
        hit_ids = _open_hits(session, hitblock_id)
    _on_each([partial(gateway.expire_hit, h) for h in hit_ids], concurrency)
    return find_hitblock(session, account_id, hitblock_id)
