"""Stripe-style keyset pagination: newest first, ``starting_after``/``ending_before`` by id."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select
from sqlalchemy.orm import InstrumentedAttribute

from app.extensions import DbSession

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    data: list[T]
    has_more: bool


def paginate(
    session: DbSession,
    stmt: Select[Any],
    id_column: InstrumentedAttribute[int],
    args: dict[str, Any],
) -> Page[Any]:
    """One indexed range scan per page, whatever the page's depth (no OFFSET).

    Cursors are plain ids, so a cursor object deleted in between still works as a bound.
    """
    limit = args["limit"]
    if args.get("ending_before") is not None:
        stmt = stmt.where(id_column > args["ending_before"]).order_by(id_column.asc())
    else:
        if args.get("starting_after") is not None:
            stmt = stmt.where(id_column < args["starting_after"])
        stmt = stmt.order_by(id_column.desc())
    rows = list(session.scalars(stmt.limit(limit + 1)).unique())
    has_more = len(rows) > limit
    rows = rows[:limit]
    if args.get("ending_before") is not None:
        rows.reverse()
    return Page(rows, has_more)
