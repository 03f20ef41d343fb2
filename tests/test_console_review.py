"""The console's review queue through the Flask test client, with a fake MTurk gateway: the
page and its fragments, the framed task's own Content-Security-Policy, decisions (CSRF,
feedback required, MTurk's refusal shown as a 409), bulk approval of exactly the ids sent,
and another account's responses answering 404."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

import app.console.review  # noqa: F401  (registers the routes, should __init__ not yet)
from app.extensions import db
from app.models import Bonus, Hitblock, Item, Response, User, utcnow
from mturk.gateway import MTurkUnavailable
from tests.helpers.console import json_headers, make_user, signed_in_client
from tests.helpers.fake_gateway import ReviewGateway

TEMPLATE = """<form>
<img src="${image_url}" alt="">
<p>${description}</p>
<label>Transcription <textarea name="transcription"></textarea></label>
<button>Submit</button>
</form>"""
ANSWER = "Coffee 3.00\nCake <b>9.00</b>"


def add_queue(app, account_name: str, count: int = 3) -> dict[str, Any]:
    """A hitblock of the account with ``count`` submitted responses, oldest first."""
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email.like(f"%@{account_name}.test")))
        hitblock = Hitblock(
            account_id=user.account_id,
            type="image-transcription",
            title=f"Receipts of {account_name}",
            cost_per_item=Decimal("0.10"),
            template=TEMPLATE,
            lifetime_in_seconds=3600,
            assignment_duration_in_seconds=600,
            auto_approval_delay_in_seconds=3600,
            qualification_requirements=[],
            status="in_progress",
        )
        db.session.add(hitblock)
        db.session.flush()
        ids = []
        for n in range(count):
            item = Item(
                hitblock_id=hitblock.id,
                type="image",
                params={"image_url": f"https://e.org/{n}.jpg", "description": "<script>x</script>"},
                status="completed",
            )
            db.session.add(item)
            db.session.flush()
            response = Response(
                item_id=item.id,
                assignment_id=f"A{account_name.upper()}{n:06d}",
                worker_id=f"AWORKER{n}",
                data={"transcription": ANSWER},
                submitted=utcnow() - timedelta(minutes=60 - n),
                accepted=utcnow() - timedelta(minutes=61 - n),
            )
            db.session.add(response)
            db.session.flush()
            ids.append(response.id)
        db.session.commit()
        return {"hitblock": hitblock.id, "responses": ids}


@pytest.fixture
def gateway(app) -> ReviewGateway:
    fake = ReviewGateway()
    app.extensions["mturk_gateway"] = fake
    return fake


@pytest.fixture
def reviewer(app):
    make_user(app, "acme", "rev@acme.test", role="reviewer")
    return signed_in_client(app, "rev@acme.test")


@pytest.fixture
def queue(app, reviewer) -> dict[str, Any]:
    return add_queue(app, "acme")


@pytest.fixture
def foreign(app) -> dict[str, Any]:
    make_user(app, "globex", "admin@globex.test", role="admin")
    return add_queue(app, "globex", count=1)


def status_of(app, response_id: int) -> str:
    with app.app_context():
        return db.session.scalar(select(Response.status).where(Response.id == response_id))


def test_the_page_opens_the_oldest_response_beside_its_task(reviewer, queue):
    first, second, _ = queue["responses"]
    page = reviewer.get(f"/console/hitblocks/{queue['hitblock']}/review")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert f'data-response-id="{first}"' in html
    # The answer as written: its line break kept, its markup shown as text, no JSON escapes.
    assert "Coffee 3.00\nCake &lt;b&gt;9.00&lt;/b&gt;" in html and "\\n" not in html
    assert 'sandbox=""' in html and "allow-same-origin" not in html
    assert f'src="/console/responses/{first}/task"' in html
    assert "1 of 3 waiting" in html
    assert f'href="/console/hitblocks/{queue["hitblock"]}/review?response={second}"' in html
    assert "<script>x</script>" not in html  # an item field is text, never markup
    assert 'name="response_ids"' in html  # the list, for bulk approval
    asked = reviewer.get(f"/console/hitblocks/{queue['hitblock']}/review?response={second}")
    assert f'data-response-id="{second}"' in asked.get_data(as_text=True)


def test_the_task_is_framed_sandboxed_with_its_own_policy(reviewer, queue):
    first = queue["responses"][0]
    task = reviewer.get(f"/console/responses/{first}/task")
    assert task.status_code == 200
    policy = task.headers["Content-Security-Policy"]
    assert policy.startswith("sandbox;") and "default-src 'none'" in policy
    assert "frame-ancestors 'self'" in policy and "form-action 'none'" in policy
    assert "script-src" not in policy  # no script at all (default-src 'none')
    body = task.get_data(as_text=True)
    assert 'src="https://e.org/0.jpg"' in body and "&lt;script&gt;x&lt;/script&gt;" in body
    assert "externalSubmit" in body  # the page as workers got it, with MTurk's plumbing
    page = reviewer.get(f"/console/hitblocks/{queue['hitblock']}/review")
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]


def test_fragments_and_json_for_the_page(reviewer, queue):
    first, second, third = queue["responses"]
    panel = reviewer.get(f"/console/responses/{second}/panel")
    assert panel.status_code == 200 and "<html" not in panel.get_data(as_text=True)
    assert f'data-previous="{first}" data-next="{third}"' in panel.get_data(as_text=True)
    one = reviewer.get(f"/console/responses/{second}", headers={"Accept": "application/json"})
    body = one.json
    assert body["answer"] == [{"field": "transcription", "value": ANSWER}]
    assert body["queue"] == {"position": 2, "remaining": 3, "previous": first, "next": third}
    assert body["worker"]["id"] == "AWORKER1" and body["worker"]["approval_rate"] is None
    listed = reviewer.get(f"/console/hitblocks/{queue['hitblock']}/review/queue").json
    assert listed["ids"] == [first, second, third] and listed["submitted"] == 3
    assert listed["data"][0]["preview"] == "transcription: Coffee 3.00 / Cake <b>9.00</b>"


def test_decisions_reach_mturk_with_the_csrf_token_only(app, reviewer, queue, gateway):
    first, second, third = queue["responses"]
    refused = reviewer.post(f"/console/responses/{first}/approve", json={})
    assert refused.status_code == 400 and gateway.calls == []
    headers = json_headers(reviewer)
    approved = reviewer.post(f"/console/responses/{first}/approve", json={}, headers=headers)
    assert approved.status_code == 200, approved.json
    assert approved.json == {"object": "response", "id": first, "status": "approved"}
    assert status_of(app, first) == "approved"

    blank = reviewer.post(
        f"/console/responses/{second}/reject", json={"feedback": " "}, headers=headers
    )
    assert blank.status_code == 400 and "reject" in blank.json["error"]["message"]
    missing = reviewer.post(f"/console/responses/{second}/reject", json={}, headers=headers)
    assert missing.status_code == 400 and "feedback" in missing.json["error"]["message"]
    assert gateway.calls == ["ApproveAssignment"]
    rejected = reviewer.post(
        f"/console/responses/{second}/reject",
        json={"feedback": "The total is missing."},
        headers=headers,
    )
    assert rejected.json["status"] == "rejected"
    assert gateway.feedback["AACME000001"] == "The total is missing."

    paid = reviewer.post(
        f"/console/responses/{third}/bonus",
        json={"amount": "0.25", "reason": "Careful work"},
        headers=headers,
    )
    assert paid.status_code == 200 and paid.json["amount"] == "0.25"
    assert gateway.bonuses[0]["amount"] == Decimal("0.25")
    bad = reviewer.post(
        f"/console/responses/{third}/bonus", json={"amount": "-1", "reason": "x"}, headers=headers
    )
    assert bad.status_code == 400


def test_a_decision_mturk_refuses_answers_409_and_keeps_mturks_state(app, reviewer, queue, gateway):
    first = queue["responses"][0]
    gateway.states["AACME000000"] = "Approved"  # auto-approved on MTurk meanwhile
    answer = reviewer.post(
        f"/console/responses/{first}/reject",
        json={"feedback": "Wrong total."},
        headers=json_headers(reviewer),
    )
    assert answer.status_code == 409
    assert "approved" in answer.json["error"]["message"]
    assert status_of(app, first) == "approved"


def test_a_form_without_script_goes_on_to_the_next_response(app, reviewer, queue, gateway):
    first, second, _ = queue["responses"]
    token = json_headers(reviewer)["X-CSRFToken"]
    sent = reviewer.post(f"/console/responses/{first}/approve", data={"csrf_token": token})
    assert sent.status_code == 303
    assert sent.headers["Location"].endswith(
        f"/console/hitblocks/{queue['hitblock']}/review?response={second}"
    )
    typed = reviewer.post(
        f"/console/responses/{second}/reject",
        data={"csrf_token": token, "feedback": "", "typed": "Illegible."},
    )
    assert typed.status_code == 303 and gateway.feedback["AACME000001"] == "Illegible."


def test_bulk_approval_approves_exactly_the_ids_sent(app, reviewer, queue, foreign, gateway):
    first, second, third = queue["responses"]
    gateway.states["AACME000001"] = "Rejected"
    headers = json_headers(reviewer)
    path = f"/console/hitblocks/{queue['hitblock']}/review/approve-selected"
    ids = [first, second, foreign["responses"][0]]
    answer = reviewer.post(path, json={"response_ids": ids}, headers=headers)
    assert answer.status_code == 200, answer.json
    results = {r["response"]: r for r in answer.json["results"]}
    assert results[first]["approved"] is True and results[first]["status"] == "approved"
    assert results[second]["approved"] is False and results[second]["status"] == "rejected"
    assert results[second]["error"]["code"] == "response_already_reviewed"
    foreign_result = results[foreign["responses"][0]]
    assert foreign_result["status"] is None and foreign_result["error"]["code"] == (
        "resource_missing"
    )
    assert status_of(app, third) == "submitted"  # not selected: untouched
    assert status_of(app, foreign["responses"][0]) == "submitted"
    assert gateway.calls.count("ApproveAssignment") == 2

    nothing = reviewer.post(path, json={"response_ids": []}, headers=headers)
    assert nothing.status_code == 400
    everything = reviewer.post(path, json={}, headers=headers)
    assert everything.status_code == 400  # never "all submitted"
    other = f"/console/hitblocks/{foreign['hitblock']}/review/approve-selected"
    assert reviewer.post(other, json={"response_ids": [third]}, headers=headers).status_code == 404


def test_another_accounts_responses_answer_404(reviewer, queue, foreign, gateway):
    theirs = foreign["responses"][0]
    assert reviewer.get(f"/console/hitblocks/{foreign['hitblock']}/review").status_code == 404
    for path in ("", "/panel", "/task"):
        assert reviewer.get(f"/console/responses/{theirs}{path}").status_code == 404
    answer = reviewer.post(
        f"/console/responses/{theirs}/approve", json={}, headers=json_headers(reviewer)
    )
    assert answer.status_code == 404 and gateway.calls == []


def test_visitors_are_sent_to_sign_in(app, queue):
    visitor = app.test_client()
    page = visitor.get(f"/console/hitblocks/{queue['hitblock']}/review")
    assert page.status_code == 302 and "/console/sign-in" in page.headers["Location"]
    call = visitor.get(
        f"/console/responses/{queue['responses'][0]}", headers={"Accept": "application/json"}
    )
    assert call.status_code == 401


def test_a_bonus_mturk_did_not_answer_is_not_paid_again_when_sent_again(
    app, reviewer, queue, gateway
):
    """The page's token for the decision makes the bonus's UniqueRequestToken: the 503 says
    it will be retried; sending it again answers the same bonus, never a second one."""
    third = queue["responses"][2]
    gateway.fail_bonuses.append(MTurkUnavailable("timed out", "ServiceUnavailable"))
    body = {
        "amount": "0.25",
        "reason": "Careful work",
        "token": "3b0c6a0e-5d1f-4f7e-8a2b-1c2d3e4f5a6b",
    }
    headers = json_headers(reviewer)
    first = reviewer.post(f"/console/responses/{third}/bonus", json=body, headers=headers)
    assert first.status_code == 503
    assert "retried" in first.json["error"]["message"]
    assert "do not send it again" in first.json["error"]["message"]
    again = reviewer.post(f"/console/responses/{third}/bonus", json=body, headers=headers)
    assert again.status_code == 200 and again.json["status"] == "pending"
    with app.app_context():
        rows = db.session.scalars(select(Bonus).where(Bonus.response_id == third)).all()
        assert [row.id for row in rows] == [again.json["id"]]
    bad = reviewer.post(
        f"/console/responses/{third}/bonus", json={**body, "token": "<x>"}, headers=headers
    )
    assert bad.status_code == 400 and "token" in bad.json["error"]["message"]
