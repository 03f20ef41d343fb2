"""Pause, resume and cancel through the API: both path spellings, the error shape,
Idempotency-Key, and end to end on the local MTurk service over boto3 with a worker."""

from __future__ import annotations

from datetime import timedelta

from app.extensions import db
from app.gateway import mturk_gateway
from app.services.polling import poll_once
from tests.test_errors import assert_error
from tests.worker_site import Worker

IMAGE = {"image_url": "https://example.org/receipt.jpg"}


def poll(app):
    with app.app_context():
        return poll_once(db.session, mturk_gateway(), retry_bonuses_after=timedelta(0))


def add_items(client, auth, hitblock, count):
    for _ in range(count):
        response = client.post(f"/v1/hitblocks/{hitblock['id']}/items", json=IMAGE, headers=auth)
        assert response.status_code == 200, response.json


def hitblock_events(client, auth):
    body = client.get("/v1/events?limit=100", headers=auth).json
    return [e["type"] for e in reversed(body["data"]) if e["type"].startswith("hitblock.")]


def test_transitions_answer_the_hitblock_or_400_invalid_state(client, auth, hitblock):
    hid = hitblock["id"]
    for action in ("pause", "resume"):
        error = assert_error(client.post(f"/v1/hitblocks/{hid}/{action}", headers=auth), 400)
        assert error["code"] == "hitblock_unlaunched"
    response = client.post(f"/v1/hitblock/{hid}/cancel", headers=auth)  # the singular spelling
    assert response.status_code == 200
    assert response.json["object"] == "hitblock" and response.json["status"] == "canceled"
    assert client.post(f"/v1/hitblocks/{hid}/cancel", headers=auth).json["status"] == "canceled"
    error = assert_error(client.post(f"/v1/hitblocks/{hid}/pause", headers=auth), 400)
    assert error["code"] == "hitblock_canceled"
    assert hitblock_events(client, auth) == ["hitblock.canceled"]


def test_another_accounts_hitblock_is_404(client, other_auth, hitblock):
    for action in ("pause", "resume", "cancel"):
        response = client.post(f"/v1/hitblocks/{hitblock['id']}/{action}", headers=other_auth)
        assert_error(response, 404)


def test_an_idempotency_key_replays_the_first_answer(client, auth, hitblock):
    headers = {**auth, "Idempotency-Key": "cancel-1"}
    first = client.post(f"/v1/hitblocks/{hitblock['id']}/cancel", headers=headers)
    again = client.post(f"/v1/hitblocks/{hitblock['id']}/cancel", headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.headers.get("Idempotent-Replayed") == "true" and again.json == first.json


def test_pause_resume_cancel_end_to_end_with_a_worker(
    app, client, auth, make_hitblock, publishing, mturk_calls
):
    hitblock = make_hitblock()
    hid = hitblock["id"]
    add_items(client, auth, hitblock, 3)
    assert client.post(f"/v1/hitblocks/{hid}/post", headers=auth).status_code == 200
    hits = publishing.client.list_hits(MaxResults=100)["HITs"]
    hit_ids = sorted(hit["HITId"] for hit in hits)
    worker = Worker(publishing.url, "AWORKER1")
    worker.sign_in()
    assignment = worker.accept(hit_ids[0])

    mturk_calls.clear()
    paused = client.post(f"/v1/hitblocks/{hid}/pause", headers=auth)
    assert paused.status_code == 200 and paused.json["status"] == "paused"
    assert mturk_calls == {"UpdateExpirationForHIT": 3}
    for hit_id in hit_ids[1:]:  # no worker can take them now
        assert publishing.client.get_hit(HITId=hit_id)["HIT"]["HITStatus"] != "Assignable"
        status, url, _ = worker.request(f"/worker/hits/{hit_id}/accept", [])
        assert "/worker/assignments/" not in url
    # The accepted one can still be submitted, and the poller collects it.
    assert worker.submit(assignment, [("transcription", "12.00")])[0] == 200
    assert poll(app).new_responses == 1
    items = client.get(f"/v1/hitblocks/{hid}/items", headers=auth).json["data"]
    assert sorted(i["status"] for i in items) == ["completed", "published", "published"]
    assert client.get(f"/v1/hitblocks/{hid}", headers=auth).json["status"] == "paused"
    poll(app)  # the paused HITs are expired on MTurk, but their items are not settled expired
    statuses = [
        i["status"] for i in client.get(f"/v1/hitblocks/{hid}/items", headers=auth).json["data"]
    ]
    assert "expired" not in statuses

    mturk_calls.clear()
    resumed = client.post(f"/v1/hitblock/{hid}/resume", headers=auth)
    assert resumed.status_code == 200 and resumed.json["status"] == "in_progress"
    assert mturk_calls == {"UpdateExpirationForHIT": 2}  # the completed item's HIT is settled
    for hit_id in hit_ids[1:]:
        assert publishing.client.get_hit(HITId=hit_id)["HIT"]["HITStatus"] == "Assignable"
    taken = worker.accept(hit_ids[1])  # HITs accept again

    mturk_calls.clear()
    canceled = client.post(f"/v1/hitblocks/{hid}/cancel", headers=auth)
    assert canceled.status_code == 200 and canceled.json["status"] == "canceled"
    assert mturk_calls == {"UpdateExpirationForHIT": 2}
    status, url, _ = worker.request(f"/worker/hits/{hit_ids[2]}/accept", [])
    assert "/worker/assignments/" not in url
    assert worker.submit(taken, [("transcription", "3.50")])[0] == 200  # work is kept
    poll(app)
    items = client.get(f"/v1/hitblocks/{hid}/items", headers=auth).json["data"]
    assert sorted(i["status"] for i in items) == ["completed", "completed", "expired"]
    assert client.get(f"/v1/hitblocks/{hid}", headers=auth).json["status"] == "canceled"
    assert hitblock_events(client, auth) == [
        "hitblock.paused",
        "hitblock.resumed",
        "hitblock.canceled",
    ]
