"""Events, written with the changes they describe, listed Stripe-style."""

from __future__ import annotations

from datetime import timedelta

from app.extensions import db
from app.gateway import mturk_gateway
from app.services.polling import poll_once
from tests.test_errors import assert_error
from tests.worker_site import complete


def poll(app):
    with app.app_context():
        return poll_once(db.session, mturk_gateway(), retry_bonuses_after=timedelta(0))


def event_types(client, auth, **query):
    params = "&".join(f"{k}={v}" for k, v in {"limit": 100, **query}.items())
    body = client.get(f"/v1/events?{params}", headers=auth).json
    return [event["type"] for event in reversed(body["data"])], body


def test_the_loop_writes_each_event_once(app, client, auth, other_auth, make_hitblock, publishing):
    hitblock = make_hitblock(cost_per_item=0.10)
    image = {"image_url": "https://example.org/a.jpg"}
    item = client.post(f"/v1/hitblocks/{hitblock['id']}/items", json=image, headers=auth).json
    hit_id = client.post(f"/v1/item/{item['id']}/post", headers=auth).json["id"]
    client.post(f"/v1/item/{item['id']}/post", headers=auth)  # a repeat writes nothing
    complete(publishing.url, hit_id, "AWORKER1", [("transcription", "12.00")])
    poll(app)
    poll(app)  # nothing new
    response_id = client.get(f"/v1/item/{item['id']}", headers=auth).json["responses"][0]["id"]
    client.post(f"/v1/responses/{response_id}/approve", headers=auth)
    client.post(f"/v1/responses/{response_id}/approve", headers=auth)

    types, body = event_types(client, auth)
    assert types == [
        "item.published",
        "response.submitted",
        "item.completed",
        "hitblock.completed",
        "response.approved",
    ]
    assert body["object"] == "list" and body["url"] == "/v1/events"
    newest = body["data"][0]
    assert newest["object"] == "event" and isinstance(newest["created"], int)
    assert newest["data"]["object"]["id"] == response_id
    assert newest["data"]["object"]["status"] == "approved"
    completed = next(e for e in body["data"] if e["type"] == "item.completed")
    assert completed["data"]["object"]["status"] == "completed"
    assert completed["data"]["object"]["responses"][0]["data"] == {"transcription": "12.00"}
    finished = next(e for e in body["data"] if e["type"] == "hitblock.completed")
    assert finished["data"]["object"]["status"] == "completed"

    one = client.get(f"/v1/events/{newest['id']}", headers=auth)
    assert one.json == newest
    assert event_types(client, auth, type="response.approved")[0] == ["response.approved"]
    assert client.get("/v1/events", headers=other_auth).json["data"] == []
    assert_error(client.get(f"/v1/events/{newest['id']}", headers=other_auth), 404)
    assert_error(client.get("/v1/events?type=nope", headers=auth), 400, param="type")


def test_events_paginate(app, client, auth, make_hitblock, publishing):
    hitblock = make_hitblock()
    rows = [{"image_url": f"https://example.org/{n}.jpg"} for n in range(5)]
    client.post(f"/v1/hitblocks/{hitblock['id']}/items/batch", json=rows, headers=auth)
    client.post(f"/v1/hitblocks/{hitblock['id']}/post", headers=auth)
    first = client.get("/v1/events?limit=3", headers=auth).json
    second = client.get(f"/v1/events?limit=3&starting_after={first['data'][-1]['id']}",
                        headers=auth).json  # fmt: skip
    assert first["has_more"] and not second["has_more"]
    assert len(first["data"]) + len(second["data"]) == 5
    assert {e["type"] for e in first["data"] + second["data"]} == {"item.published"}
