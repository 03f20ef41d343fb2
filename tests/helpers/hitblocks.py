"""A hitblock with items stored directly, for service tests that need no HTTP."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from app.models import Hitblock, Item

DEFAULTS: dict[str, Any] = {
    "type": "image-transcription",
    "title": "Receipts",
    "cost_per_item": Decimal("0.10"),
    "template": "<form><img src='${image_url}'><button>Submit</button></form>",
    "lifetime_in_seconds": 3600,
    "assignment_duration_in_seconds": 600,
    "auto_approval_delay_in_seconds": 0,
    "qualification_requirements": [],
}


def add_hitblock(session: Any, account_id: int, items: int = 3, **fields: Any) -> int:
    """An image-transcription hitblock of ``items`` pending items; its id. ``fields`` set or
    override the hitblock's columns."""
    hitblock = Hitblock(account_id=account_id, **{**DEFAULTS, **fields})
    session.add(hitblock)
    session.add_all(
        Item(hitblock=hitblock, type="image", params={"image_url": f"https://e.org/{n}.jpg"})
        for n in range(items)
    )
    session.commit()
    return hitblock.id
