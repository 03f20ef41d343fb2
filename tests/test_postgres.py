"""The API on PostgreSQL (production's database): needs the server named by
HITBLOCKS_TEST_POSTGRES_URL, default 127.0.0.1:5432 database ``test``; skipped without it."""

from __future__ import annotations

import contextlib
import threading
from decimal import Decimal

import flask_migrate
import pytest
from sqlalchemy import event, select

from app import create_app
from app.extensions import db
from app.models import Hitblock, Item
from app.services.accounts import create_key
from app.services.publishing import _Recorder
from tests.conftest import basic_auth

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_app(postgres_schema_url, mturk_local):
    """The API on a fresh PostgreSQL schema, publishing to this test's local MTurk."""
    app = create_app(
        {"DATABASE_URL": postgres_schema_url, "MTURK_ENDPOINT": mturk_local.url, "TESTING": True}
    )
    with app.app_context():
        flask_migrate.upgrade()
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def pg_client(pg_app):
    with pg_app.app_context():
        key = create_key(db.session, "acme").key
        other = create_key(db.session, "globex").key
    return pg_app, pg_app.test_client(), basic_auth(key), basic_auth(other)


def test_full_flow_on_postgres(pg_client):
    app, client, auth, other_auth = pg_client
    hitblock = client.post(
        "/v1/hitblocks",
        data={"type": "image-transcription", "title": "Receipts", "cost_per_item": "0.07"},
        headers=auth,
    ).json
    assert hitblock["cost_per_item"] == 0.07
    with app.app_context():
        assert db.session.get(Hitblock, hitblock["id"]).cost_per_item == Decimal("0.07")

    path = f"/v1/hitblocks/{hitblock['id']}/items"
    single = client.post(
        path, data={"type": "image", "image_url": "http://a.org/0.png"}, headers=auth
    )
    assert single.status_code == 200, single.json
    csv_text = "image_url,description\n" + "".join(
        f"http://a.org/{n}.png,row {n}\n" for n in range(1, 301)
    )
    batch = client.post(f"{path}/batch", data=csv_text, content_type="text/csv", headers=auth)
    assert batch.status_code == 200, batch.json
    assert batch.json["count"] == 300
    assert batch.json["item_ids"] == sorted(batch.json["item_ids"])

    bad = client.post(f"{path}/batch", json=[{"image_url": "x"}], headers=auth)
    assert bad.status_code == 400
    assert client.get(f"/v1/hitblock/{hitblock['id']}", headers=auth).json["num_items"] == 301

    seen, cursor = [], None
    while True:
        query = f"?limit=100&starting_after={cursor}" if cursor else "?limit=100"
        page = client.get(path + query, headers=auth).json
        seen += [item["id"] for item in page["data"]]
        if not page["has_more"]:
            break
        cursor = seen[-1]
    assert seen == sorted([single.json["id"], *batch.json["item_ids"]], reverse=True)

    first_id = batch.json["item_ids"][0]
    assert client.get(f"/v1/item/{first_id}", headers=other_auth).status_code == 404
    assert client.delete(f"/v1/item/{first_id}", headers=auth).json == {
        "deleted": True,
        "id": first_id,
    }
    assert client.get(f"/v1/item/{first_id}", headers=auth).status_code == 404
    assert client.get("/v1/item/2147483647", headers=auth).status_code == 404


