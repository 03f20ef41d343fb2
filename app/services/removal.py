"""Deleting items: a published one's HIT is expired, its work collected, then deleted on MTurk
when MTurk allows it."""

from __future__ import annotations

from typing import Any

from app.errors import mturk_error
from app.services import DbSession, transaction
from app.services.items import find_item
from app.services.polling import collect, mark_done
from mturk.gateway import MTurkError, MTurkGateway


def delete_item(
    session: DbSession, gateway: MTurkGateway, account_id: int, item_id: int
) -> dict[str, Any]:
    """Mark the item deleted; its row and its responses stay, so no worker's work is lost.

    A published item's HIT is expired first and the work already submitted is stored; the HIT
    is deleted on MTurk when MTurk allows it (not while work awaits review or is in progress:
    the poller collects that later). If MTurk cannot be reached, nothing changes.
    """
    item = find_item(session, account_id, item_id, with_responses=False)
    hit_id = item.hit_id
    if hit_id is not None:
        try:
            gateway.expire_hit(hit_id)
            collect(session, gateway, item_id, hit_id, None)
            disposed = gateway.delete_hit(hit_id)
        except MTurkError as error:
            raise mturk_error(error) from error
    with transaction(session):
        item = find_item(session, account_id, item_id, with_responses=False)
        item.status = "deleted"
    if hit_id is not None and disposed:
        mark_done(session, item_id)
    return {"deleted": True, "id": item_id}
