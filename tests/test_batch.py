from __future__ import annotations

import io
import json

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Item
from tests.test_errors import assert_error


def count_items(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(Item.id)))


def batch_path(hitblock) -> str:
    return f"/v1/hitblocks/{hitblock['id']}/items/batch"


def test_json_array_creates_items_in_row_order(client, auth, hitblock):
    rows = [
        {"image_url": "http://a.org/1.png", "description": "one"},
        {"type": "image", "params": {"image_url": "http://a.org/2.png"}},
        {"image_url": "http://a.org/3.png"},
    ]
    response = client.post(batch_path(hitblock), json=rows, headers=auth)
    assert response.status_code == 200, response.json
    body = response.json
    assert body["object"] == "item_batch"
    assert body["hitblock"] == hitblock["id"]
    assert body["count"] == 3
    assert body["item_ids"] == sorted(body["item_ids"])
    for row, item_id in zip(rows, body["item_ids"], strict=True):
        item = client.get(f"/v1/item/{item_id}", headers=auth).json
        expected = row.get("params") or row
        assert item["params"]["image_url"] == expected["image_url"]
        assert item["status"] == "pending"
    assert client.get(f"/v1/hitblock/{hitblock['id']}", headers=auth).json["num_items"] == 3


def test_singular_path_works_too(client, auth, hitblock):
    path = f"/v1/hitblock/{hitblock['id']}/items/batch"
    assert (
        client.post(path, json=[{"image_url": "http://a.org/1.png"}], headers=auth).json["count"]
        == 1
    )


CSV = "image_url,description\r\nhttp://a.org/1.png,first\r\nhttp://a.org/2.png,\r\n"


def test_csv_body_with_mturk_style_header(client, auth, hitblock):
    response = client.post(batch_path(hitblock), data=CSV, content_type="text/csv", headers=auth)
    assert response.status_code == 200, response.json
    first, second = response.json["item_ids"]
    assert client.get(f"/v1/item/{first}", headers=auth).json["params"] == {
        "image_url": "http://a.org/1.png",
        "description": "first",
    }
    # An empty cell is an absent field.
    assert client.get(f"/v1/item/{second}", headers=auth).json["params"] == {
        "image_url": "http://a.org/2.png"
    }


def test_csv_multipart_upload_with_bom_and_quoted_newlines(client, auth, make_hitblock):
    created = make_hitblock(
        type="html", template="<form><p>${question}</p><button>Submit</button></form>"
    )
    text = '\ufeffquestion\n"line one\nline two"\nsecond\n'
    data = {"file": (io.BytesIO(text.encode()), "batch.csv", "text/csv")}
    response = client.post(
        batch_path(created), data=data, content_type="multipart/form-data", headers=auth
    )
    assert response.status_code == 200, response.json
    first = client.get(f"/v1/item/{response.json['item_ids'][0]}", headers=auth).json
    assert first["params"] == {"question": "line one\nline two"}


def test_one_bad_row_rejects_the_json_batch_listing_each_bad_row(app, client, auth, hitblock):
    rows = [
        {"image_url": "http://a.org/1.png"},
        {"image_url": "nope"},
        {"description": "no image"},
        "not an object",
        {"type": "text", "image_url": "http://a.org/5.png"},
    ]
    response = client.post(batch_path(hitblock), json=rows, headers=auth)
    error = assert_error(response, 400)
    assert error["code"] == "batch_invalid"
    assert "4 of 5 rows" in error["message"]
    assert [(e["index"], e["param"]) for e in error["errors"]] == [
        (1, "image_url"),
        (2, "image_url"),
        (3, None),
        (4, "type"),
    ]
    assert all(e["message"] for e in error["errors"])
    assert count_items(app) == 0


def test_one_bad_row_rejects_the_csv_batch_with_line_numbers(app, client, auth, hitblock):
    csv_text = (
        "image_url,description\n"
        "http://a.org/1.png,ok\n"
        "ftp://a.org/2.png,bad scheme\n"
        "http://a.org/3.png,too,many\n"
        ",missing url\n"
    )
    response = client.post(
        batch_path(hitblock), data=csv_text, content_type="text/csv", headers=auth
    )
    error = assert_error(response, 400)
    assert [(e["line"], e["param"]) for e in error["errors"]] == [
        (3, "image_url"),
        (4, None),
        (5, "image_url"),
    ]
    assert count_items(app) == 0


