"""The console's figures for hitblocks: progress by item, spend against the estimate, and
the rate of work coming in; for all of an account's hitblocks in three SQL statements,
however many there are.

Each item (deleted ones aside) counts in exactly one part of the progress bar:

- ``pending``: not published yet;
- ``published``: on MTurk, no response yet;
- ``submitted``: at least one response waits for a review decision;
- ``reviewed``: has responses, all decided, and its HIT still takes more;
- ``completed``: has responses, all decided, and takes no more (every worker it asked for
  answered, or its HIT ended short: expired, paused or canceled, then settled);
- ``expired``: its HIT ended with no response at all.

The estimate is what the hitblock costs when every assignment is approved: items x
workers_per_item x (reward + MTurk's fee), the fee as ``mturk.fees`` computes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, case, func, select

from app.domain import NotFound
from app.models import Hitblock, Item, Response, utcnow
from app.services import DbSession, transaction
from mturk.fees import hit_cost

PARTS = ("completed", "reviewed", "submitted", "published", "pending", "expired")
MEANINGS = {
    "pending": "not published yet",
    "published": "on MTurk, no response yet",
    "submitted": "responses waiting for review",
    "reviewed": "all responses decided, more to come",
    "completed": "all responses in and decided",
    "expired": "ended with no response",
}


@dataclass(frozen=True)
class Segment:
    """One part of a progress bar: its count, and where it stands on a 0-100 scale."""

    part: str
    count: int
    start: float
    width: float
    meaning: str


@dataclass
class Progress:
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(PARTS, 0))

    @property
    def items(self) -> int:
        return sum(self.counts.values())

    def segments(self) -> list[Segment]:
        """The parts in bar order, each with its share (the bar is empty with no items)."""
        total = self.items
        segments, start = [], 0.0
        for part in PARTS:
            count = self.counts[part]
            width = 100.0 * count / total if total else 0.0
            segments.append(Segment(part, count, round(start, 3), round(width, 3), MEANINGS[part]))
            start += width
        return segments

    def describe(self) -> str:
        """The bar in words, for screen readers."""
        if not self.items:
            return "No items yet."
        parts = [f"{self.counts[p]} {p}" for p in PARTS if self.counts[p]]
        return f"{self.items} item{'s' if self.items != 1 else ''}: " + ", ".join(parts) + "."


@dataclass
class HitblockFigures:
    hitblock: Hitblock
    progress: Progress = field(default_factory=Progress)
    responses: int = 0
    awaiting_review: int = 0
    last_hour: int = 0
    last_day: int = 0

    @property
    def spent(self) -> Decimal:
        return self.hitblock.total_spent

    @property
    def estimate(self) -> Decimal:
        per_item = hit_cost(self.hitblock.cost_per_item, self.hitblock.workers_per_item)
        return per_item * self.progress.items

    @property
    def spent_share(self) -> float:
        """Spend as a percentage of the estimate (may pass 100: bonuses, added items)."""
        return float(100 * self.spent / self.estimate) if self.estimate else 0.0


def _part() -> Any:
    """The progress part of an item, in SQL (see the module's note)."""
    answered = func.coalesce(func.count(Response.id), 0)
    waiting = func.coalesce(func.sum(case((Response.status == "submitted", 1), else_=0)), 0)
    return case(
        (waiting > 0, "submitted"),
        (Item.status == "pending", "pending"),
        (and_(Item.status == "published", answered == 0), "published"),
        (Item.status == "published", "reviewed"),
        (answered == 0, "expired"),
        else_="completed",
    )


def figures(
    session: DbSession, account_id: int, hitblock_id: int | None = None
) -> list[HitblockFigures]:
    """The figures of every hitblock of the account, newest first (or of one: 404 when it
    is missing or another account's)."""
    scope = [Hitblock.account_id == account_id]
    if hitblock_id is not None:
        scope.append(Hitblock.id == hitblock_id)
    with transaction(session):
        hitblocks = session.scalars(select(Hitblock).where(*scope).order_by(Hitblock.id.desc()))
        found = {h.id: HitblockFigures(h) for h in hitblocks}
        for entry in found.values():  # as read: the commit must not expire them (a reload each)
            session.expunge(entry.hitblock)
        if hitblock_id is not None and not found:
            raise NotFound("hitblock", hitblock_id)
        if not found:
            return []
        per_item = (
            select(Item.hitblock_id.label("hitblock_id"), _part().label("part"))
            .join(Hitblock, Hitblock.id == Item.hitblock_id)
            .outerjoin(Response, Response.item_id == Item.id)
            .where(*scope, Item.status != "deleted")
            .group_by(Item.id, Item.hitblock_id, Item.status)
            .subquery()
        )
        parts = session.execute(
            select(per_item.c.hitblock_id, per_item.c.part, func.count()).group_by(
                per_item.c.hitblock_id, per_item.c.part
            )
        )
        for owner, part, count in parts:
            found[owner].progress.counts[part] = count
        now = utcnow()
        hour, day = now - timedelta(hours=1), now - timedelta(days=1)
        rates = session.execute(
            select(
                Item.hitblock_id,
                func.count(Response.id),
                func.sum(case((Response.status == "submitted", 1), else_=0)),
                func.sum(case((Response.submitted >= hour, 1), else_=0)),
                func.sum(case((Response.submitted >= day, 1), else_=0)),
            )
            .join(Item, Item.id == Response.item_id)
            .join(Hitblock, Hitblock.id == Item.hitblock_id)
            .where(*scope)
            .group_by(Item.hitblock_id)
        )
        for owner, responses, waiting, last_hour, last_day in rates:
            entry = found[owner]
            entry.responses, entry.awaiting_review = int(responses), int(waiting or 0)
            entry.last_hour, entry.last_day = int(last_hour or 0), int(last_day or 0)
    return list(found.values())


def hitblock_figures(session: DbSession, account_id: int, hitblock_id: int) -> HitblockFigures:
    [entry] = figures(session, account_id, hitblock_id)
    return entry
