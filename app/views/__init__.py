"""Thin views: schema in, one service call, schema out. Views never commit."""

from __future__ import annotations

from typing import Any

from flask import g, request

from app.pagination import Page
from app.schemas import MAX_ID

ID = f"int(max={MAX_ID})"  # larger ids cannot exist: answer 404, not a database overflow


def account_id() -> int:
    """The authenticated account of this request (set by the auth hook in ``app.http``)."""
    return int(g.account_id)


def as_list(page: Page[Any]) -> dict[str, Any]:
    return {"object": "list", "url": request.path, "has_more": page.has_more, "data": page.data}
