"""Events: written in the transaction of the change they describe (an outbox).

Each is written only by the statement that actually changed the state (a conditional
UPDATE's rowcount, an INSERT that was not a duplicate), so a repeat or a second poller
never writes the same event twice.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import contains_eager, selectinload

from app.domain import NotFound
from app.models import Event, Hitblock, Item, Response
from app.pagination import Page, paginate
from app.schemas import HitblockSchema, ItemSchema, ResponseSchema
from app.services import DbSession
from app.services.deliveries import Destination, fan_out

# Made once: building a marshmallow schema costs more than a dump (a poll cycle in a burst
# dumps thousands of snapshots); dumping with a shared instance is safe across threads.
ITEMS = ItemSchema(many=True)
RESPONSE = ResponseSchema()
HITBLOCK = HitblockSchema()


def emit(
    session: DbSession,
    account_id: int,
    event_type: str,
    obj: dict[str, Any],
    callback_hitblock_id: int | None = None,
) -> None:
    """Write the event and its deliveries (webhook endpoints that want it; the hitblock's
    callback_url when one is given) in the caller's transaction."""
    emit_many(session, account_id, event_type, [obj], callback_hitblock_id)


def emit_many(
    session: DbSession,
    account_id: int,
    event_type: str,
    objects: list[dict[str, Any]],
    callback_hitblock_id: int | None = None,
    endpoints: list[Destination] | None = None,
) -> None:
    """One event per object, of one type: one flush and one look at the endpoints for all
    (none when the caller passes the ``endpoints`` it looked up for a run of batches)."""
    if not objects:
        return
    batch = [Event(account_id=account_id, type=event_type, data={"object": o}) for o in objects]
    session.add_all(batch)
    session.flush()
    fan_out(session, account_id, event_type, batch, callback_hitblock_id, endpoints)


def item_snapshots(session: DbSession, item_ids: list[int]) -> list[dict[str, Any]]:
    """The items as the API shows them (with their responses), read in one pass."""
    items = session.scalars(
        select(Item)
        .join(Item.hitblock)
        .options(contains_eager(Item.hitblock), selectinload(Item.responses))
        .where(Item.id.in_(item_ids))
        .order_by(Item.id)
        .execution_options(populate_existing=True)
    ).all()
    return ITEMS.dump(items)  # type: ignore[no-any-return]


def response_snapshot(session: DbSession, response_id: int) -> dict[str, Any]:
    response = session.scalars(
        select(Response).where(Response.id == response_id).execution_options(populate_existing=True)
    ).one()
    return RESPONSE.dump(response)  # type: ignore[no-any-return]


def hitblock_snapshot(session: DbSession, hitblock_id: int) -> dict[str, Any]:
    hitblock = session.scalars(
        select(Hitblock).where(Hitblock.id == hitblock_id).execution_options(populate_existing=True)
    ).one()
    return HITBLOCK.dump(hitblock)  # type: ignore[no-any-return]


def find_event(session: DbSession, account_id: int, event_id: int) -> Event:
    event = session.scalar(
        select(Event).where(Event.id == event_id, Event.account_id == account_id)
    )
    if event is None:
        raise NotFound("event", event_id)
    return event


def list_events(session: DbSession, account_id: int, args: dict[str, Any]) -> Page[Event]:
    stmt = select(Event).where(Event.account_id == account_id)
    if args.get("type"):
        stmt = stmt.where(Event.type == args["type"])
    return paginate(session, stmt, Event.id, args)
