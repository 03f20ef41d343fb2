"""Workers over HTTP: their records in a hitblock, and blocks, end to end against the
bundled MTurk service (a blocked worker cannot accept the account's HITs)."""

from __future__ import annotations

from app.extensions import db
from app.models import Hitblock
from tests.helpers.crowd import add_item, add_response
from tests.test_errors import assert_error
from tests.worker_site import Worker, complete

IMAGE = {"image_url": "https://example.org/receipt.jpg"}


def test_a_hitblocks_workers(app, client, auth, other_auth, hitblock):
    with app.app_context():
        row = db.session.get(Hitblock, hitblock["id"])
        item = add_item(db.session, row)
        add_response(db.session, item, "AW1", {"transcription": "1"}, status="approved")
        add_response(db.session, item, "AW2", {"transcription": "1"})
    for spelling in ("hitblocks", "hitblock"):
        response = client.get(f"/v1/{spelling}/{hitblock['id']}/workers", headers=auth)
        assert response.status_code == 200, response.json
    body = response.json
    assert body["object"] == "list" and body["has_more"] is False
    first = body["data"][0]
    assert first == {
        "object": "worker_stats",
        "worker_id": "AW1",
        "responses": 1,
        "submitted": 0,
        "approved": 1,
        "rejected": 0,
        "approval_rate": 1.0,
        "agreement": 1.0,
        "agreement_answers": 1,
        "gold_answers": 0,
        "gold_correct": 0,
        "gold_accuracy": None,
        "median_seconds": 30.0,
        "flagged": 0,
        "blocked": False,
        "excluded": False,
    }
    assert_error(client.get(f"/v1/hitblocks/{hitblock['id']}/workers", headers=other_auth), 404)


def worked_for(app, hitblock_id, worker_id):
    """A response of the worker in the hitblock: an account blocks only its own workers."""
    with app.app_context():
        item = add_item(db.session, db.session.get(Hitblock, hitblock_id))
        add_response(db.session, item, worker_id, {"transcription": "1"})


def test_block_requests_are_checked(client, auth):
    assert_error(client.post("/v1/workers/AW1/block", json={}, headers=auth), 400, param="reason")
    for worker_id in ("aw1", "AW1%0A"):  # "AW1\n": the id is matched whole
        bad = client.post(f"/v1/workers/{worker_id}/block", json={"reason": "x"}, headers=auth)
        assert assert_error(bad, 400, param="worker_id")["code"] == "invalid_worker_id"
    assert_error(client.post("/v1/workers/AW1/unblock", headers=auth), 404)


def test_an_account_cannot_block_another_accounts_worker(
    app, client, auth, other_auth, make_hitblock, mturk_calls
):
    """MTurk's block covers every account of the installation: blocking a worker who never
    answered the account's HITs answers 404, as for a worker who does not exist."""
    theirs = make_hitblock(headers=other_auth)
    worked_for(app, theirs["id"], "ATHEIRS1")
    for worker_id in ("ATHEIRS1", "ANOBODY1"):
        refused = client.post(f"/v1/workers/{worker_id}/block", json={"reason": "x"}, headers=auth)
        error = assert_error(refused, 404)
        assert (error["code"], error["message"]) == (
            "resource_missing",
            f"No such worker: {worker_id}",
        )
    assert mturk_calls == {}
    blocked = client.post("/v1/workers/ATHEIRS1/block", json={"reason": "x"}, headers=other_auth)
    assert blocked.status_code == 200, blocked.json


def test_a_blocked_worker_cannot_accept_the_accounts_hits_until_unblocked(
    app, client, auth, other_auth, make_hitblock, publishing, mturk_calls
):
    hitblock = make_hitblock()
    worked_for(app, make_hitblock()["id"], "AWORKER1")  # in an earlier hitblock
    path = f"/v1/hitblocks/{hitblock['id']}"
    client.post(f"{path}/items/batch", json=[IMAGE, IMAGE], headers=auth)
    client.post(f"{path}/post", headers=auth)
    hits = [i["hit_id"] for i in client.get(f"{path}/items", headers=auth).json["data"]]

    mturk_calls.clear()
    blocked = client.post("/v1/workers/AWORKER1/block", json={"reason": "spam"}, headers=auth)
    assert blocked.status_code == 200, blocked.json
    assert blocked.json["object"] == "worker_block"
    assert (blocked.json["worker_id"], blocked.json["status"]) == ("AWORKER1", "active")
    assert mturk_calls == {"CreateWorkerBlock": 1}
    listed = client.get("/v1/workers/blocks", headers=auth).json
    assert [b["worker_id"] for b in listed["data"]] == ["AWORKER1"]
    assert client.get("/v1/workers/blocks", headers=other_auth).json["data"] == []
    mturk_blocks = publishing.client.list_worker_blocks()["WorkerBlocks"]
    assert mturk_blocks == [{"WorkerId": "AWORKER1", "Reason": "spam"}]

    worker = Worker(publishing.url, "AWORKER1")
    worker.sign_in()
    _, url, _ = worker.request(f"/worker/hits/{hits[0]}/accept", [])
    assert "/worker/assignments/" not in url
    assert publishing.client.list_assignments_for_hit(HITId=hits[0])["NumResults"] == 0

    lifted = client.post("/v1/workers/AWORKER1/unblock", headers=auth)
    assert lifted.status_code == 200 and lifted.json["status"] == "removed"
    assert publishing.client.list_worker_blocks()["WorkerBlocks"] == []
    assert client.get("/v1/workers/blocks", headers=auth).json["data"] == []
    complete(publishing.url, hits[0], "AWORKER1", [("transcription", "12.00")])
