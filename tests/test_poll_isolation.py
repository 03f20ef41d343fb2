"""One HIT's bad work never stops a poll cycle: failures are logged, counted and skipped,
and answers no database column can hold (U+0000) are stored cleaned and flagged."""

from __future__ import annotations

import flask_migrate
import pytest
from sqlalchemy import select

from app import create_app
from app.extensions import db
from app.gateway import mturk_gateway
from app.models import Response
from app.services import polling
from app.services.accounts import create_key
from tests.conftest import basic_auth
from tests.worker_site import complete


def publish(client, auth, count, workers_per_item=1):
    fields = {"type": "image-transcription", "title": "Receipts", "cost_per_item": 0.1}
    hitblock = client.post(
        "/v1/hitblocks", json={**fields, "workers_per_item": workers_per_item}, headers=auth
    ).json
    rows = [{"image_url": f"https://example.org/{n}.jpg"} for n in range(count)]
    client.post(f"/v1/hitblocks/{hitblock['id']}/items/batch", json=rows, headers=auth)
    assert client.post(f"/v1/hitblocks/{hitblock['id']}/post", headers=auth).status_code == 200
    items = client.get(f"/v1/hitblocks/{hitblock['id']}/items?limit=100", headers=auth).json
    return sorted(items["data"], key=lambda item: item["id"])


def stored(app):
    with app.app_context():
        return {r.item_id: r for r in db.session.scalars(select(Response)).all()}


def test_an_error_storing_one_hits_work_skips_that_hit_only(
    app, client, auth, publishing, monkeypatch
):
    first, second = publish(client, auth, 2)
    for item in (first, second):
        complete(publishing.url, item["hit_id"], "AWORKER1", [("transcription", "12.00")])
    real_store = polling.store_assignments

    def broken_for_the_first(session, item, hitblock, assignments):
        if item.id == first["id"]:
            raise RuntimeError("the database refused this row")
        return real_store(session, item, hitblock, assignments)

    monkeypatch.setattr(polling, "store_assignments", broken_for_the_first)
    with app.app_context():
        report = polling.poll_once(db.session, mturk_gateway())
    assert report.new_responses == 1
    assert report.errors == [f"HIT {first['hit_id']}: RuntimeError: the database refused this row"]
    assert set(stored(app)) == {second["id"]}

    monkeypatch.setattr(polling, "store_assignments", real_store)
    with app.app_context():
        report = polling.poll_once(db.session, mturk_gateway())
    assert (report.new_responses, report.errors) == (1, [])  # the next cycle collects it
    assert set(stored(app)) == {first["id"], second["id"]}


def test_a_hit_that_keeps_failing_does_not_starve_the_partial_rotation(
    app, client, auth, publishing, monkeypatch
):
    items = publish(client, auth, 3, workers_per_item=2)
    for item in items:
        complete(publishing.url, item["hit_id"], "AWORKER1", [("transcription", "1")])
    real_store = polling.store_assignments

    def broken_for_the_first(session, item, hitblock, assignments):
        if item.id == items[0]["id"]:
            raise RuntimeError("cannot store this one")
        return real_store(session, item, hitblock, assignments)

    monkeypatch.setattr(polling, "store_assignments", broken_for_the_first)
    for _ in range(3):
        with app.app_context():
            polling.poll_once(db.session, mturk_gateway(), partial_budget=1)
    assert set(stored(app)) == {items[1]["id"], items[2]["id"]}


@pytest.mark.postgres
def test_answers_holding_nul_or_surrogates_are_stored_cleaned_and_flagged_on_postgres(
    postgres_schema_url, mturk_local
):
    app = create_app(
        {"DATABASE_URL": postgres_schema_url, "MTURK_ENDPOINT": mturk_local.url, "TESTING": True}
    )
    with app.app_context():
        flask_migrate.upgrade()
        auth = basic_auth(create_key(db.session, "acme").key)
    client = app.test_client()
    raw, crowd, plain, surrogate = publish(client, auth, 4)
    complete(mturk_local.url, raw["hit_id"], "AWORKER1", [("transcription", "12\x0000")])
    complete(mturk_local.url, crowd["hit_id"], "AWORKER1",
             [("taskAnswers", '[{"transcription": "12\\u000000", "n": 3}]')])  # fmt: skip
    complete(mturk_local.url, plain["hit_id"], "AWORKER1", [("transcription", "7.50")])
    complete(mturk_local.url, surrogate["hit_id"], "AWORKER1",
             [("taskAnswers", '[{"transcription": "12\\ud800"}]')])  # fmt: skip
    try:
        with app.app_context():
            report = polling.poll_once(db.session, mturk_gateway())
        assert (report.new_responses, report.errors) == (4, [])
        responses = stored(app)
        # A form field holding U+0000 cannot be put in XML: the service keeps the answer
        # with U+FFFD in its place. One that JSON escapes (\u0000) reaches Hitblocks, which
        # removes it and says so.
        assert responses[raw["id"]].data["transcription"] == "12\ufffd00"
        response = responses[crowd["id"]]
        assert "\x00" not in response.answer_xml and "U+0000" in response.answer_error
        assert response.data["transcription"] == "1200"
        assert responses[crowd["id"]].data["n"] == 3
        assert responses[plain["id"]].answer_error is None
        assert responses[surrogate["id"]].data["transcription"] == "12\ufffd"
        assert "surrogate" in responses[surrogate["id"]].answer_error
    finally:
        with app.app_context():
            db.engine.dispose()