def test_two_pollers_and_two_reviewers_at_once_neither_duplicate_nor_fight(pg_app, mturk_local):
    """Two poll cycles (the lease bypassed, as if two hosts raced) and two bulk approvals run
    at once on PostgreSQL: every assignment is stored once and paid once."""
    import threading
    from datetime import timedelta

    from sqlalchemy import func, select

    from app.gateway import mturk_gateway
    from app.models import Response
    from app.services.polling import poll_once
    from tests.worker_site import Worker

    app = pg_app
    with app.app_context():
        auth = basic_auth(create_key(db.session, "acme").key)
    client = app.test_client()
    hitblock = client.post(
        "/v1/hitblocks",
        json={"type": "image-transcription", "title": "t", "cost_per_item": 0.1,
              "workers_per_item": 2},
        headers=auth,
    ).json  # fmt: skip
    rows = [{"image_url": f"https://example.org/{n}.jpg"} for n in range(8)]
    client.post(f"/v1/hitblocks/{hitblock['id']}/items/batch", json=rows, headers=auth)
    client.post(f"/v1/hitblocks/{hitblock['id']}/post", headers=auth)
    items = client.get(f"/v1/hitblocks/{hitblock['id']}/items?limit=100", headers=auth).json
    for worker_id in ("AWORKER1", "AWORKER2"):
        worker = Worker(mturk_local.url, worker_id)
        worker.sign_in()
        for item in items["data"]:
            worker.submit(worker.accept(item["hit_id"]), [("transcription", worker_id)])
    start = Decimal(mturk_local.client.get_account_balance()["AvailableBalance"])

    def at_once(action):
        barrier = threading.Barrier(2)
        failures: list[BaseException] = []

        def run():
            try:
                barrier.wait()
                action()
            except BaseException as error:  # noqa: BLE001 - reported below
                failures.append(error)

        threads = [threading.Thread(target=run) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert failures == []

    def poll():
        with app.app_context():
            report = poll_once(db.session, mturk_gateway(), retry_bonuses_after=timedelta(0))
            assert report.errors == []

    at_once(poll)
    poll()
    with app.app_context():
        stored = db.session.scalars(select(Response.assignment_id)).all()
        assert len(stored) == len(set(stored)) == 16
    listed = client.get(f"/v1/hitblocks/{hitblock['id']}/items?limit=100", headers=auth).json
    assert {item["status"] for item in listed["data"]} == {"completed"}

    at_once(lambda: client.post(f"/v1/hitblocks/{hitblock['id']}/responses/approve", headers=auth))
    end = Decimal(mturk_local.client.get_account_balance()["AvailableBalance"])
    assert start - end == Decimal("1.92")  # 16 x (0.10 + 0.02), each paid once
    body = client.get(f"/v1/hitblocks/{hitblock['id']}", headers=auth).json
    assert Decimal(str(body["total_spent"])) == start - end
    with app.app_context():
        approved = select(func.count(Response.id)).where(Response.status == "approved")
        assert db.session.scalar(approved) == 16


def test_strings_postgres_cannot_store_are_400_naming_the_param(pg_client):
    """U+0000 (and a lone surrogate, and 1e400) in a body or a CSV cell were 500s here:
    PostgreSQL's text and JSONB refuse them. Now they are 400s, as on SQLite."""
    app, client, auth, _ = pg_client
    app.config["PROPAGATE_EXCEPTIONS"] = False
    hitblock = client.post(
        "/v1/hitblocks",
        json={"type": "image-transcription", "title": "Receipts", "cost_per_item": 0.1},
        headers=auth,
    ).json
    items = f"/v1/hitblocks/{hitblock['id']}/items"
    url = "http://a.org/x.png"

    def refused(response, param=None, code=None):
        assert response.status_code == 400, response.json
        error = response.json["error"]
        assert error["type"] == "invalid_request_error"
        assert param is None or error["param"] == param
        assert code is None or error["code"] == code
        return error

    hitblock_json = '{"type": "image-transcription", "title": "a\\u0000b", "cost_per_item": 0.1}'
    refused(client.post("/v1/hitblocks", data=hitblock_json, content_type="application/json",
                        headers=auth), "title")  # fmt: skip
    form = {"type": "image-transcription", "title": "a\x00b", "cost_per_item": "0.1"}
    refused(client.post("/v1/hitblocks", data=form, headers=auth), "title")
    refused(client.post(items, json={"image_url": url, "params": {"note": "\x00"}}, headers=auth),
            "params[note]")  # fmt: skip
    refused(client.post(items, data={"image_url": url, "note": "a\x00"}, headers=auth), "note")
    surrogate = '{"image_url": "' + url + '", "note": "\\ud800"}'
    refused(client.post(items, data=surrogate, content_type="application/json", headers=auth),
            "note")  # fmt: skip
    huge = '{"image_url": "' + url + '", "n": 1e400}'
    refused(client.post(items, data=huge, content_type="application/json", headers=auth),
            code="invalid_json")  # fmt: skip
    csv_text = f"image_url,note\n{url},fine\n{url},a\x00b\n"
    error = refused(client.post(f"{items}/batch", data=csv_text, content_type="text/csv",
                                headers=auth), code="batch_invalid")  # fmt: skip
    assert error["errors"] == [
        {"line": 3, "param": "note", "message": "note must not contain the NUL character (U+0000)."}
    ]
    keyed = {**auth, "Idempotency-Key": "a\x00b"}
    refused(client.post(items, json={"image_url": url}, headers=keyed), "Idempotency-Key")
    assert client.get(items, headers=auth).json["data"] == []
    assert client.get("/v1/hitblocks", headers=auth).json["data"] == [hitblock]


def test_two_recorders_of_one_hitblock_lock_its_items_in_one_order(pg_app):
    """Two whole-hitblock publishes at once record the same items, MTurk answering each in
    its own order. Each recorder locks the rows in id order, so one waits for the other
    instead of each holding a row the other needs (PostgreSQL would end one as a deadlock).
    Each pauses after its first statement that locks items (an UPDATE, or the SELECT ... FOR
    NO KEY UPDATE before it) until the other has made its own (or 1 s passed), and that
    first statement must be the one that locks them all in id order."""
    client = pg_app.test_client()
    with pg_app.app_context():
        issued = create_key(db.session, "acme")
    auth = basic_auth(issued.key)
    hitblock = client.post(
        "/v1/hitblocks",
        json={"type": "image-transcription", "title": "Receipts", "cost_per_item": 0.05},
        headers=auth,
    ).json
    rows = [{"image_url": f"https://a.org/{n}.png"} for n in range(2)]
    items = client.post(f"/v1/hitblocks/{hitblock['id']}/items/batch", json=rows, headers=auth)
    first, second = sorted(items.json["item_ids"])
    answers = {first: "HITFIRST", second: "HITSECOND"}

    both_updated = threading.Barrier(2)
    updates = threading.local()

    first_on_items: list[str] = []  # each recorder's first statement on items

    def pause_after_first_update(conn, cursor, statement, *_args) -> None:
        said = " ".join(statement.upper().split())
        locks = " FROM ITEMS " in said and "FOR NO KEY UPDATE" in said
        if said.startswith("UPDATE ITEMS") or locks:
            if getattr(updates, "count", 0) == 0:
                first_on_items.append(said)
            updates.count = getattr(updates, "count", 0) + 1
            if updates.count == 1:
                with contextlib.suppress(threading.BrokenBarrierError):
                    both_updated.wait(timeout=1.0)

    failures: list[BaseException] = []

    def record(order: list[int]) -> None:
        try:
            with pg_app.app_context():
                recorder = _Recorder(db.session, None, hitblock["id"], issued.account_id)  # type: ignore[arg-type]
                recorder({item_id: answers[item_id] for item_id in order})
        except BaseException as error:
            failures.append(error)

    with pg_app.app_context():
        engine = db.engine
    event.listen(engine, "after_cursor_execute", pause_after_first_update)
    try:
        threads = [
            threading.Thread(target=record, args=(order,))
            for order in ([first, second], [second, first])
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    finally:
        event.remove(engine, "after_cursor_execute", pause_after_first_update)
    assert failures == []
    # Each locked its rows in id order before updating any (FOR NO KEY UPDATE, as an UPDATE
    # locks: a response stored for one of the items meanwhile need not wait).
    assert len(first_on_items) == 2
    for said in first_on_items:
        assert "ORDER BY ITEMS.ID" in said and "FOR NO KEY UPDATE" in said, said
    with pg_app.app_context():
        stored = db.session.execute(
            select(Item.id, Item.status, Item.hit_id).where(Item.hitblock_id == hitblock["id"])
        ).all()
    assert sorted(stored) == [(first, "published", "HITFIRST"), (second, "published", "HITSECOND")]
