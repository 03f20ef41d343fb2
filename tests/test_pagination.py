from __future__ import annotations

import pytest

from tests.test_errors import assert_error


def add_items(client, auth, hitblock, count: int, start: int = 0) -> list[int]:
    rows = [{"image_url": f"http://a.org/{n}.png"} for n in range(start, start + count)]
    path = f"/v1/hitblocks/{hitblock['id']}/items/batch"
    return client.post(path, json=rows, headers=auth).json["item_ids"]


def ids(body) -> list[int]:
    return [obj["id"] for obj in body["data"]]


def test_default_limit_is_ten_newest_first(client, auth, hitblock):
    created = add_items(client, auth, hitblock, 12)
    body = client.get(f"/v1/hitblocks/{hitblock['id']}/items", headers=auth).json
    assert ids(body) == sorted(created, reverse=True)[:10]
    assert body["has_more"] is True


def test_walking_forward_across_pages_with_inserts_in_between(client, auth, hitblock):
    """New items appear at the head; a cursor walk never repeats or skips older ones."""
    original = add_items(client, auth, hitblock, 25)
    path = f"/v1/hitblocks/{hitblock['id']}/items"
    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        query = f"?limit=7&starting_after={cursor}" if cursor else "?limit=7"
        body = client.get(path + query, headers=auth).json
        seen += ids(body)
        pages += 1
        add_items(client, auth, hitblock, 3, start=1000 + pages * 10)  # inserts in between
        if not body["has_more"]:
            break
        cursor = body["data"][-1]["id"]
    assert seen == sorted(original, reverse=True)
    assert pages == 4


def test_walking_backward_with_ending_before(client, auth, hitblock):
    created = sorted(add_items(client, auth, hitblock, 10), reverse=True)
    path = f"/v1/hitblocks/{hitblock['id']}/items"
    body = client.get(f"{path}?limit=3&ending_before={created[6]}", headers=auth).json
    assert ids(body) == created[3:6]
    assert body["has_more"] is True
    body = client.get(f"{path}?limit=3&ending_before={created[3]}", headers=auth).json
    assert ids(body) == created[0:3]
    assert body["has_more"] is False


def test_deleted_cursor_object_still_works(client, auth, hitblock):
    created = sorted(add_items(client, auth, hitblock, 5), reverse=True)
    client.delete(f"/v1/item/{created[1]}", headers=auth)
    path = f"/v1/hitblocks/{hitblock['id']}/items"
    body = client.get(f"{path}?starting_after={created[1]}", headers=auth).json
    assert ids(body) == created[2:]


def test_hitblock_list_paginates_per_account(client, auth, other_auth, make_hitblock):
    mine = [make_hitblock(title=f"mine {n}")["id"] for n in range(3)]
    make_hitblock(headers=other_auth, title="theirs")
    first = client.get("/v1/hitblocks?limit=2", headers=auth).json
    assert ids(first) == [mine[2], mine[1]]
    assert first["has_more"] is True
    second = client.get(f"/v1/hitblocks?limit=2&starting_after={mine[1]}", headers=auth).json
    assert ids(second) == [mine[0]]
    assert second["has_more"] is False


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=ten", "limit"),
        ("starting_after=abc", "starting_after"),
        ("starting_after=0", "starting_after"),
        ("ending_before=99999999999", "ending_before"),
        ("starting_after=1&ending_before=2", "ending_before"),
    ],
)
def test_bad_list_parameters(client, auth, hitblock, query, param):
    assert_error(client.get(f"/v1/hitblocks?{query}", headers=auth), 400, param=param)
    path = f"/v1/hitblocks/{hitblock['id']}/items?{query}"
    assert_error(client.get(path, headers=auth), 400, param=param)


def test_limit_bounds_are_inclusive(client, auth, hitblock):
    add_items(client, auth, hitblock, 101)
    path = f"/v1/hitblocks/{hitblock['id']}/items"
    assert len(client.get(f"{path}?limit=1", headers=auth).json["data"]) == 1
    assert len(client.get(f"{path}?limit=100", headers=auth).json["data"]) == 100


def test_pages_use_keyset_queries_not_offset(app, client, auth, hitblock):
    from sqlalchemy import event

    from app.extensions import db

    created = sorted(add_items(client, auth, hitblock, 5), reverse=True)
    executed: list[tuple[str, tuple]] = []
    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", lambda *a: executed.append((a[2], a[3])))
    client.get(f"/v1/hitblocks/{hitblock['id']}/items?starting_after={created[2]}", headers=auth)
    client.get(f"/v1/hitblocks?starting_after={hitblock['id'] + 1}", headers=auth)
    assert any("items.id < " in statement for statement, _ in executed)
    # SQLite always writes "LIMIT ? OFFSET ?"; the offset we pass must stay 0.
    offsets = [params[-1] for statement, params in executed if "OFFSET" in statement]
    assert offsets and set(offsets) == {0}
