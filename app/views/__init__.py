"""Thin views: schema in, one service call, schema out. Views never commit."""

from __future__ import annotations

from typing import Any

from flask import g, request
from werkzeug.routing import BaseConverter, ValidationError

from app.pagination import Page
from app.schemas import MAX_ID

ID = "id"  # the converter of every id in a path: ``<id:item_id>``


class IdConverter(BaseConverter):
    """Ids are ASCII digits up to ``MAX_ID``; anything else is a 404, never a lookup.

    werkzeug's ``int`` converter takes any Unicode digit (``/v1/item/１`` would find item 1),
    and larger ids cannot exist (nor fit a database integer).
    """

    regex = r"[0-9]{1,10}"
    part_isolating = True

    def to_python(self, value: str) -> int:
        number = int(value)
        if number > MAX_ID:
            raise ValidationError()
        return number

    def to_url(self, value: Any) -> str:
        return str(int(value))


def id_param_schema(converter: IdConverter) -> dict[str, Any]:
    """How the OpenAPI document shows an id in a path."""
    return {"type": "integer", "minimum": 0, "maximum": MAX_ID}


def account_id() -> int:
    """The authenticated account of this request (set by the auth hook in ``app.http``)."""
    return int(g.account_id)


def as_list(page: Page[Any]) -> dict[str, Any]:
    return {"object": "list", "url": request.path, "has_more": page.has_more, "data": page.data}
