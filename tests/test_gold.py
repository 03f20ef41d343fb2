"""Gold items and gold policies over HTTP, and end to end against the bundled MTurk service:
a worker who fails a hitblock's gold cannot take its next HIT."""

from __future__ import annotations

from app.jobs import run_poll_cycle
from tests.test_errors import assert_error
from tests.worker_site import Worker, complete

POLICY = {"min_accuracy": 0.5, "min_answers": 2}
IMAGE = {"image_url": "https://example.org/receipt.jpg"}


def test_an_item_carries_gold_in_json_form_and_batch_bodies(client, auth, hitblock):
    path = f"/v1/hitblocks/{hitblock['id']}/items"
    created = client.post(path, json={**IMAGE, "gold": {"transcription": "12.00"}}, headers=auth)
    assert created.status_code == 200, created.json
    assert created.json["gold"] == {"transcription": "12.00"}
    assert created.json["params"] == IMAGE  # gold is not an item field
    shown = client.get(f"/v1/item/{created.json['id']}", headers=auth).json
    assert shown["gold"] == {"transcription": "12.00"}

    form = client.post(
        path, data={**IMAGE, "gold[transcription]": "7", "gold[total]": "7"}, headers=auth
    )
    assert form.status_code == 200, form.json
    assert form.json["gold"] == {"transcription": "7", "total": "7"}

    plain = client.post(path, json=IMAGE, headers=auth).json
    assert plain["gold"] is None

    batch = client.post(
        f"{path}/batch", json=[{**IMAGE, "gold": {"transcription": "1"}}, IMAGE], headers=auth
    )
    assert batch.status_code == 200, batch.json
    first, second = (client.get(f"/v1/item/{i}", headers=auth).json for i in batch.json["item_ids"])
    assert first["gold"] == {"transcription": "1"} and second["gold"] is None


def test_bad_gold_is_a_400_naming_the_field(client, auth, hitblock):
    path = f"/v1/hitblocks/{hitblock['id']}/items"
    bad = client.post(path, json={**IMAGE, "gold": {"transcription": {"x": 1}}}, headers=auth)
    assert_error(bad, 400, param="gold[transcription]")
    assert_error(client.post(path, json={**IMAGE, "gold": "12"}, headers=auth), 400, param="gold")
    rows = [IMAGE, {**IMAGE, "gold": {"no such": "x"}}]
    error = assert_error(client.post(f"{path}/batch", json=rows, headers=auth), 400)
    assert error["errors"] == [
        {"index": 1, "param": "gold[no such]", "message": error["errors"][0]["message"]}
    ]


def test_a_gold_policy_is_set_and_shown(client, auth, make_hitblock):
    hitblock = make_hitblock(gold_policy=POLICY)
    assert hitblock["gold_policy"] == POLICY
    path = f"/v1/hitblocks/{hitblock['id']}"
    stricter = {"min_accuracy": 0.9, "min_answers": 10}
    assert client.post(path, json={"gold_policy": stricter}, headers=auth).json["gold_policy"] == (
        stricter
    )
    assert client.get(path, headers=auth).json["gold_policy"] == stricter
    assert make_hitblock()["gold_policy"] is None
    for bad in ({"min_accuracy": 1.5, "min_answers": 3}, {"min_accuracy": 0.5}, "strict"):
        response = client.post("/v1/hitblocks", json={**hitblock_fields(), "gold_policy": bad},
                               headers=auth)  # fmt: skip
        assert_error(response, 400)


def hitblock_fields():
    return {"type": "image-transcription", "title": "Receipts", "cost_per_item": 0.1}


def test_a_worker_failing_gold_cannot_accept_the_hitblocks_next_hit(
    app, client, auth, make_hitblock, publishing
):
    hitblock = make_hitblock(gold_policy=POLICY)
    path = f"/v1/hitblocks/{hitblock['id']}"
    rows = [
        {**IMAGE, "gold": {"transcription": "12.00"}},
        {**IMAGE, "gold": {"transcription": "7.50"}},
        IMAGE,
        IMAGE,
    ]
    assert client.post(f"{path}/items/batch", json=rows, headers=auth).status_code == 200
    assert client.post(f"{path}/post", headers=auth).status_code == 200
    items = sorted(client.get(f"{path}/items", headers=auth).json["data"], key=lambda i: i["id"])
    hits = [item["hit_id"] for item in items]
    question = publishing.client.get_hit(HITId=hits[0])["HIT"]["Question"]
    assert "12.00" not in question  # the HIT of a gold item looks like any other

    complete(publishing.url, hits[0], "AWORKER1", [("transcription", " 12.00")])  # right
    complete(publishing.url, hits[1], "AWORKER1", [("transcription", "9.99")])  # wrong
    complete(publishing.url, hits[2], "AWORKER1", [("transcription", "whatever")])
    report = run_poll_cycle(app)
    assert report is not None and report.errors == []
    # 1 of 2 right is 50%: not below the minimum yet.
    workers = client.get(f"{path}/workers", headers=auth).json["data"]
    assert [(w["worker_id"], w["gold_accuracy"], w["excluded"]) for w in workers] == [
        ("AWORKER1", 0.5, False)
    ]

    client.post(path, json={"gold_policy": {"min_accuracy": 0.6, "min_answers": 2}}, headers=auth)
    report = run_poll_cycle(app)  # sends the exclusion the new numbers decided
    assert report is not None and report.errors == []
    responses = client.get(f"{path}/responses", headers=auth).json["data"]
    assert {r["flagged"] for r in responses} == {True}
    assert {r["gold_correct"] for r in responses} == {True, False, None}
    events = client.get("/v1/events?type=worker.excluded", headers=auth).json["data"]
    assert [e["data"]["object"]["worker_id"] for e in events] == ["AWORKER1"]

    failing = Worker(publishing.url, "AWORKER1")
    failing.sign_in()
    status, url, page = failing.request(f"/worker/hits/{hits[3]}/accept", [])
    assert "/worker/assignments/" not in url, (status, url)
    assert publishing.client.list_assignments_for_hit(HITId=hits[3])["NumResults"] == 0
    complete(publishing.url, hits[3], "AWORKER2", [("transcription", "fine")])  # others can
    [requirement] = publishing.client.get_hit(HITId=hits[3])["HIT"]["QualificationRequirements"]
    assert requirement["Comparator"] == "DoesNotExist"
    assert requirement["ActionsGuarded"] == "DiscoverPreviewAndAccept"
    granted = publishing.client.list_workers_with_qualification_type(
        QualificationTypeId=requirement["QualificationTypeId"]
    )["Qualifications"]
    assert [q["WorkerId"] for q in granted] == ["AWORKER1"]
