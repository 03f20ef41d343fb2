"""Thin views: schema in, one service call, schema out. Views never commit."""

from __future__ import annotations

from typing import Any

from flask import g, request

from app.pagination import Page

ID = "int(max=2147483647)"  # ids beyond a 32-bit integer cannot exist; answer 404, not 500


def account_id() -> int:
    """The authenticated account of this request (set by the auth hook in ``app.http``)."""
    return int(g.account_id)


def as_list(page: Page[Any]) -> dict[str, Any]:
    return {"object": "list", "url": request.path, "has_more": page.has_more, "data": page.data}
