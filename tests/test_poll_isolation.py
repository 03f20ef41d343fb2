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


def publish(client, auth, count):
    hitblock = client.post(
        "/v1/hitblocks",
        json={"type": "image-transcription", "title": "Receipts", "cost_per_item": 0.1},
        headers=auth,
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


@pytest.mark.postgres
def test_answers_holding_nul_are_stored_cleaned_and_flagged_on_postgres(
    postgres_schema_url, mturk_local
):
    app = create_app(
        {"DATABASE_URL": postgres_schema_url, "MTURK_ENDPOINT": mturk_local.url, "TESTING": True}
    )
    with app.app_context():
        flask_migrate.upgrade()
        auth = basic_auth(create_key(db.session, "acme").key)
    client = app.test_client()
    raw, crowd, plain = publish(client, auth, 3)
    complete(mturk_local.url, raw["hit_id"], "AWORKER1", [("transcription", "12\x0000")])
    complete(mturk_local.url, crowd["hit_id"], "AWORKER1",
             [("taskAnswers", '[{"transcription": "12\\u000000", "n": 3}]')])  # fmt: skip
    complete(mturk_local.url, plain["hit_id"], "AWORKER1", [("transcription", "7.50")])
    try:
        with app.app_context():
            report = polling.poll_once(db.session, mturk_gateway())
        assert (report.new_responses, report.errors) == (3, [])
        responses = stored(app)
        for item in (raw, crowd):
            response = responses[item["id"]]
            assert "\x00" not in response.answer_xml and "U+0000" in response.answer_error
            assert response.data["transcription"] == "1200"
        assert responses[crowd["id"]].data["n"] == 3
        assert responses[plain["id"]].answer_error is None
    finally:
        with app.app_context():
            db.engine.dispose()
