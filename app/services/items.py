"""Items: one at a time or in all-or-nothing batches; read, list, delete."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from marshmallow import ValidationError, validate
from sqlalchemy import insert, select
from sqlalchemy.orm import contains_eager, joinedload, selectinload

from app.domain import BadRow, InvalidInput, InvalidRows, InvalidState, NotFound
from app.models import Hitblock, Item, utcnow
from app.pagination import Page, paginate
from app.schemas import gather_item_fields
from app.services import DbSession, gold, transaction
from app.services.hitblocks import count_items, find_hitblock
from app.templates import HITBLOCK_TYPES, required_fields

FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
MAX_FIELDS = 100
MAX_VALUE_LENGTH = 65_535
_http_url = validate.URL(schemes={"http", "https"}, require_tld=False)


@dataclass(frozen=True)
class FieldError:
    param: str | None
    message: str


@dataclass(frozen=True)
class ItemDraft:
    type: str
    params: dict[str, Any]
    gold: dict[str, Any] | None = None


class InvalidItem(Exception):
    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__(errors[0].message)
        self.errors = errors


def load_row(raw: Any) -> dict[str, Any]:
    """Read one batch row into ``{"type", "params"}``, as ``ItemCreateSchema`` reads a body."""
    if isinstance(raw, BadRow):
        raise InvalidItem([FieldError(None, raw.message)])
    if not isinstance(raw, dict):
        raise InvalidItem([FieldError(None, "An item must be an object of fields.")])
    try:
        loaded = gather_item_fields(raw)
    except ValidationError as exc:
        raise InvalidItem(_field_errors(exc.messages)) from None
    if not isinstance(loaded["params"], dict):
        raise InvalidItem([FieldError("params", "params must be an object of fields.")])
    if not isinstance(loaded.get("type", ""), str):
        raise InvalidItem([FieldError("type", "type must be a string.")])
    return loaded  # type: ignore[no-any-return]


@dataclass(frozen=True)
class ItemRules:
    """What a hitblock asks of its items, worked out once per request, not once per row."""

    hitblock_type: str
    item_type: str
    required: tuple[str, ...]

    @classmethod
    def of(cls, hitblock: Hitblock) -> ItemRules:
        hitblock_type = HITBLOCK_TYPES[hitblock.type]
        required = tuple(sorted(required_fields(hitblock_type, hitblock.template)))
        return cls(hitblock.type, hitblock_type.item_type, required)


def check_item(rules: ItemRules, loaded: dict[str, Any]) -> ItemDraft:
    """Check a loaded item against its hitblock's rules; raise InvalidItem listing every problem."""
    item_type = loaded.get("type") or rules.item_type
    errors: list[FieldError] = []
    if item_type != rules.item_type:
        errors.append(
            FieldError(
                "type",
                f"{rules.hitblock_type} hitblocks take {rules.item_type} items, not {item_type}.",
            )
        )
    params: dict[str, Any] = loaded["params"]
    if len(params) > MAX_FIELDS:
        errors.append(FieldError("params", f"An item may have at most {MAX_FIELDS} fields."))
    for name, value in params.items():
        errors.extend(_check_value(name, value))
    for name in rules.required:
        value = params.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            errors.append(FieldError(name, f"{name} is required by this hitblock's template."))
    if rules.item_type == "image" and isinstance(params.get("image_url"), str):
        try:
            _http_url(params["image_url"])
        except ValidationError:
            errors.append(FieldError("image_url", "image_url must be an http or https URL."))
    item_gold = None
    try:
        item_gold = gold.check_gold(loaded.get("gold"))
    except InvalidInput as exc:
        errors.append(FieldError(exc.param, exc.message))
    if errors:
        raise InvalidItem(errors)
    return ItemDraft(item_type, params, item_gold)


def _check_value(name: str, value: Any) -> list[FieldError]:
    if not FIELD_NAME.match(name):
        return [
            FieldError(
                name, f"{name!r} is not a field name (letters, digits and _, up to 64 long)."
            )
        ]
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return [FieldError(name, f"{name} must be a string or a number.")]
    if isinstance(value, str) and len(value) > MAX_VALUE_LENGTH:
        return [FieldError(name, f"{name} is longer than {MAX_VALUE_LENGTH} characters.")]
    return []


def _field_errors(messages: Any) -> list[FieldError]:
    if isinstance(messages, dict):
        return [
            FieldError(None if key == "_schema" else str(key), f"{key}: {' '.join(map(str, m))}")
            for key, m in messages.items()
        ]
    return [FieldError(None, " ".join(map(str, messages)))]


