"""Crowds for quality tests: responses written straight into the database (fast), and a
synthetic crowd whose true answers are known."""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any
from xml.sax.saxutils import escape

from app.models import Hitblock, Item, Response, utcnow
from app.services import transaction
from mturk.gateway import AssignmentInfo

_assignments = itertools.count(1)


def add_hitblock(session: Any, account_id: int, **fields: Any) -> Hitblock:
    values: dict[str, Any] = {
        "type": "image-classification",
        "title": "Animals",
        "cost_per_item": Decimal("0.10"),
        "workers_per_item": 5,
        "template": '<crowd-form><img src="${image_url}"></crowd-form>',
        "labels": ["cat", "dog", "bird"],
        "lifetime_in_seconds": 3600,
        "assignment_duration_in_seconds": 600,
        "auto_approval_delay_in_seconds": 86400,
        "qualification_requirements": [],
        **fields,
    }
    with transaction(session):
        hitblock = Hitblock(account_id=account_id, **values)
        session.add(hitblock)
    return hitblock


def add_item(session: Any, hitblock: Hitblock, gold: dict[str, Any] | None = None) -> Item:
    with transaction(session):
        item = Item(
            hitblock_id=hitblock.id,
            type="image",
            params={"image_url": "https://example.org/a.jpg"},
            status="published",
            gold=gold,
        )
        session.add(item)
    return item


def add_response(
    session: Any,
    item: Item,
    worker_id: str,
    data: dict[str, Any],
    status: str = "submitted",
    seconds: float = 30.0,
    **fields: Any,
) -> Response:
    submitted = utcnow()
    with transaction(session):
        response = Response(
            item_id=item.id,
            assignment_id=f"ASSIGNMENT{next(_assignments):010d}",
            worker_id=worker_id,
            status=status,
            data=data,
            accepted=submitted - timedelta(seconds=seconds),
            submitted=submitted,
            **fields,
        )
        session.add(response)
    return response


@dataclass(frozen=True)
class Crowd:
    truth: dict[int, str]  # item id -> the true label
    unreliable: set[str]


def synthetic_crowd(
    session: Any,
    hitblock: Hitblock,
    *,
    items: int = 60,
    per_item: int = 5,
    pool: int = 15,
    accuracy: float = 0.85,
    seed: int = 12,
) -> Crowd:
    """A third of the pool answers adversarially (never the true label); the others are
    right with ``accuracy``, else pick a wrong label at random. Rows are inserted in bulk."""
    rng = random.Random(seed)
    labels = ["cat", "dog", "bird"]
    workers = [f"W{n:03d}" for n in range(pool)]
    unreliable = set(workers[: pool // 3])
    now = utcnow()
    item_rows = [
        {"hitblock_id": hitblock.id, "type": "image", "params": {"n": n}, "status": "completed"}
        for n in range(items)
    ]
    with transaction(session):
        item_ids = [
            session.scalar(Item.__table__.insert().returning(Item.id), row) for row in item_rows
        ]
        truth = {item_id: rng.choice(labels) for item_id in item_ids}
        responses = []
        for item_id in item_ids:
            for worker in rng.sample(workers, per_item):
                wrong = [label for label in labels if label != truth[item_id]]
                if worker in unreliable:
                    answer = rng.choice(wrong)
                else:
                    answer = truth[item_id] if rng.random() < accuracy else rng.choice(wrong)
                responses.append(
                    {
                        "item_id": item_id,
                        "assignment_id": f"ASSIGNMENT{next(_assignments):010d}",
                        "worker_id": worker,
                        "status": "submitted",
                        "data": {"label": answer},
                        "answer_xml": "",
                        "accepted": now - timedelta(seconds=20),
                        "submitted": now,
                        "cost": Decimal("0.00"),
                        "created": now,
                        "flagged": False,
                    }
                )
        session.execute(Response.__table__.insert(), responses)
    return Crowd(truth, unreliable)


ANSWERS_NS = (
    "http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2005-10-01/"
    "QuestionFormAnswers.xsd"
)


def answer_xml(fields: dict[str, str]) -> str:
    """MTurk's QuestionFormAnswers for plain form fields."""
    answers = "".join(
        f"<Answer><QuestionIdentifier>{name}</QuestionIdentifier>"
        f"<FreeText>{escape(value)}</FreeText></Answer>"
        for name, value in fields.items()
    )
    return f'<QuestionFormAnswers xmlns="{ANSWERS_NS}">{answers}</QuestionFormAnswers>'


def assignment(
    hit_id: str, worker_id: str, fields: dict[str, str], status: str = "Submitted"
) -> AssignmentInfo:
    now = utcnow()
    return AssignmentInfo(
        assignment_id=f"ASSIGNMENT{next(_assignments):010d}",
        worker_id=worker_id,
        hit_id=hit_id,
        status=status,
        answer=answer_xml(fields),
        accepted=now - timedelta(seconds=40),
        submitted=now,
        auto_approval_due=None,
    )
