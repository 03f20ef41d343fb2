"""The API on PostgreSQL (production's database): needs the server named by
HITBLOCKS_TEST_POSTGRES_URL, default 127.0.0.1:5432 database ``test``; skipped without it."""

from __future__ import annotations

from decimal import Decimal

import flask_migrate
import pytest

from app import create_app
from app.extensions import db
from app.models import Hitblock
from app.services.accounts import create_key
from tests.conftest import basic_auth

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_client(postgres_schema_url):
    app = create_app({"DATABASE_URL": postgres_schema_url, "TESTING": True})
    with app.app_context():
        flask_migrate.upgrade()
        key = create_key(db.session, "acme").key
        other = create_key(db.session, "globex").key
    yield app, app.test_client(), basic_auth(key), basic_auth(other)
    with app.app_context():
        db.engine.dispose()


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