def _check_open(hitblock: Hitblock) -> None:
    """A canceled hitblock takes no items; a completed one does, and reopens when they are
    published."""
    if hitblock.status == "canceled":
        raise InvalidState(
            f"Hitblock {hitblock.id} is canceled and takes no new items.",
            code="hitblock_canceled",
        )


def find_item(
    session: DbSession, account_id: int, item_id: int, *, with_responses: bool = True
) -> Item:
    """The account's item (not deleted), or the same 404 as a missing one. Its responses
    come in the same statement: read apart, a commit landing between the two reads (an
    answer stored and the item completed) would show the answer beside the old status."""
    stmt = (
        select(Item)
        .join(Item.hitblock)
        .options(contains_eager(Item.hitblock))
        .where(Item.id == item_id, Hitblock.account_id == account_id, Item.status != "deleted")
    )
    if with_responses:
        stmt = stmt.options(joinedload(Item.responses))
    item = session.scalars(stmt).unique().one_or_none()
    if item is None:
        raise NotFound("item", item_id)
    return item


def create_item(
    session: DbSession, account_id: int, hitblock_id: int, fields: dict[str, Any]
) -> Item:
    with transaction(session):
        hitblock = find_hitblock(session, account_id, hitblock_id)
        _check_open(hitblock)
        try:
            draft = check_item(ItemRules.of(hitblock), fields)
        except InvalidItem as exc:
            first = exc.errors[0]
            raise InvalidInput(first.message, param=first.param) from None
        item = Item(hitblock=hitblock, type=draft.type, params=draft.params, gold=draft.gold)
        session.add(item)
        session.flush()
        item_id = item.id
        count_items(session, hitblock.id, items=1)
    return find_item(session, account_id, item_id)


def create_items_batch(
    session: DbSession,
    account_id: int,
    hitblock_id: int,
    rows: list[tuple[dict[str, int], Any]],
    max_rows: int,
) -> list[int]:
    """Create every row as an item, or none: one bad row rejects the batch, listing each error.

    ``rows`` pairs each row with where it came from (``{"index": i}`` or ``{"line": n}``).
    """
    if not rows:
        raise InvalidInput("The batch has no rows.", code="batch_empty")
    if len(rows) > max_rows:
        raise InvalidInput(
            f"The batch has {len(rows)} rows; at most {max_rows} are accepted per request.",
            code="batch_too_large",
        )
    with transaction(session):
        hitblock = find_hitblock(session, account_id, hitblock_id)
        _check_open(hitblock)
        drafts: list[ItemDraft] = []
        errors: list[dict[str, Any]] = []
        bad_rows = 0
        rules = ItemRules.of(hitblock)
        for where, raw in rows:
            try:
                drafts.append(check_item(rules, load_row(raw)))
            except InvalidItem as exc:
                bad_rows += 1
                errors.extend({**where, "param": e.param, "message": e.message} for e in exc.errors)
        if errors:
            raise InvalidRows(
                f"{bad_rows} of {len(rows)} rows are invalid; no item was created.", errors
            )
        created = utcnow()
        values = [
            {
                "hitblock_id": hitblock.id,
                "type": draft.type,
                "params": draft.params,
                "gold": draft.gold,
                "status": "pending",
                "cost": Decimal("0.00"),
                "created": created,
            }
            for draft in drafts
        ]
        # Core, not the ORM's bulk path: the same INSERT ... RETURNING at a third of the cost.
        stmt = insert(Item).returning(Item.id, sort_by_parameter_order=True)
        ids = list(session.connection().scalars(stmt, values))
        count_items(session, hitblock.id, items=len(ids))
    return ids


def list_items(
    session: DbSession, account_id: int, hitblock_id: int, args: dict[str, Any]
) -> Page[Item]:
    find_hitblock(session, account_id, hitblock_id)
    # The responses joined in the same statement (the page of items in a subquery), as
    # ``find_item`` does: a second SELECT could see an answer committed after the first.
    # The hitblock (its currency) comes apart, once, not repeated on every response's row.
    stmt = (
        select(Item)
        .where(Item.hitblock_id == hitblock_id, Item.status != "deleted")
        .options(joinedload(Item.responses), selectinload(Item.hitblock))
    )
    return paginate(session, stmt, Item.id, args)


def get_item(session: DbSession, account_id: int, item_id: int) -> Item:
    return find_item(session, account_id, item_id)
