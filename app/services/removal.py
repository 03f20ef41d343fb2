"""Deleting items: the item's HIT (if it ever got one) is expired, its work collected, then
deleted on MTurk when MTurk allows it."""

from __future__ import annotations

from sqlalchemy import func, select, update

from app.domain import Deleted, NotFound
from app.models import Item
from app.services import DbSession, transaction
from app.services.hitblocks import count_items
from app.services.items import find_item
from app.services.polling import collect, mark_done
from app.services.publishing import annotation
from mturk.gateway import MTurkGateway


def delete_item(
    session: DbSession, gateway: MTurkGateway, account_id: int, item_id: int
) -> Deleted:
    """Mark the item deleted; its row and its responses stay, so no worker's work is lost.

    A published item's HIT is expired first and the work already submitted is stored; the HIT
    is deleted on MTurk when MTurk allows it (not while work awaits review or is in progress:
    the poller collects that later). A pending item that was given a request token may have
    a HIT that a crashed publish never recorded: it is looked up by its RequesterAnnotation
    and treated the same way, and recorded on the item only with the deletion. If MTurk
    cannot be reached, the item stays as it was.
    """
    item = find_item(session, account_id, item_id, with_responses=False)
    hit_id = item.hit_id
    if hit_id is None and item.unique_request_token is not None:
        name = annotation(item_id, item.unique_request_token)
        hit_id = gateway.hits_by_annotation({name}).get(name)
    disposed = False
    if hit_id is not None:
        gateway.expire_hit(hit_id)
        collect(session, gateway, item_id, hit_id, None)
        disposed = gateway.delete_hit(hit_id)
    with transaction(session):
        find_item(session, account_id, item_id, with_responses=False)  # still theirs, still there
        _mark_deleted(session, item_id, hit_id)
    if disposed:
        mark_done(session, item_id)
    return Deleted(item_id)


def _mark_deleted(session: DbSession, item_id: int, hit_id: str | None) -> None:
    """Set the item deleted (keeping the HIT found for it: the poller collects what still
    reaches an undisposed HIT) and take it out of its hitblock's counters, once.

    The UPDATE is conditional on the status just read, so a concurrent delete or settle
    (published to completed) is seen and read again, never miscounted. It ends: an item's
    status only moves forward, to deleted at the latest."""
    while True:
        status, hitblock_id = session.execute(
            select(Item.status, Item.hitblock_id).where(Item.id == item_id)
        ).one()
        if status == "deleted":
            raise NotFound("item", item_id)  # a concurrent delete came first
        changed = session.execute(
            update(Item)
            .where(Item.id == item_id, Item.status == status)
            .values(status="deleted", hit_id=func.coalesce(Item.hit_id, hit_id)),
            execution_options={"synchronize_session": False},
        ).rowcount  # type: ignore[attr-defined]
        if changed:
            completed = -1 if status == "completed" else 0
            count_items(session, hitblock_id, items=-1, completed=completed)
            return
