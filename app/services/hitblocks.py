"""Hitblocks: create, read, list, update."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, select, update
from sqlalchemy.orm import Session

from app.domain import InvalidInput, InvalidState, NotFound
from app.models import Hitblock, Item
from app.pagination import Page, paginate
from app.services import DbSession, gold, transaction
from app.templates import (
    HITBLOCK_TYPES,
    default_template,
    required_fields,
    submit_problem,
    submittable,
)
from mturk.crowd import refusal_message, refused_elements

# Fields that shape the HITs; they can change only before anything is published.
HIT_FIELDS = {
    "title",
    "description",
    "cost_per_item",
    "workers_per_item",
    "currency",
    "template",
    "labels",
    "lifetime_in_seconds",
    "assignment_duration_in_seconds",
    "auto_approval_delay_in_seconds",
    "keywords",
    "qualification_requirements",
}


# In a session's ``info``: how its transaction moves hitblocks' item counters, not written
# yet: hitblock id -> (items, completed).
ITEM_COUNTS = "hitblocks.item_counts"


def count_items(
    session: DbSession, hitblock_id: int, *, items: int = 0, completed: int = 0
) -> None:
    """Note how a change of the hitblock's items moves its counters, for the caller's
    transaction. Call it only for a change that happened (an INSERT, or a conditional UPDATE
    whose rowcount says so), so nothing is counted twice.

    The counters are written when the transaction commits (``write_item_counts``), hitblocks
    in id order: a transaction locks its hitblock rows last, so one that settles several
    items (a poll batch) never holds a hitblock while it waits for an item another holds."""
    counts = session.info.setdefault(ITEM_COUNTS, {})
    old_items, old_completed = counts.get(hitblock_id, (0, 0))
    counts[hitblock_id] = (old_items + items, old_completed + completed)


def write_item_counts(session: DbSession) -> None:
    """Write the counter changes noted in this transaction (before a commit, or before a
    read in the transaction that must see them)."""
    counts = session.info.pop(ITEM_COUNTS, None) or {}
    for hitblock_id, (items, completed) in sorted(counts.items()):
        if items or completed:
            session.execute(
                update(Hitblock)
                .where(Hitblock.id == hitblock_id)
                .values(
                    num_items=Hitblock.num_items + items,
                    num_items_completed=Hitblock.num_items_completed + completed,
                )
            )


@event.listens_for(Session, "before_commit")
def _write_counts_before_commit(session: Session) -> None:
    write_item_counts(session)


@event.listens_for(Session, "after_rollback")
def _forget_counts_after_rollback(session: Session) -> None:
    session.info.pop(ITEM_COUNTS, None)


def find_hitblock(session: DbSession, account_id: int, hitblock_id: int) -> Hitblock:
    """The account's hitblock, or the same 404 whether it is missing or someone else's."""
    stmt = select(Hitblock).where(Hitblock.id == hitblock_id, Hitblock.account_id == account_id)
    hitblock = session.scalar(stmt)
    if hitblock is None:
        raise NotFound("hitblock", hitblock_id)
    return hitblock


def create_hitblock(session: DbSession, account_id: int, fields: dict[str, Any]) -> Hitblock:
    hitblock_type = HITBLOCK_TYPES[fields["type"]]
    template = _template_for(hitblock_type.name, fields.get("template"), fields.get("labels"))
    with transaction(session):
        hitblock = Hitblock(account_id=account_id, **{**fields, "template": template})
        session.add(hitblock)
        session.flush()
        hitblock_id = hitblock.id
    return find_hitblock(session, account_id, hitblock_id)


def get_hitblock(session: DbSession, account_id: int, hitblock_id: int) -> Hitblock:
    return find_hitblock(session, account_id, hitblock_id)


def list_hitblocks(session: DbSession, account_id: int, args: dict[str, Any]) -> Page[Hitblock]:
    stmt = select(Hitblock).where(Hitblock.account_id == account_id)
    return paginate(session, stmt, Hitblock.id, args)


def update_hitblock(
    session: DbSession, account_id: int, hitblock_id: int, changes: dict[str, Any]
) -> Hitblock:
    with transaction(session):
        hitblock = find_hitblock(session, account_id, hitblock_id)
        if "type" in changes and changes["type"] != hitblock.type:
            raise InvalidInput(
                "The type of a hitblock cannot change; create a new one.", param="type"
            )
        changes.pop("type", None)
        if "gold_policy" in changes:
            _check_gold_policy_change(hitblock, changes["gold_policy"])
        shaping = sorted(HIT_FIELDS & changes.keys())
        if shaping and hitblock.status != "unlaunched":
            raise InvalidState(
                f"{shaping[0]} cannot change once the hitblock is {hitblock.status}.",
                param=shaping[0],
                code="hitblock_launched",
            )
        if "template" in changes or "labels" in changes:
            template = changes.get("template")
            if template is None and not _uses_default_template(hitblock):
                template = hitblock.template
            labels = changes.get("labels", hitblock.labels)
            changes["template"] = _template_for(hitblock.type, template, labels)
            _check_items_fit(session, hitblock, changes["template"])
        for name, value in changes.items():
            setattr(hitblock, name, value)
        if changes.get("gold_policy"):
            session.flush()
            gold.apply_policy(session, hitblock)  # new numbers apply to answers already in
    return find_hitblock(session, account_id, hitblock_id)


def _check_gold_policy_change(hitblock: Hitblock, policy: dict[str, Any] | None) -> None:
    """A gold policy is set before the first publish (that is when the HIT type gets the
    exclusion requirement); after it, only a policy that existed then may change its
    numbers."""
    if hitblock.hit_type_id is None:
        return
    if hitblock.exclusion_qualification_type_id is None:
        raise InvalidState(
            "A gold_policy can be set only before the hitblock is first published: its HITs "
            "were made without the exclusion requirement.",
            param="gold_policy",
            code="hitblock_launched",
        )
    if policy is None:
        raise InvalidState(
            "The gold_policy of a published hitblock can change its numbers but not be "
            "removed; set min_accuracy to 0 to exclude no one more.",
            param="gold_policy",
            code="hitblock_launched",
        )


def _template_for(type_name: str, template: str | None, labels: list[str] | None) -> str:
    """The template the hitblock will use: the requester's own, or the type's default."""
    hitblock_type = HITBLOCK_TYPES[type_name]
    if labels is not None and not hitblock_type.takes_labels:
        raise InvalidInput(
            f"labels apply only to classification types, not {type_name}.", param="labels"
        )
    if template is not None:
        check_template(template)
        return template
    if hitblock_type.body is None:
        raise InvalidInput(f"A template is required for {type_name} hitblocks.", param="template")
    if hitblock_type.takes_labels and not labels:
        raise InvalidInput(
            f"labels are required for {type_name} hitblocks that use the default template.",
            param="labels",
        )
    return default_template(hitblock_type, labels)


def check_template(template: str) -> None:
    """A requester's template must give workers a way to submit their answers to MTurk: as
    written, or once ``submittable`` adds MTurk's plumbing to its plain form (at render
    time; the template is kept as written). Its crowd elements must be ones the marketplace
    provides (``check_crowd_elements``), on the page as workers get it."""
    check_crowd_elements(template)
    problem = submit_problem(template)
    if problem is not None:
        raise InvalidInput(problem, param="template", code="template_cannot_submit")
    check_crowd_elements(submittable(template))  # crowd-html-elements.js may have been added


def check_crowd_elements(template: str) -> None:
    """A template that loads crowd-html-elements.js may use only the crowd elements the
    marketplace's stand-in provides: any other would show workers plain text and answer
    nothing, so it is refused up front, by name."""
    unknown = refused_elements(template)
    if unknown:
        raise InvalidInput(
            refusal_message(unknown, "The template"),
            param="template",
            code="unsupported_crowd_element",
        )


def _uses_default_template(hitblock: Hitblock) -> bool:
    """True when the hitblock kept its type's built-in template (so new labels rebuild it)."""
    hitblock_type = HITBLOCK_TYPES[hitblock.type]
    if hitblock_type.body is None:
        return False
    return hitblock.template == default_template(hitblock_type, hitblock.labels)


def _check_items_fit(session: DbSession, hitblock: Hitblock, template: str) -> None:
    """A new template may not ask existing items for fields they do not have."""
    needed = required_fields(HITBLOCK_TYPES[hitblock.type], template)
    if not needed:
        return
    params = session.scalars(
        select(Item.params).where(Item.hitblock_id == hitblock.id, Item.status != "deleted")
    )
    for item_params in params:
        missing = sorted(needed - item_params.keys())
        if missing:
            raise InvalidInput(
                f"The template needs {missing[0]}, which existing items do not have.",
                param="template",
            )
