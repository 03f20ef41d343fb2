"""Publishing through the API to the local MTurk service, over real boto3 and HTTP."""

from __future__ import annotations

import textwrap
import threading
import urllib.request

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from app.extensions import db
from app.models import Hitblock, Item, Response
from mturk.questions import parse_question
from tests.test_errors import assert_error
from tests.worker_site import Worker, complete, run_killed_script

IMAGE = {"image_url": "https://example.org/receipt.jpg"}


def add_item(client, auth, hitblock, **params):
    response = client.post(
        f"/v1/hitblocks/{hitblock['id']}/items", json={**IMAGE, **params}, headers=auth
    )
    assert response.status_code == 200, response.json
    return response.json


def mturk_hits(publishing):
    return publishing.client.list_hits(MaxResults=100)["HITs"]


def test_post_item_publishes_one_hit_and_answers_the_seed_hit_object(
    client, auth, make_hitblock, publishing
):
    hitblock = make_hitblock(
        workers_per_item=3,
        cost_per_item=0.25,
        keywords="receipts, totals",
        lifetime_in_seconds=7200,
        qualification_requirements=[
            {"qualification_type_id": "000000000000000000L0", "comparator": "GreaterThan",
             "integer_values": [95]}
        ],
    )  # fmt: skip
    item = add_item(client, auth, hitblock, description='<script>alert("x")</script> ]]> end')
    response = client.post(f"/v1/item/{item['id']}/post", headers=auth)
    assert response.status_code == 200, response.json
    body = response.json
    assert body["object"] == "HIT"
    assert body["service"] == "AMT"
    assert body["status"] == "published"
    assert isinstance(body["created"], int)
    assert body["url"] == f"{publishing.url}/worker/hits/{body['id']}"
    assert body["item"]["id"] == item["id"]
    assert body["item"]["status"] == "published"
    assert body["item"]["hit_id"] == body["id"]

    [hit] = mturk_hits(publishing)
    assert hit["HITId"] == body["id"]
    assert hit["MaxAssignments"] == 3
    assert hit["Reward"] == "0.25"
    assert hit["Keywords"] == "receipts, totals"
    assert hit["RequesterAnnotation"].startswith(f"hitblocks:item:{item['id']}:hb-")
    assert hit["QualificationRequirements"][0]["QualificationTypeId"] == "000000000000000000L0"
    assert hit["QualificationRequirements"][0]["IntegerValues"] == [95]
    html = parse_question(hit["Question"]).content
    assert 'src="https://example.org/receipt.jpg"' in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; ]]&gt; end" in html
    assert "<script>alert" not in html

    hitblock_now = client.get(f"/v1/hitblocks/{hitblock['id']}", headers=auth).json
    assert hitblock_now["status"] == "in_progress"


def test_posting_again_answers_the_same_hit_without_calling_mturk(
    client, auth, hitblock, publishing
):
    item = add_item(client, auth, hitblock)
    first = client.post(f"/v1/item/{item['id']}/post", headers=auth).json
    calls = dict(publishing.faults.calls)
    second = client.post(f"/v1/items/{item['id']}/post", headers=auth).json
    assert second["id"] == first["id"]
    assert publishing.faults.calls == calls
    assert len(mturk_hits(publishing)) == 1


