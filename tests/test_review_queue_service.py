"""The review queue's service on its own, with a fake gateway: what a reviewer sees of one
response (task page, answer as written, other answers, the worker's record, queue position)
in a fixed number of SQL statements, the queue's order, and decisions, bulk approval of
exactly the responses selected included."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select

from app.domain import Conflict, InvalidInput, NotFound
from app.models import Bonus, Hitblock, Item, Response, utcnow
from app.services import responses, review_queue
from app.services.accounts import create_key
from app.services.responses import Decision
from app.services.review_queue import answer_fields, format_value
from mturk.gateway import MTurkUnavailable
from tests.helpers.fake_gateway import ReviewGateway

TEMPLATE = """<form>
<img src="${image_url}" alt="">
<p>${description}</p>
<label>Total <input name="total"></label>
<label>Transcription <textarea name="transcription"></textarea></label>
<label><input type="checkbox" name="tags" value="food"> food</label>
<label><input type="checkbox" name="tags" value="fuel"> fuel</label>
<button>Submit</button>
</form>"""


def add_hitblock(session, account_id, template=TEMPLATE, **fields) -> Hitblock:
    hitblock = Hitblock(
        account_id=account_id,
        type="image-transcription",
        title="Receipts",
        cost_per_item=Decimal("0.10"),
        template=template,
        lifetime_in_seconds=3600,
        assignment_duration_in_seconds=600,
        auto_approval_delay_in_seconds=3600,
        qualification_requirements=[],
        status="in_progress",
        **fields,
    )
    session.add(hitblock)
    session.flush()
    return hitblock


def add_item(session, hitblock, number=0) -> Item:
    item = Item(
        hitblock_id=hitblock.id,
        type="image",
        params={"image_url": f"https://e.org/{number}.jpg", "description": "A <b>receipt</b>"},
        status="published",
    )
    session.add(item)
    session.flush()
    return item


_assignments = iter(range(1, 1_000_000))


def add_response(session, item, worker="AWORKER1", data=None, minutes_ago=10, **fields):
    response = Response(
        item_id=item.id,
        assignment_id=f"ASSIGNMENT{next(_assignments):08d}",
        worker_id=worker,
        data=data if data is not None else {"transcription": "total 12.00"},
        submitted=utcnow() - timedelta(minutes=minutes_ago),
        accepted=utcnow() - timedelta(minutes=minutes_ago + 1),
        **fields,
    )
    session.add(response)
    session.flush()
    return response


@contextmanager
def counted(session) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(connection: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    engine = session.get_bind()
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


# ---- formatting ----------------------------------------------------------------------------


def test_answers_read_as_written_not_as_json_escapes():
    assert format_value("line one\nline two") == "line one\nline two"
    assert format_value(["food", "fuel"]) == "food\nfuel"
    assert format_value({"label": "café"}) == '{\n  "label": "café"\n}'
    assert format_value(True) == "true" and format_value(3) == "3"
    fields = answer_fields(
        {"transcription": "a\nb", "total": "12.00", "extra": "x"}, ("total", "transcription")
    )
    assert [(f.name, f.value, f.multiline) for f in fields] == [
        ("total", "12.00", False),
        ("transcription", "a\nb", True),
        ("extra", "x", False),
    ]


# ---- one response --------------------------------------------------------------------------


def test_one_response_with_all_a_reviewer_needs_in_five_statements(session, account_id):
    hitblock = add_hitblock(session, account_id)
    item = add_item(session, hitblock)
    answer = {"transcription": "Coffee 3.00\nCake 9.00", "tags": ["food"], "total": "12.00"}
    oldest = add_response(session, add_item(session, hitblock, 1), "AWORKER8", minutes_ago=30)
    mine = add_response(session, item, "AWORKER1", answer, minutes_ago=20)
    same = add_response(session, item, "AWORKER2", dict(answer), minutes_ago=15)
    differs = add_response(session, item, "AWORKER3", {"total": "21.00"}, minutes_ago=12)
    newest = add_response(session, add_item(session, hitblock, 2), "AWORKER9", minutes_ago=5)
    # The worker's record: this account's responses only, reviewed ones make the rate.
    elsewhere = add_item(session, add_hitblock(session, account_id))
    add_response(session, elsewhere, "AWORKER1", status="approved")
    add_response(session, elsewhere, "AWORKER1", status="approved")
    add_response(session, elsewhere, "AWORKER1", status="rejected")
    other_account = create_key(session, "globex").account_id
    add_response(session, add_item(session, add_hitblock(session, other_account)), "AWORKER1")
    session.commit()
    mine_id = mine.id  # read before counting: the commit expired it

    with counted(session) as statements:
        review = review_queue.review_of(session, account_id, mine_id)
    assert len(statements) == 5, statements

    assert [(f.name, f.value) for f in review.answer] == [
        ("total", "12.00"),
        ("transcription", "Coffee 3.00\nCake 9.00"),
        ("tags", "food"),
    ]
    assert [f.multiline for f in review.answer] == [False, True, False]
    assert [(o.response_id, o.worker_id, o.agrees) for o in review.others] == [
        (same.id, "AWORKER2", True),
        (differs.id, "AWORKER3", False),
    ]
    worker = review.worker
    assert (worker.responses, worker.approved, worker.rejected, worker.submitted) == (4, 2, 1, 1)
    assert worker.in_hitblock == 1 and worker.approval_rate == pytest.approx(2 / 3)
    # Queue: oldest first; this one is second of five.
    assert review.queue.position == 2 and review.queue.remaining == 5
    assert (review.queue.previous_id, review.queue.next_id) == (oldest.id, same.id)
    # The task as the worker saw it: fields filled in and escaped, MTurk's plumbing added.
    assert review.task_html is not None and review.task_problem is None
    assert 'src="https://e.org/0.jpg"' in review.task_html
    assert "A &lt;b&gt;receipt&lt;/b&gt;" in review.task_html
    assert "externalSubmit" in review.task_html and "<HTMLQuestion" not in review.task_html
    assert [(f.name, f.image) for f in review.item_fields] == [
        ("image_url", True),
        ("description", False),
    ]
    assert review.gold_correct is None and review.bonuses == []

    # More responses of the item, of the worker, in the queue: still five statements.
    for n in range(20):
        add_response(session, item, f"AWORKER{n + 10}")
        add_response(session, add_item(session, hitblock, n + 10), "AWORKER1")
    session.commit()
    newest_id = newest.id
    with counted(session) as statements:
        review = review_queue.review_of(session, account_id, newest_id)
    assert len(statements) == 5
    assert review.queue.next_id is None and review.queue.position == review.queue.remaining == 45


def test_a_reviewed_response_is_out_of_the_queue_but_knows_what_comes_next(session, account_id):
    hitblock = add_hitblock(session, account_id)
    first = add_response(session, add_item(session, hitblock), minutes_ago=30)
    second = add_response(session, add_item(session, hitblock, 1), minutes_ago=20)
    third = add_response(session, add_item(session, hitblock, 2), minutes_ago=10)
    second.status = "approved"
    session.commit()
    queue = review_queue.review_of(session, account_id, second.id).queue
    assert (queue.position, queue.remaining) == (None, 2)
    assert (queue.previous_id, queue.next_id) == (first.id, third.id)


def test_another_accounts_response_is_not_found(session, account_id):
    other = create_key(session, "globex").account_id
    response = add_response(session, add_item(session, add_hitblock(session, other)))
    session.commit()
    with pytest.raises(NotFound):
        review_queue.review_of(session, account_id, response.id)
    with pytest.raises(NotFound):
        review_queue.task_of(session, account_id, response.id)


def test_a_task_that_cannot_render_leaves_the_items_fields(session, account_id):
    hitblock = add_hitblock(session, account_id, template="<p>${image_url}</p>")  # no form
    response = add_response(session, add_item(session, hitblock))
    session.commit()
    review = review_queue.review_of(session, account_id, response.id)
    assert review.task_html is None and "form" in (review.task_problem or "")
    assert review.item_fields[0].value == "https://e.org/0.jpg"


# ---- the queue -----------------------------------------------------------------------------


def test_the_queue_lists_submitted_responses_oldest_first_in_three_statements(session, account_id):
    hitblock = add_hitblock(session, account_id)
    late = add_response(session, add_item(session, hitblock), minutes_ago=1)
    early = add_response(
        session, add_item(session, hitblock, 1), data={"transcription": "a\nb"}, minutes_ago=50
    )
    add_response(session, add_item(session, hitblock, 2), status="approved")
    add_response(session, add_item(session, hitblock, 3), status="rejected")
    add_response(session, add_item(session, add_hitblock(session, account_id)))  # elsewhere
    session.commit()
    hitblock_id = hitblock.id
    with counted(session) as statements:
        queue = review_queue.queue(session, account_id, hitblock_id)
    assert len(statements) == 3, statements
    assert queue.ids == [early.id, late.id]
    assert (queue.submitted, queue.approved, queue.rejected) == (2, 1, 1)
    assert queue.entries[0].preview == "transcription: a / b"
    assert not queue.truncated


def test_flagged_responses_come_first(session, account_id):
    hitblock = add_hitblock(session, account_id)
    early = add_response(session, add_item(session, hitblock), minutes_ago=50)
    flagged = add_response(session, add_item(session, hitblock, 1), minutes_ago=1, flagged=True)
    session.commit()
    assert review_queue.queue(session, account_id, hitblock.id).ids == [flagged.id, early.id]
    position = review_queue.review_of(session, account_id, early.id).queue
    assert (position.position, position.previous_id, position.next_id) == (2, flagged.id, None)


# ---- decisions -----------------------------------------------------------------------------


def test_reject_needs_feedback_before_mturk_is_asked(session, account_id):
    gateway = ReviewGateway()
    response = add_response(session, add_item(session, add_hitblock(session, account_id)))
    session.commit()
    with pytest.raises(InvalidInput) as refused:
        review_queue.reject(session, gateway, account_id, response.id, "   ")
    assert refused.value.code == "feedback_required" and gateway.calls == []
    done = review_queue.reject(session, gateway, account_id, response.id, " Blank image. ")
    assert done.status == "rejected" and done.feedback == "Blank image."
    assert gateway.feedback[response.assignment_id] == "Blank image."


def test_a_bonus_needs_a_reason(session, account_id):
    gateway = ReviewGateway()
    response = add_response(session, add_item(session, add_hitblock(session, account_id)))
    session.commit()
    with pytest.raises(InvalidInput):
        review_queue.bonus(session, gateway, account_id, response.id, Decimal("0.50"), "")
    paid = review_queue.bonus(session, gateway, account_id, response.id, Decimal("0.50"), "Neat")
    assert paid.status == "paid" and gateway.bonuses[0]["reason"] == "Neat"


def test_an_approval_mturk_refuses_is_a_conflict_with_mturks_state_kept(session, account_id):
    gateway = ReviewGateway()
    response = add_response(session, add_item(session, add_hitblock(session, account_id)))
    session.commit()
    gateway.states[response.assignment_id] = "Rejected"
    with pytest.raises(Conflict):
        review_queue.approve(session, gateway, account_id, response.id)
    assert session.scalar(select(Response.status).where(Response.id == response.id)) == "rejected"


def test_bulk_approval_approves_exactly_the_selected_and_reports_each(session, account_id):
    gateway = ReviewGateway()
    hitblock = add_hitblock(session, account_id)
    chosen = [add_response(session, add_item(session, hitblock, n)) for n in range(3)]
    left_alone = add_response(session, add_item(session, hitblock, 3))
    auto_approved = add_response(session, add_item(session, hitblock, 4))
    foreign = add_response(session, add_item(session, add_hitblock(session, account_id)))
    session.commit()
    gateway.states[auto_approved.assignment_id] = "Rejected"  # MTurk decided otherwise first
    gateway.calls.clear()

    ids = [chosen[0].id, chosen[1].id, chosen[1].id, foreign.id, auto_approved.id, chosen[2].id]
    outcomes = review_queue.approve_selected(session, gateway, account_id, hitblock.id, ids)
    report = {o.response: (o.status, o.approved, type(o.error).__name__) for o in outcomes}
    assert [o.response for o in outcomes] == list(dict.fromkeys(ids))
    assert report == {
        chosen[0].id: ("approved", True, "NoneType"),
        chosen[1].id: ("approved", True, "NoneType"),
        chosen[2].id: ("approved", True, "NoneType"),
        foreign.id: (None, False, "NotFound"),
        auto_approved.id: ("rejected", False, "Conflict"),
    }
    statuses = dict(session.execute(select(Response.id, Response.status)).all())
    assert statuses[left_alone.id] == "submitted" and statuses[foreign.id] == "submitted"
    assert gateway.calls.count("ApproveAssignment") == 4  # the foreign one was never sent

    with pytest.raises(InvalidInput):
        review_queue.approve_selected(session, gateway, account_id, hitblock.id, [])
    other = create_key(session, "globex").account_id
    with pytest.raises(NotFound):
        review_queue.approve_selected(session, gateway, other, hitblock.id, [left_alone.id])


# ---- bonuses sent again, many decisions at once (review fixes) -----------------------------


def test_a_bonus_sent_again_with_its_token_is_never_paid_twice(session, account_id):
    """MTurk does not answer the first send (503: the bonus stays pending, the poller pays
    it); the reviewer sends it again: the same bonus is answered, no second one is made."""
    gateway = ReviewGateway()
    response = add_response(session, add_item(session, add_hitblock(session, account_id)))
    session.commit()
    gateway.fail_bonuses.append(MTurkUnavailable("timed out", "ServiceUnavailable"))
    token = "6f1c2a4e-1b2d-4c3e-9f00-0123456789ab"
    amount = Decimal("0.50")
    with pytest.raises(MTurkUnavailable):
        review_queue.bonus(session, gateway, account_id, response.id, amount, "Neat", token)
    again = review_queue.bonus(session, gateway, account_id, response.id, amount, "Neat", token)
    assert again.status == "pending"  # answered as recorded: not sent a second time
    for bonus_id in responses.pending_bonuses(session, utcnow() + timedelta(minutes=1)):
        responses.send_bonus(session, gateway, bonus_id)  # the poller's retry
    rows = session.scalars(select(Bonus).where(Bonus.response_id == response.id)).all()
    assert [(b.id, b.status) for b in rows] == [(again.id, "paid")]
    assert rows[0].unique_request_token == f"hb-bonus-{response.id}-{token}"
    assert len(gateway.bonuses) == 1
    paid = review_queue.bonus(session, gateway, account_id, response.id, amount, "Neat", token)
    assert paid.id == again.id and paid.status == "paid" and len(gateway.bonuses) == 1
    with pytest.raises(Conflict):  # the same token for another bonus is a mistake
        review_queue.bonus(session, gateway, account_id, response.id, Decimal("9"), "x", token)
    with pytest.raises(InvalidInput):
        review_queue.bonus(session, gateway, account_id, response.id, amount, "Neat", "a b")
    other = review_queue.bonus(session, gateway, account_id, response.id, amount, "Neat")
    assert other.id != again.id and len(gateway.bonuses) == 2  # no token: a new bonus


class GatheringGateway(ReviewGateway):
    """Each decision waits until ``parties`` decisions are in flight at once, so calls made
    one after another never get past the first: it gives up after ``patience`` seconds."""

    def __init__(self, parties: int, patience: float = 10.0) -> None:
        super().__init__()
        self.barrier = threading.Barrier(parties, timeout=patience)
        self.lock = threading.Lock()
        self.in_flight = 0
        self.peak = 0

    def _decide(self, assignment_id: str, state: str, feedback: str | None) -> None:
        with self.lock:
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
        try:
            self.barrier.wait()
        finally:
            with self.lock:
                self.in_flight -= 1
        with self.lock:
            super()._decide(assignment_id, state, feedback)


def test_bulk_approval_asks_mturk_several_calls_at_a_time(session, account_id):
    gateway = GatheringGateway(parties=8)
    hitblock = add_hitblock(session, account_id)
    chosen = [add_response(session, add_item(session, hitblock, n)).id for n in range(8)]
    session.commit()
    outcomes = review_queue.approve_selected(
        session, gateway, account_id, hitblock.id, chosen, concurrency=8
    )
    assert [o.approved for o in outcomes] == [True] * 8, [o.error for o in outcomes]
    assert gateway.peak == 8


def test_review_many_reports_each_outcome_in_the_order_given(session, account_id):
    gateway = ReviewGateway()
    hitblock = add_hitblock(session, account_id)
    fine, refused, down, done = (
        add_response(session, add_item(session, hitblock, n)) for n in range(4)
    )
    done.status = "approved"
    foreign = add_response(
        session, add_item(session, add_hitblock(session, create_key(session, "globex").account_id))
    )
    session.commit()
    gateway.states[refused.assignment_id] = "Rejected"
    gateway.fail[down.assignment_id] = MTurkUnavailable("down", "ServiceUnavailable")
    ids = [foreign.id, down.id, fine.id, refused.id, done.id]
    outcomes = responses.review_many(
        session, gateway, account_id, ids, Decision("approved", None), concurrency=3
    )
    assert [(o.response, o.status, type(o.error).__name__) for o in outcomes] == [
        (foreign.id, None, "NotFound"),
        (down.id, "submitted", "MTurkUnavailable"),
        (fine.id, "approved", "NoneType"),
        (refused.id, "rejected", "Conflict"),
        (done.id, "approved", "NoneType"),
    ]
    assert gateway.calls.count("ApproveAssignment") == 3  # neither foreign nor done asked


def test_no_module_imports_another_modules_private_review_helpers():
    """The ask-then-settle loop lives once, in ``responses.review_many``."""
    sources = {
        path: path.read_text()
        for path in (Path(__file__).parent.parent / "app").rglob("*.py")
        if path.name != "responses.py"
    }
    private = [
        str(path)
        for path, text in sources.items()
        if "_ask_mturk" in text or "_settle_review" in text
    ]
    assert private == []
    queue_source = (Path(__file__).parent.parent / "app/services/review_queue.py").read_text()
    assert "def _find(" not in queue_source  # responses.find_response, not a copy
