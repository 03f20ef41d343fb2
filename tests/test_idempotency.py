"""Idempotency-Key on POST, with Stripe's semantics."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from app.extensions import db
from app.idempotency import request_fingerprint
from app.models import Hitblock, IdempotencyKey, Item, utcnow
from tests.conftest import HITBLOCK
from tests.test_errors import assert_error


def with_key(auth, key):
    return {**auth, "Idempotency-Key": key}


def count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(model.id)))


def add_item(client, auth, hitblock):
    path = f"/v1/hitblocks/{hitblock['id']}/items"
    return client.post(path, json={"image_url": "https://example.org/a.jpg"}, headers=auth).json


def test_a_repeat_replays_the_first_answer(app, client, auth):
    first = client.post("/v1/hitblocks", json=HITBLOCK, headers=with_key(auth, "k1"))
    again = client.post("/v1/hitblocks", json=HITBLOCK, headers=with_key(auth, "k1"))
    assert first.status_code == again.status_code == 200
    assert again.json == first.json
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert count(app, Hitblock) == 1


def test_same_parameters_in_another_order_are_the_same_request(app, client, auth):
    template = "<form>${a}<button>Submit</button></form>"
    body = f'{{"type": "html", "title": "t", "cost_per_item": 1, "template": "{template}"}}'
    reordered = f'{{"template": "{template}", "cost_per_item": 1, "title": "t", "type": "html"}}'
    for raw in (body, reordered):
        response = client.post("/v1/hitblocks", data=raw, content_type="application/json",
                               headers=with_key(auth, "k1"))  # fmt: skip
        assert response.status_code == 200
    assert count(app, Hitblock) == 1


def test_a_repeat_with_other_parameters_is_an_idempotency_error(app, client, auth):
    client.post("/v1/hitblocks", json=HITBLOCK, headers=with_key(auth, "k1"))
    other = client.post("/v1/hitblocks", json={**HITBLOCK, "title": "other"},
                        headers=with_key(auth, "k1"))  # fmt: skip
    assert_error(other, 400, "idempotency_error", param="Idempotency-Key")
    other_path = client.post("/v1/hitblock", json=HITBLOCK, headers=with_key(auth, "k1"))
    assert_error(other_path, 400, "idempotency_error")
    assert count(app, Hitblock) == 1


def test_keys_belong_to_one_account(app, client, auth, other_auth):
    client.post("/v1/hitblocks", json=HITBLOCK, headers=with_key(auth, "shared"))
    theirs = client.post("/v1/hitblocks", json=HITBLOCK, headers=with_key(other_auth, "shared"))
    assert theirs.status_code == 200 and "Idempotent-Replayed" not in theirs.headers
    assert count(app, Hitblock) == 2


def test_a_repeat_while_the_first_runs_is_409(app, client, auth, key):
    with app.app_context():
        from app.auth import hash_key
        from app.models import ApiKey

        account_id = db.session.scalar(
            select(ApiKey.account_id).where(ApiKey.key_hash == hash_key(key))
        )
    with app.test_request_context("/v1/hitblocks", method="POST", json=HITBLOCK):
        fingerprint = request_fingerprint()
    with app.app_context():
        claim = IdempotencyKey(account_id=account_id, key="busy", request_hash=fingerprint)
        db.session.add(claim)  # a first request that has not answered yet
        db.session.commit()
    response = client.post("/v1/hitblocks", json=HITBLOCK, headers=with_key(auth, "busy"))
    assert assert_error(response, 409)["code"] == "idempotency_key_in_use"
    assert count(app, Hitblock) == 0


def test_concurrent_repeats_run_once(app, client, auth, hitblock, publishing):
    item = add_item(client, auth, hitblock)
    publishing.faults.latency = 0.3
    barrier = threading.Barrier(2)
    statuses: list[int] = []

    def post():
        barrier.wait()
        response = client.post(f"/v1/item/{item['id']}/post", headers=with_key(auth, "pub-1"))
        statuses.append(response.status_code)

    threads = [threading.Thread(target=post) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200, 409]
    assert publishing.faults.calls["CreateHITWithHITType"] == 1


def test_a_retried_batch_creates_its_items_once(app, client, auth, hitblock):
    rows = [{"image_url": f"https://example.org/{n}.jpg"} for n in range(50)]
    path = f"/v1/hitblocks/{hitblock['id']}/items/batch"
    first = client.post(path, json=rows, headers=with_key(auth, "batch-1")).json
    again = client.post(path, json=rows, headers=with_key(auth, "batch-1")).json
    assert again["item_ids"] == first["item_ids"]
    assert count(app, Item) == 50


def test_a_5xx_is_not_stored_so_a_retry_runs_again(app, client, auth, hitblock, publishing):
    item = add_item(client, auth, hitblock)
    publishing.faults.queued += [("CreateHITWithHITType", "fault")] * 3
    path = f"/v1/item/{item['id']}/post"
    assert client.post(path, headers=with_key(auth, "pub-2")).status_code == 503
    retried = client.post(path, headers=with_key(auth, "pub-2"))
    assert retried.status_code == 200 and "Idempotent-Replayed" not in retried.headers


def test_a_request_that_failed_validation_is_not_stored(app, client, auth):
    bad = client.post("/v1/hitblocks", json={"title": "x"}, headers=with_key(auth, "k1"))
    assert bad.status_code == 400
    fixed = client.post("/v1/hitblocks", json=HITBLOCK, headers=with_key(auth, "k1"))
    assert fixed.status_code == 200 and "Idempotent-Replayed" not in fixed.headers


def test_keys_expire_after_24_hours(app, client, auth):
    client.post("/v1/hitblocks", json=HITBLOCK, headers=with_key(auth, "old"))
    with app.app_context():
        db.session.execute(update(IdempotencyKey).values(created=utcnow() - timedelta(hours=25)))
        db.session.commit()
    again = client.post("/v1/hitblocks", json=HITBLOCK, headers=with_key(auth, "old"))
    assert "Idempotent-Replayed" not in again.headers
    assert count(app, Hitblock) == 2


def test_key_length(client, auth):
    response = client.post("/v1/hitblocks", json=HITBLOCK, headers=with_key(auth, "k" * 256))
    assert_error(response, 400, param="Idempotency-Key")
    assert client.post("/v1/hitblocks", json=HITBLOCK,
                       headers=with_key(auth, "k" * 255)).status_code == 200  # fmt: skip


@pytest.mark.parametrize("bad_key", ["a\x00b", "bell\x07", "tab\there", "del\x7f", "c1\x85"])
def test_keys_with_control_characters_are_refused(app, client, auth, bad_key):
    """A NUL in the key made PostgreSQL's lookup fail with a 500."""
    response = client.post("/v1/hitblocks", json=HITBLOCK, headers=with_key(auth, bad_key))
    error = assert_error(response, 400, param="Idempotency-Key")
    assert error["code"] == "idempotency_key_invalid"
    assert count(app, Hitblock) == 0 and count(app, IdempotencyKey) == 0


@pytest.mark.parametrize(
    "body", [b"[" * 100_000 + b"]" * 100_000, b'{"n": 1e400}', b'{"n": NaN}', b"{"]
)
def test_a_body_the_json_reader_refuses_is_fingerprinted_as_it_is(app, body):
    """The fingerprint reads JSON as the API does (it overflowed the stack on deep nesting)."""
    with app.test_request_context("/v1/hitblocks", method="POST", data=body,
                                  content_type="application/json"):  # fmt: skip
        fingerprint = request_fingerprint()
    with app.test_request_context("/v1/hitblocks", method="POST", data=body + b" ",
                                  content_type="application/json"):  # fmt: skip
        assert request_fingerprint() != fingerprint  # compared byte for byte
