"""GET /v1/hitblocks/{id}/consensus over HTTP."""

from __future__ import annotations

import pytest

from app.extensions import db
from app.models import Hitblock
from app.services import consensus as consensus_service
from tests.helpers.crowd import add_item, add_response, synthetic_crowd
from tests.test_errors import assert_error


def fill(app, hitblock_id, **options):
    with app.app_context():
        hitblock = db.session.get(Hitblock, hitblock_id)
        return synthetic_crowd(db.session, hitblock, **options)


def test_both_methods_over_http(app, client, auth, make_hitblock):
    pytest.importorskip("crowdkit", reason="the consensus extra is not installed")
    hitblock = make_hitblock(
        type="image-classification", labels=["cat", "dog", "bird"], workers_per_item=5
    )
    crowd = fill(app, hitblock["id"], items=60)
    found = {}
    for path, method in (("hitblocks", "majority_vote"), ("hitblock", "dawid_skene")):
        url = f"/v1/{path}/{hitblock['id']}/consensus?method={method}&limit=100"
        response = client.get(url, headers=auth)
        assert response.status_code == 200, response.json
        body = response.json
        assert body["object"] == "list" and body["method"] == method
        assert body["has_more"] is False and len(body["data"]) == 60
        first = body["data"][0]
        assert set(first) == {"object", "item", "answer", "confidence", "responses"}
        assert first["object"] == "item_consensus" and first["responses"] == 5
        found[method] = {row["item"]: row["answer"]["label"] for row in body["data"]}
    right = {m: sum(a[i] == crowd.truth[i] for i in crowd.truth) for m, a in found.items()}
    assert right["dawid_skene"] > right["majority_vote"]


def test_default_method_pages_and_errors(app, client, auth, other_auth, make_hitblock):
    hitblock = make_hitblock()
    path = f"/v1/hitblocks/{hitblock['id']}/consensus"
    with app.app_context():
        row = db.session.get(Hitblock, hitblock["id"])
        items = [add_item(db.session, row) for _ in range(3)]
        for item in items:
            add_response(db.session, item, "A1", {"transcription": "12.00"})
        ids = sorted(item.id for item in items)
    page = client.get(f"{path}?limit=2", headers=auth).json
    assert page["method"] == "majority_vote"
    assert [r["item"] for r in page["data"]] == ids[::-1][:2] and page["has_more"] is True
    assert page["data"][0]["answer"] == {"transcription": "12.00"}
    assert page["data"][0]["confidence"] == {"transcription": 1.0}
    assert_error(client.get(f"{path}?method=mean", headers=auth), 400, param="method")
    assert_error(client.get(path, headers=other_auth), 404)


def test_dawid_skene_without_the_extra_is_a_400_with_a_code(client, auth, hitblock, monkeypatch):
    monkeypatch.setattr(consensus_service, "_crowdkit", lambda: None)
    response = client.get(
        f"/v1/hitblocks/{hitblock['id']}/consensus?method=dawid_skene", headers=auth
    )
    error = assert_error(response, 400, param="method")
    assert error["code"] == "consensus_extra_missing"
    assert "pip install 'hitblocks[consensus]'" in error["message"]