@pytest.mark.parametrize(
    ("body", "content_type", "code_or_param"),
    [
        ("[]", "application/json", "batch_empty"),
        ('{"image_url": "http://a.org/1.png"}', "application/json", "batch_not_array"),
        ("[", "application/json", "invalid_json"),
        ("", "text/csv", "file"),
        ("image_url\n", "text/csv", "batch_empty"),
        ("image_url,image_url\nhttp://a/1,http://a/2\n", "text/csv", "file"),
        (b"image_url\n\xff\xfe\n", "text/csv", "file"),
        ("<xml/>", "application/xml", "unsupported_content_type"),
    ],
)
def test_unreadable_batches_are_400(app, client, auth, hitblock, body, content_type, code_or_param):
    response = client.post(batch_path(hitblock), data=body, content_type=content_type, headers=auth)
    error = assert_error(response, 400)
    assert code_or_param in {error["code"], error["param"]}
    assert count_items(app) == 0


def test_multipart_without_a_file_field(client, auth, hitblock):
    response = client.post(
        batch_path(hitblock),
        data={"other": "x"},
        content_type="multipart/form-data",
        headers=auth,
    )
    assert_error(response, 400, param="file")


def test_ten_thousand_rows_are_accepted(app, client, auth, hitblock):
    csv_text = "image_url\n" + "".join(f"http://a.org/{n}.png\n" for n in range(10_000))
    response = client.post(
        batch_path(hitblock), data=csv_text, content_type="text/csv", headers=auth
    )
    assert response.status_code == 200, response.json
    assert response.json["count"] == 10_000
    assert len(set(response.json["item_ids"])) == 10_000
    assert count_items(app) == 10_000


def test_more_rows_than_the_limit_are_refused(app, client, auth, hitblock):
    rows = [{"image_url": f"http://a.org/{n}.png"} for n in range(10_001)]
    error = assert_error(client.post(batch_path(hitblock), json=rows, headers=auth), 400)
    assert error["code"] == "batch_too_large"
    assert "10000" in error["message"]
    assert count_items(app) == 0


def test_row_limit_is_configurable(app, client, auth, hitblock):
    app.config["BATCH_MAX_ROWS"] = 2
    rows = [{"image_url": f"http://a.org/{n}.png"} for n in range(3)]
    assert_error(client.post(batch_path(hitblock), json=rows, headers=auth), 400)
    assert client.post(batch_path(hitblock), json=rows[:2], headers=auth).status_code == 200


def test_batch_into_another_accounts_hitblock_is_404(app, client, other_auth, hitblock):
    rows = [{"image_url": "http://a.org/1.png"}]
    assert_error(client.post(batch_path(hitblock), json=rows, headers=other_auth), 404)
    assert count_items(app) == 0


def test_a_nul_in_a_csv_cell_rejects_the_batch_naming_line_and_column(app, client, auth, hitblock):
    csv_text = (
        "image_url,description\n"
        "http://a.org/1.png,ok\n"
        "http://a.org/2.png,a\x00b\n"
        "http://a.org/3.png\x00,fine\n"
    )
    for body, content_type in (
        (csv_text, "text/csv"),
        ({"file": (io.BytesIO(csv_text.encode()), "items.csv")}, "multipart/form-data"),
    ):
        response = client.post(
            batch_path(hitblock), data=body, content_type=content_type, headers=auth
        )
        error = assert_error(response, 400)
        assert error["code"] == "batch_invalid"
        assert [(e["line"], e["param"]) for e in error["errors"]] == [
            (3, "description"),
            (4, "image_url"),
        ]
        assert "U+0000" in error["errors"][0]["message"]
    assert count_items(app) == 0


def test_a_nul_in_a_json_row_rejects_the_batch_naming_index_and_param(app, client, auth, hitblock):
    rows = [
        {"image_url": "http://a.org/1.png"},
        {"params": {"image_url": "http://a.org/2.png", "note": "\x00"}},
        {"image_url": "http://a.org/3.png", "note": "\ud800"},
    ]
    response = client.post(
        batch_path(hitblock), data=json.dumps(rows), content_type="application/json",
        headers=auth,
    )  # fmt: skip
    error = assert_error(response, 400)
    assert error["code"] == "batch_invalid"
    assert [(e["index"], e["param"]) for e in error["errors"]] == [
        (1, "params[note]"),
        (2, "note"),
    ]
    assert count_items(app) == 0
