"""Gold items and the gold policy at the service level, with a fake gateway."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from app.domain import InvalidInput, InvalidState
from app.models import Event, Response, WorkerExclusion
from app.services import gold, transaction
from app.services.hitblocks import create_hitblock, update_hitblock
from app.services.items import create_item
from app.services.publishing import post_hitblock
from app.services.responses import store_assignments
from mturk.gateway import MTurkRejected, MTurkUnavailable
from tests.helpers.crowd import add_hitblock, add_item, add_response, assignment
from tests.helpers.fake_gateway import FakeGateway

POLICY = {"min_accuracy": 0.8, "min_answers": 3}
SECRET = "GOLDEN-ANSWER-42"


@pytest.mark.parametrize(
    ("expected", "given", "match"),
    [
        ("Cat", " cat\n", True),
        ("Straße", "STRASSE", True),  # casefold, not lower
        ("cat", "dog", False),
        ("007", "7", False),  # a string gold compares as text
        (12, "12.00", True),  # a number compares by value
        (12, "12.5", False),
        (12, "twelve", False),
        (0.5, ".5", True),
        (True, "true", True),
        (True, True, True),
        (False, "true", False),
        ("cat", ["cat"], True),  # a one-value multi-select
        ("cat", ["cat", "dog"], False),
    ],
)
def test_answers_compare_normalised(expected, given, match):
    assert gold.matches(expected, given) is match


def test_every_gold_field_must_match():
    answer = {"label": "cat", "count": "3"}
    assert gold.score({"label": "CAT", "count": 3}, answer) is True
    assert gold.score({"label": "cat", "count": 4}, answer) is False
    assert gold.score({"label": "cat", "colour": "red"}, answer) is False  # unanswered


@pytest.mark.parametrize(
    ("value", "param"),
    [
        ({}, "gold"),
        ("cat", "gold"),
        ({"bad name": "x"}, "gold[bad name]"),
        ({"label\n": "x"}, "gold[label\n]"),  # matched whole: "$" lets a final newline in
        ({"label": None}, "gold[label]"),
        ({"label": ["a"]}, "gold[label]"),
        ({"label": "  "}, "gold[label]"),
        ({"label": "x" * 1001}, "gold[label]"),
        ({f"f{n}": "x" for n in range(21)}, "gold"),
    ],
)
def test_gold_is_checked(value, param):
    with pytest.raises(InvalidInput) as refused:
        gold.check_gold(value)
    assert refused.value.param == param


def store(session, item, hitblock, *assignments):
    with transaction(session):
        return store_assignments(session, item, hitblock, list(assignments))


def responses_of(session, worker_id):
    return session.scalars(
        select(Response).where(Response.worker_id == worker_id).order_by(Response.id)
    ).all()


def test_answers_to_gold_items_are_scored_as_they_arrive(session, account_id):
    hitblock = add_hitblock(session, account_id, type="image-transcription")
    golden = add_item(session, hitblock, gold={"transcription": "12.00"})
    plain = add_item(session, hitblock)
    store(
        session,
        golden,
        hitblock,
        assignment("HIT1", "W1", {"transcription": " 12.00 "}),
        assignment("HIT1", "W2", {"transcription": "13.00"}),
    )
    store(session, plain, hitblock, assignment("HIT2", "W1", {"transcription": "5"}))
    assert [r.gold_correct for r in responses_of(session, "W1")] == [True, None]
    assert [r.gold_correct for r in responses_of(session, "W2")] == [False]
    assert not any(r.flagged for r in session.scalars(select(Response)))  # no policy


def test_a_worker_failing_the_policy_is_excluded_and_their_pending_work_flagged(
    session, account_id
):
    hitblock = add_hitblock(session, account_id, type="image-transcription", gold_policy=POLICY)
    other = add_hitblock(session, account_id, type="image-transcription", gold_policy=POLICY)
    golds = [add_item(session, hitblock, gold={"transcription": "yes"}) for _ in range(3)]
    plain = add_item(session, hitblock)
    elsewhere = add_item(session, other)
    add_response(session, plain, "W1", {"transcription": "meh"})
    add_response(session, plain, "W1", {"transcription": "ok"}, status="approved")
    add_response(session, elsewhere, "W1", {"transcription": "meh"})
    for n, item in enumerate(golds):
        store(
            session,
            item,
            hitblock,
            assignment(f"HIT{n}", "W1", {"transcription": "yes" if n == 0 else "no"}),
            assignment(f"HIT{n}", "W2", {"transcription": "YES"}),
        )
        excluded = session.scalars(select(WorkerExclusion.worker_id)).all()
        # 1 of 2 right is 50%, but 2 gold answers are not enough to judge by
        assert excluded == ([] if n < 2 else ["W1"])
    [exclusion] = session.scalars(select(WorkerExclusion)).all()
    assert exclusion.hitblock_id == hitblock.id and exclusion.status == "pending"
    assert "1 of 3" in exclusion.reason
    flags = {(r.item_id, r.status): r.flagged for r in responses_of(session, "W1")}
    assert flags[(plain.id, "submitted")] is True
    assert flags[(plain.id, "approved")] is False  # only pending work is flagged
    assert flags[(elsewhere.id, "submitted")] is False  # another hitblock's work
    assert all(r.flagged for r in responses_of(session, "W1") if r.item_id in {g.id for g in golds})
    assert not any(r.flagged for r in responses_of(session, "W2"))
    [event] = session.scalars(select(Event).where(Event.type == "worker.excluded")).all()
    assert event.data["object"]["worker_id"] == "W1"
    assert event.data["object"]["gold_accuracy"] == pytest.approx(1 / 3, abs=1e-3)

    # Work the excluded worker had accepted before arrives flagged; no second exclusion.
    late = add_item(session, hitblock, gold={"transcription": "yes"})
    store(session, late, hitblock, assignment("HIT9", "W1", {"transcription": "no"}))
    assert responses_of(session, "W1")[-1].flagged is True
    assert session.scalars(select(Event).where(Event.type == "worker.excluded")).all() == [event]


def test_the_exclusion_reaches_mturk_after_commit_and_is_retried(session, account_id):
    hitblock = add_hitblock(session, account_id, gold_policy=POLICY)
    with transaction(session):
        session.add(WorkerExclusion(hitblock_id=hitblock.id, worker_id="W1", reason="r"))
    gateway = FakeGateway()
    assert gold.send_exclusions(session, gateway) == []
    assert gateway.calls == []  # no qualification type yet: nothing is published either
    with transaction(session):
        hitblock.exclusion_qualification_type_id = "QUAL1"
    gateway.fail_quality = MTurkUnavailable("down", "ServiceUnavailable")
    assert gold.send_exclusions(session, gateway) == ["exclusion of W1: down"]
    assert session.scalars(select(WorkerExclusion.status)).one() == "pending"
    gateway.fail_quality = None
    assert gold.send_exclusions(session, gateway) == []
    assert gateway.granted == {("QUAL1", "W1")}
    assert session.scalars(select(WorkerExclusion.status)).one() == "active"
    gateway.calls.clear()
    gold.send_exclusions(session, gateway)
    assert gateway.calls == []


def test_exclusions_mturk_refuses_fail_and_do_not_starve_newer_ones(session, account_id):
    """An exclusion MTurk refused (a worker id it does not know) would be refused again every
    cycle: it becomes failed with MTurk's error; one it merely failed to answer stays pending,
    and goes behind those not tried yet."""
    hitblock = add_hitblock(session, account_id, exclusion_qualification_type_id="QUAL1")
    with transaction(session):
        for worker_id in ["DOWN", *(f"BAD{n}" for n in range(4)), "GOOD"]:
            session.add(WorkerExclusion(hitblock_id=hitblock.id, worker_id=worker_id, reason="r"))
    tried = []

    class Gateway(FakeGateway):
        def grant_qualification(self, qualification_type_id, worker_id, value):
            tried.append(worker_id)
            if worker_id.startswith("BAD"):
                raise MTurkRejected("No such worker", "AWS.MechanicalTurk.WorkerDoesNotExist")
            if worker_id == "DOWN":
                raise MTurkUnavailable("down", "ServiceUnavailable")
            super().grant_qualification(qualification_type_id, worker_id, value)

    gateway = Gateway()
    for _ in range(3):  # three poll cycles of at most 2
        gold.send_exclusions(session, gateway, limit=2)
    assert tried == ["DOWN", "BAD0", "BAD1", "BAD2", "BAD3", "GOOD"]
    assert gateway.granted == {("QUAL1", "GOOD")}
    rows = {e.worker_id: e for e in session.scalars(select(WorkerExclusion))}
    assert {w: e.status for w, e in rows.items()} == {
        "DOWN": "pending",
        **{f"BAD{n}": "failed" for n in range(4)},
        "GOOD": "active",
    }
    assert (rows["BAD0"].error_code, rows["BAD0"].error_message) == (
        "AWS.MechanicalTurk.WorkerDoesNotExist",
        "No such worker",
    )
    assert rows["DOWN"].error_code is None and rows["GOOD"].applied is not None
    tried.clear()
    assert gold.send_exclusions(session, gateway) == ["exclusion of DOWN: down"]
    assert tried == ["DOWN"]  # failed ones are left


def make_published(session, account_id, gateway, **fields):
    hitblock = create_hitblock(
        session,
        account_id,
        {
            "type": "image-transcription",
            "title": "Receipts",
            "cost_per_item": Decimal("0.10"),
            "lifetime_in_seconds": 3600,
            "assignment_duration_in_seconds": 600,
            "auto_approval_delay_in_seconds": 3600,
            "qualification_requirements": [],
            **fields,
        },
    )
    create_item(
        session,
        account_id,
        hitblock.id,
        {"params": {"image_url": "https://example.org/1.jpg"}, "gold": {"transcription": SECRET}},
    )
    post_hitblock(session, gateway, account_id, hitblock.id, concurrency=1)
    return hitblock


def test_first_publish_adds_the_exclusion_requirement_under_a_policy(session, account_id):
    gateway = FakeGateway()
    hitblock = make_published(session, account_id, gateway, gold_policy=POLICY)
    assert hitblock.exclusion_qualification_type_id == "QUAL0000000000000000"
    [name] = gateway.qualification_types
    assert name.startswith(f"Hitblocks: excluded from hitblock {hitblock.id} (")
    [spec] = gateway.hit_type_specs
    assert spec.qualification_requirements == [
        {
            "qualification_type_id": "QUAL0000000000000000",
            "comparator": "DoesNotExist",
            "actions_guarded": "DiscoverPreviewAndAccept",
        }
    ]
    [hit] = gateway.hits.values()
    assert "https://example.org/1.jpg" in hit["question"]
    assert SECRET not in hit["question"]  # gold is never sent to MTurk

    plain = FakeGateway()
    make_published(session, account_id, plain)
    assert plain.qualification_types == {}
    assert plain.hit_type_specs[0].qualification_requirements == []


def test_when_a_gold_policy_may_change(session, account_id):
    gateway = FakeGateway()
    unlaunched = add_hitblock(session, account_id)
    changed = update_hitblock(session, account_id, unlaunched.id, {"gold_policy": POLICY})
    assert changed.gold_policy == POLICY
    assert (
        update_hitblock(session, account_id, unlaunched.id, {"gold_policy": None}).gold_policy
        is None
    )

    without = make_published(session, account_id, gateway)
    with pytest.raises(InvalidState) as refused:
        update_hitblock(session, account_id, without.id, {"gold_policy": POLICY})
    assert refused.value.param == "gold_policy"

    with_policy = make_published(session, account_id, gateway, gold_policy=POLICY)
    with pytest.raises(InvalidState):
        update_hitblock(session, account_id, with_policy.id, {"gold_policy": None})
    # New numbers apply to the gold answers already in.
    item = add_item(session, with_policy, gold={"transcription": "1"})
    add_response(session, item, "W7", {"transcription": "2"}, gold_correct=False)
    stricter = {"min_accuracy": 0.9, "min_answers": 1}
    assert update_hitblock(session, account_id, with_policy.id, {"gold_policy": stricter})
    assert session.scalars(select(WorkerExclusion.worker_id)).all() == ["W7"]