def test_two_posts_of_one_item_at_once_make_one_hit(client, auth, hitblock, publishing):
    item = add_item(client, auth, hitblock)
    publishing.faults.latency = 0.2  # both requests are in flight together
    barrier = threading.Barrier(2)
    answers: list = []

    def post() -> None:
        barrier.wait()
        answers.append(client.post(f"/v1/item/{item['id']}/post", headers=auth))

    threads = [threading.Thread(target=post) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [answer.status_code for answer in answers] == [200, 200]
    assert answers[0].json["id"] == answers[1].json["id"]
    assert len(mturk_hits(publishing)) == 1


def test_post_hitblock_publishes_every_pending_item_with_constant_overhead(
    client, auth, hitblock, publishing
):
    early = add_item(client, auth, hitblock)
    client.post(f"/v1/item/{early['id']}/post", headers=auth)
    rows = [{"image_url": f"https://example.org/{n}.jpg"} for n in range(12)]
    client.post(f"/v1/hitblocks/{hitblock['id']}/items/batch", json=rows, headers=auth)
    deleted = add_item(client, auth, hitblock)
    client.delete(f"/v1/item/{deleted['id']}", headers=auth)
    publishing.faults.calls.clear()

    response = client.post(f"/v1/hitblock/{hitblock['id']}/post", headers=auth)
    assert response.status_code == 200, response.json
    body = response.json
    assert body["object"] == "hitblock_publication"
    assert len(body["published"]) == 12
    assert body["failed"] == []
    assert body["hitblock"]["status"] == "in_progress"
    assert publishing.faults.calls == {"GetAccountBalance": 1, "CreateHITWithHITType": 12}
    assert len(mturk_hits(publishing)) == 13
    items = client.get(f"/v1/hitblocks/{hitblock['id']}/items?limit=100", headers=auth).json
    assert {item["status"] for item in items["data"]} == {"published"}

    again = client.post(f"/v1/hitblocks/{hitblock['id']}/post", headers=auth).json
    assert again["published"] == []
    assert len(mturk_hits(publishing)) == 13


def test_recording_a_hitblock_keeps_no_pending_item_in_the_session(
    app, client, auth, hitblock, publishing
):
    """Each recorder commit sees only the objects of its own batch: items kept in the session
    would be expired by every commit and searched by every UPDATE, a cost per HIT that grew
    with the hitblock."""
    rows = [{"image_url": f"https://example.org/{n}.jpg"} for n in range(40)]
    client.post(f"/v1/hitblocks/{hitblock['id']}/items/batch", json=rows, headers=auth)
    held: list[int] = []

    def count_items(session) -> None:
        held.append(sum(isinstance(obj, Item) for obj in session.identity_map.values()))

    event.listen(Session, "before_commit", count_items)
    try:
        response = client.post(f"/v1/hitblocks/{hitblock['id']}/post", headers=auth)
    finally:
        event.remove(Session, "before_commit", count_items)
    assert len(response.json["published"]) == 40
    assert held and max(held) < 40, held


@pytest.mark.parametrize("status", ["paused", "canceled"])
def test_paused_or_canceled_hitblocks_publish_nothing(
    app, client, auth, hitblock, publishing, status
):
    item = add_item(client, auth, hitblock)
    with app.app_context():
        db.session.get(Hitblock, hitblock["id"]).status = status
        db.session.commit()
    for path in (f"/v1/item/{item['id']}/post", f"/v1/hitblocks/{hitblock['id']}/post"):
        error = assert_error(client.post(path, headers=auth), 400)
        assert error["code"] == f"hitblock_{status}"
    assert mturk_hits(publishing) == []


def test_not_enough_balance_publishes_nothing(client, auth, make_hitblock, publishing):
    hitblock = make_hitblock(cost_per_item=900, workers_per_item=10)  # 900 + 40% = 1260 each
    rows = [IMAGE] * 8
    client.post(f"/v1/hitblocks/{hitblock['id']}/items/batch", json=rows, headers=auth)
    error = assert_error(client.post(f"/v1/hitblocks/{hitblock['id']}/post", headers=auth), 400)
    assert error["code"] == "insufficient_funds"
    assert "10080" in error["message"] and "10000.00" in error["message"]
    assert mturk_hits(publishing) == []
    items = client.get(f"/v1/hitblocks/{hitblock['id']}/items", headers=auth).json["data"]
    assert {item["status"] for item in items} == {"pending"}


def test_an_outage_is_503_and_the_item_can_be_posted_again(client, auth, hitblock, publishing):
    item = add_item(client, auth, hitblock)
    publishing.faults.queued += [("CreateHITWithHITType", "fault")] * 3  # every retry fails
    error = assert_error(client.post(f"/v1/item/{item['id']}/post", headers=auth), 503, "api_error")
    assert error["code"] == "mturk_unavailable"
    assert client.get(f"/v1/item/{item['id']}", headers=auth).json["status"] == "pending"
    assert mturk_hits(publishing) == []
    assert client.post(f"/v1/item/{item['id']}/post", headers=auth).status_code == 200
    assert len(mturk_hits(publishing)) == 1


def test_throttling_is_retried_without_a_second_hit(client, auth, hitblock, publishing):
    item = add_item(client, auth, hitblock)
    publishing.faults.queued += [("CreateHITWithHITType", "throttle")]
    assert client.post(f"/v1/item/{item['id']}/post", headers=auth).status_code == 200
    assert publishing.faults.calls["CreateHITWithHITType"] == 2
    assert len(mturk_hits(publishing)) == 1


def test_mturk_refusal_is_400_with_mturks_message(app, client, auth, make_hitblock, publishing):
    hitblock = make_hitblock(
        type="html", template="<form><p>${question}</p><button>Submit</button></form>"
    )
    item = add_item(client, auth, hitblock, question="q")
    with app.app_context():  # a HIT type id MTurk has never heard of
        db.session.get(Hitblock, hitblock["id"]).hit_type_id = "NOSUCHTYPE"
        db.session.commit()
    error = assert_error(client.post(f"/v1/item/{item['id']}/post", headers=auth), 400)
    assert error["code"] == "mturk_rejected"
    assert "NOSUCHTYPE" in error["message"]
    assert client.get(f"/v1/item/{item['id']}", headers=auth).json["status"] == "pending"


def test_question_too_large_is_refused_before_calling_mturk(
    client, auth, make_hitblock, publishing
):
    hitblock = make_hitblock(
        type="html", template="<form><p>${a}</p><p>${b}</p><button>Submit</button></form>"
    )
    item = add_item(client, auth, hitblock, a="x" * 40_000, b="y" * 40_000)
    error = assert_error(client.post(f"/v1/item/{item['id']}/post", headers=auth), 400)
    assert error["code"] == "question_too_large"
    assert publishing.faults.calls == {}


def test_deleting_a_published_item_expires_its_hit(client, auth, hitblock, publishing):
    item = add_item(client, auth, hitblock)
    hit_id = client.post(f"/v1/item/{item['id']}/post", headers=auth).json["id"]
    assert client.delete(f"/v1/item/{item['id']}", headers=auth).status_code == 200
    assert publishing.client.get_hit(HITId=hit_id)["HIT"]["HITStatus"] == "Disposed"
    assert client.get(f"/v1/item/{item['id']}", headers=auth).status_code == 404


def test_deleting_an_item_with_work_awaiting_review_expires_but_keeps_the_hit(
    client, auth, hitblock, publishing
):
    item = add_item(client, auth, hitblock)
    hit_id = client.post(f"/v1/item/{item['id']}/post", headers=auth).json["id"]
    worker = Worker(publishing.url, "AWORKER1")
    worker.sign_in()
    assert worker.submit(worker.accept(hit_id), [("transcription", "12.00")])[0] == 200
    assert client.delete(f"/v1/item/{item['id']}", headers=auth).status_code == 200
    hit = publishing.client.get_hit(HITId=hit_id)["HIT"]
    assert hit["HITStatus"] == "Reviewable"  # expired, and the submitted work is still there
    assert publishing.client.list_assignments_for_hit(HITId=hit_id)["NumResults"] == 1


def test_deleting_when_mturk_is_down_changes_nothing(client, auth, hitblock, publishing):
    item = add_item(client, auth, hitblock)
    client.post(f"/v1/item/{item['id']}/post", headers=auth)
    publishing.faults.queued += [("UpdateExpirationForHIT", "fault")] * 3
    assert_error(client.delete(f"/v1/item/{item['id']}", headers=auth), 503, "api_error")
    assert client.get(f"/v1/item/{item['id']}", headers=auth).json["status"] == "published"


def test_a_worker_sees_and_submits_a_published_item(client, auth, make_hitblock, publishing):
    hitblock = make_hitblock(type="text-classification", labels=["spam", "ham"])
    item = add_item(client, auth, hitblock, text="Win a prize now!!!")
    hit_id = client.post(f"/v1/item/{item['id']}/post", headers=auth).json["id"]
    worker = Worker(publishing.url, "AWORKER1")
    page = worker.sign_in()  # the list shows the HIT's group; the HIT's own page shows it
    assert publishing.client.get_hit(HITId=hit_id)["HIT"]["HITTypeId"] in page
    assert worker.request(f"/worker/hits/{hit_id}")[0] == 200
    with urllib.request.urlopen(f"{publishing.content_url}/tasks/{hit_id}", timeout=10) as task:
        frame = task.read().decode()  # served from the task content origin
    assert "Win a prize now!!!" in frame and 'value="spam"' in frame
    assert worker.submit(worker.accept(hit_id), [("label", "spam")])[0] == 200
    [assignment] = publishing.client.list_assignments_for_hit(HITId=hit_id)["Assignments"]
    assert "<FreeText>spam</FreeText>" in assignment["Answer"]


CRASH_SCRIPT = textwrap.dedent(
    """
    import os, sys
    from app import create_app
    from app.services import publishing
    from tests.conftest import basic_auth

    app = create_app({"DATABASE_URL": sys.argv[1], "MTURK_ENDPOINT": sys.argv[2]})

    def crash(recorder, published):
        os._exit(86)  # MTurk made the HIT; we die before our commit records it

    publishing._Recorder.__call__ = crash
    app.test_client().post(f"/v1/item/{sys.argv[3]}/post", headers=basic_auth(sys.argv[4]))
    os._exit(1)  # not reached: the crash above must happen first
    """
)


def test_a_crash_after_mturk_answered_and_before_commit_makes_no_second_hit(
    app, client, key, auth, hitblock, publishing
):
    item = add_item(client, auth, hitblock)
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    crashed = run_killed_script(CRASH_SCRIPT, url, publishing.url, str(item["id"]), key)
    assert crashed.returncode == 86, crashed.stderr
    [orphan] = mturk_hits(publishing)  # MTurk has the HIT; our database does not know it yet
    with app.app_context():
        stored = db.session.get(Item, item["id"])
        assert stored.status == "pending" and stored.hit_id is None
        assert stored.unique_request_token is not None

    response = client.post(f"/v1/item/{item['id']}/post", headers=auth)
    assert response.status_code == 200, response.json
    assert response.json["id"] == orphan["HITId"]
    assert [hit["HITId"] for hit in mturk_hits(publishing)] == [orphan["HITId"]]


@pytest.mark.parametrize("path", ["/v1/item/{item}/post", "/v1/hitblocks/{hitblock}/post"])
def test_a_retry_after_mturk_forgot_the_token_still_makes_no_second_hit(
    app, client, key, auth, hitblock, publishing, path
):
    """MTurk remembers a UniqueRequestToken for 24 hours; a retry a day after a crash finds
    the HIT by its RequesterAnnotation instead."""
    from datetime import timedelta

    from sqlalchemy import update

    from app.models import utcnow
    from mturk.service.store import HIT

    item = add_item(client, auth, hitblock)
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    assert (
        run_killed_script(CRASH_SCRIPT, url, publishing.url, str(item["id"]), key).returncode == 86
    )
    [orphan] = mturk_hits(publishing)
    a_day_ago = utcnow() - timedelta(hours=25)
    with app.app_context():
        db.session.execute(update(Item).values(token_issued=a_day_ago))
        db.session.commit()
    with publishing.app.extensions["mturk_local_store"].transaction() as session:
        session.execute(update(HIT).values(created_at=a_day_ago.timestamp()))

    response = client.post(path.format(item=item["id"], hitblock=hitblock["id"]), headers=auth)
    assert response.status_code == 200, response.json
    assert [hit["HITId"] for hit in mturk_hits(publishing)] == [orphan["HITId"]]
    assert client.get(f"/v1/item/{item['id']}", headers=auth).json["hit_id"] == orphan["HITId"]


HITBLOCK_CRASH_SCRIPT = textwrap.dedent(
    """
    import os, sys
    from app import create_app
    from app.services import publishing
    from tests.conftest import basic_auth

    app = create_app({"DATABASE_URL": sys.argv[1], "MTURK_ENDPOINT": sys.argv[2],
                      "MTURK_CONCURRENCY": 2})
    real_call = publishing._Recorder.__call__
    answered = []

    def crash_midway(recorder, published):
        answered.extend(published)
        if len(answered) >= 10:
            os._exit(86)  # a crash while the publish is under way
        real_call(recorder, published)

    publishing._Recorder.__call__ = crash_midway
    app.test_client().post(f"/v1/hitblocks/{sys.argv[3]}/post", headers=basic_auth(sys.argv[4]))
    os._exit(1)  # not reached
    """
)


def test_a_crash_midway_through_a_hitblock_leaves_only_the_calls_in_flight_unrecorded(
    app, client, key, auth, hitblock, publishing
):
    rows = [{"image_url": f"https://example.org/{n}.jpg"} for n in range(30)]
    client.post(f"/v1/hitblocks/{hitblock['id']}/items/batch", json=rows, headers=auth)
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    crashed = run_killed_script(
        HITBLOCK_CRASH_SCRIPT, url, publishing.url, str(hitblock["id"]), key
    )
    assert crashed.returncode == 86, crashed.stderr
    with app.app_context():
        recorded = db.session.scalars(select(Item.hit_id).where(Item.hit_id.is_not(None))).all()
    live = {hit["HITId"] for hit in publishing.client.list_hits(MaxResults=100)["HITs"]}
    assert len(recorded) >= 8 and set(recorded) <= live
    # Unrecorded: the batch being recorded plus the calls in flight (2 at a time).
    assert len(live) - len(recorded) <= 2 * 2

    again = client.post(f"/v1/hitblocks/{hitblock['id']}/post", headers=auth)
    assert again.status_code == 200, again.json
    assert len(publishing.client.list_hits(MaxResults=100)["HITs"]) == 30  # no second HIT
    with app.app_context():
        assert db.session.scalar(select(func.count()).where(Item.status == "published")) == 30


def test_deleting_an_item_whose_hit_was_never_recorded_expires_it_and_keeps_the_work(
    app, client, key, auth, hitblock, publishing
):
    item = add_item(client, auth, hitblock)
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    crashed = run_killed_script(CRASH_SCRIPT, url, publishing.url, str(item["id"]), key)
    assert crashed.returncode == 86, crashed.stderr
    [orphan] = mturk_hits(publishing)
    assignment_id = complete(
        publishing.url, orphan["HITId"], "AWORKER7", [("transcription", "total 9.99")]
    )

    deleted = client.delete(f"/v1/item/{item['id']}", headers=auth)
    assert deleted.json == {"deleted": True, "id": item["id"]}
    hit = publishing.client.get_hit(HITId=orphan["HITId"])["HIT"]
    assert hit["HITStatus"] != "Assignable"  # expired: no one else can take it
    with app.app_context():
        stored = db.session.get(Item, item["id"])
        assert (stored.status, stored.hit_id) == ("deleted", orphan["HITId"])
        [response] = db.session.scalars(select(Response).where(Response.item_id == item["id"]))
        assert response.assignment_id == assignment_id
