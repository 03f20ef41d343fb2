"""The console's foundation and its pages through Flask's test client: sign-in, sessions,
CSRF, the sign-in limits, roles, security headers, the overview's figures (and how many SQL
statements it takes), the hitblock page's lifecycle buttons, API keys, refusals as pages."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import event, select

from app.extensions import db
from app.models import ApiKey, Hitblock, Item, Response, utcnow
from app.services import consensus
from app.services.overview import figures
from app.services.publishing import post_hitblock
from app.services.users import set_disabled, set_password
from tests.conftest import basic_auth
from tests.helpers.console import (
    PASSWORD,
    account_of,
    csrf_token,
    json_headers,
    make_user,
    sign_in_client,
    signed_in_client,
)
from tests.helpers.fake_gateway import FakeGateway
from tests.helpers.hitblocks import add_hitblock

ADMIN = "admin@acme.test"
REVIEWER = "reviewer@acme.test"


@pytest.fixture
def gateway(app):
    fake = FakeGateway()
    app.extensions["mturk_gateway"] = fake
    return fake


@pytest.fixture
def people(app):
    """An admin and a reviewer of "acme"."""
    make_user(app, "acme", ADMIN, role="admin")
    make_user(app, "acme", REVIEWER, role="reviewer")


@pytest.fixture
def acme(app, people) -> int:
    """The account of the people (not the ``account_id`` fixture: see tests/helpers/console)."""
    return account_of(app, "acme")


@pytest.fixture
def admin(app, people):
    return signed_in_client(app, ADMIN)


@pytest.fixture
def reviewer(app, people):
    return signed_in_client(app, REVIEWER)


def text(response) -> str:
    return response.get_data(as_text=True)


# ---- signing in --------------------------------------------------------------------------


def test_a_visitor_is_sent_to_sign_in_and_back_to_the_page_asked_for(app, client, people):
    response = client.get("/console/api-keys")
    assert response.status_code == 302
    assert response.headers["Location"] == "/console/sign-in?next=/console/api-keys"
    token = csrf_token(client, response.headers["Location"])
    signed = client.post(
        "/console/sign-in",
        data={
            "email": " Admin@ACME.test ",
            "password": PASSWORD,
            "csrf_token": token,
            "next": "/console/api-keys",
        },
    )
    assert signed.status_code == 302 and signed.headers["Location"] == "/console/api-keys"
    page = client.get("/console/api-keys")
    assert page.status_code == 200 and 'id="user-email">admin@acme.test<' in text(page)


@pytest.mark.parametrize("target", ["https://evil.test/", "//evil.test", "/v1/hitblocks", "/\\x"])
def test_sign_in_goes_nowhere_but_the_console(app, client, people, target):
    token = csrf_token(client)
    signed = client.post(
        "/console/sign-in",
        data={"email": ADMIN, "password": PASSWORD, "csrf_token": token, "next": target},
    )
    assert signed.headers["Location"] == "/console"


def test_a_wrong_password_or_unknown_email_is_refused_alike(app, client, people):
    wrong = sign_in_client(client, ADMIN, "not the password")
    unknown = sign_in_client(client, "nobody@acme.test", PASSWORD)
    for response in (wrong, unknown):
        assert response.status_code == 401
        assert "do not match an active user" in text(response)
    assert client.get("/console").status_code == 302  # still not signed in


def test_sign_out_ends_the_session(admin):
    token = csrf_token(admin, "/console")
    assert admin.post("/console/sign-out", data={"csrf_token": token}).status_code == 302
    assert admin.get("/console").status_code == 302


def test_a_new_password_or_a_disabled_user_ends_the_sessions_opened_before(app, people):
    first, second = signed_in_client(app, ADMIN), signed_in_client(app, REVIEWER)
    with app.app_context():
        set_password(db.session, ADMIN, "a whole new password")
        set_disabled(db.session, REVIEWER, True)
    assert first.get("/console").status_code == 302
    assert second.get("/console").status_code == 302
    assert sign_in_client(app.test_client(), REVIEWER).status_code == 401  # disabled
    assert signed_in_client(app, ADMIN, "a whole new password").get("/console").status_code == 200


def test_failed_sign_ins_are_limited_per_email_and_per_address(app, client, people):
    for _ in range(5):
        assert sign_in_client(client, ADMIN, "wrong password").status_code == 401
    limited = sign_in_client(client, ADMIN, "wrong password")
    assert limited.status_code == 429 and "Too many failed sign-in attempts" in text(limited)
    assert int(limited.headers["Retry-After"]) >= 1
    # Even the right password waits; another email from this address does not (yet).
    assert sign_in_client(client, ADMIN).status_code == 429
    assert sign_in_client(client, REVIEWER).status_code == 302
    # Per address: 20 failures a minute, whatever the emails.
    for n in range(15):
        assert sign_in_client(client, f"guess{n}@acme.test", "wrong").status_code == 401
    assert sign_in_client(client, "guess99@acme.test", "wrong").status_code == 429
    other_address = app.test_client()
    other_address.environ_base["REMOTE_ADDR"] = "192.0.2.7"
    assert sign_in_client(other_address, REVIEWER).status_code == 302


def test_successful_sign_ins_are_not_counted(app, client, people):
    for _ in range(8):
        assert sign_in_client(app.test_client(), ADMIN).status_code == 302


# ---- cookies, CSRF, headers ----------------------------------------------------------------


def test_the_session_cookie_is_http_only_lax_and_host_prefixed_over_https(app, people):
    plain = app.test_client()
    cookie = sign_in_client(plain, ADMIN).headers["Set-Cookie"]
    assert cookie.startswith("hitblocks_console_session=")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    secure = app.test_client()
    page = secure.get("/console/sign-in", base_url="https://console.test")
    token = re.search(r'name="csrf-token" content="([^"]+)"', text(page)).group(1)
    signed = secure.post(
        "/console/sign-in",
        base_url="https://console.test",
        headers={"Referer": "https://console.test/console/sign-in"},
        data={"email": ADMIN, "password": PASSWORD, "csrf_token": token},
    )
    assert signed.status_code == 302, text(signed)
    cookie = signed.headers["Set-Cookie"]
    assert cookie.startswith("__Host-hitblocks_console_session=") and "Secure" in cookie


def test_two_session_cookies_are_no_session(app, admin):
    value = admin.get_cookie("hitblocks_console_session").value
    planted = app.test_client(use_cookies=False)
    header = f"hitblocks_console_session={value}; hitblocks_console_session={value}"
    assert planted.get("/console", headers={"Cookie": header}).status_code == 302
    assert planted.get("/console", headers={"Cookie": header.split(";")[0]}).status_code == 200


def test_forms_and_script_calls_without_the_csrf_token_are_refused(app, admin, acme, gateway):
    with app.app_context():
        hitblock_id = add_hitblock(db.session, acme)
        post_hitblock(db.session, gateway, acme, hitblock_id, concurrency=2)
    refused = admin.post(f"/console/hitblocks/{hitblock_id}/pause")
    assert refused.status_code == 400 and "not sent from a page of the console" in text(refused)
    as_json = admin.post(f"/console/hitblocks/{hitblock_id}/pause", json={})
    assert as_json.status_code == 400 and as_json.json["error"]["type"] == "invalid_request_error"
    wrong = admin.post(f"/console/hitblocks/{hitblock_id}/pause", data={"csrf_token": "forged"})
    assert wrong.status_code == 400
    assert gateway.expired == set()
    with_header = admin.post(f"/console/hitblocks/{hitblock_id}/pause", headers=json_headers(admin))
    assert with_header.status_code == 302 and len(gateway.expired) == 3


def test_the_json_api_needs_no_csrf_token_and_gets_no_cookie(client, auth):
    created = client.post(
        "/v1/hitblocks",
        json={"type": "image-transcription", "title": "T", "cost_per_item": 0.1},
        headers=auth,
    )
    assert created.status_code == 200, created.json
    assert "Set-Cookie" not in created.headers
    assert created.headers["Content-Type"] == "application/json"


def test_console_pages_carry_security_headers(admin, client):
    for response in (admin.get("/console"), client.get("/console/sign-in")):
        policy = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
        assert "unsafe-inline" not in policy
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    with client.get("/console/assets/console.css") as asset:
        assert asset.status_code == 200
        assert "no-store" not in asset.headers.get("Cache-Control", "")


def test_console_pages_have_no_inline_script_or_style(admin, app, acme):
    with app.app_context():
        hitblock_id = add_hitblock(db.session, acme)
    for path in ("/console", f"/console/hitblocks/{hitblock_id}", "/console/api-keys"):
        page = text(admin.get(path))
        assert not re.search(r"<script(?![^>]*\ssrc=)", page), path
        assert "<style" not in page and " style=" not in page and "onclick" not in page, path


# ---- roles and accounts --------------------------------------------------------------------


def test_a_reviewer_cannot_pause_or_see_api_keys(app, reviewer, acme, gateway):
    with app.app_context():
        hitblock_id = add_hitblock(db.session, acme)
        post_hitblock(db.session, gateway, acme, hitblock_id, concurrency=2)
    page = reviewer.get(f"/console/hitblocks/{hitblock_id}")
    assert page.status_code == 200 and 'id="pause"' not in text(page)
    assert 'id="keys-link"' not in text(page)
    token = csrf_token(reviewer, "/console")
    for path in (
        f"/console/hitblocks/{hitblock_id}/pause",
        f"/console/hitblocks/{hitblock_id}/cancel",
    ):
        refused = reviewer.post(path, data={"csrf_token": token})
        assert refused.status_code == 403 and "needs the admin role" in text(refused)
    assert reviewer.get("/console/api-keys").status_code == 403
    assert reviewer.post("/console/api-keys", data={"csrf_token": token}).status_code == 403
    assert gateway.expired == set()
    with app.app_context():
        assert db.session.get(Hitblock, hitblock_id).status == "in_progress"


def test_another_accounts_hitblock_is_a_404_page(app, admin, new_key):
    other = new_key("globex")
    with app.app_context():
        other_account = db.session.scalar(
            select(ApiKey.account_id).where(ApiKey.last4 == other[-4:])
        )
        theirs = add_hitblock(db.session, other_account)
    token = csrf_token(admin, "/console")
    for response in (
        admin.get(f"/console/hitblocks/{theirs}"),
        admin.get(f"/console/hitblocks/{theirs}/cancel"),
        admin.post(f"/console/hitblocks/{theirs}/cancel", data={"csrf_token": token}),
        admin.get("/console/hitblocks/999999"),
        admin.get("/console/no/such/page"),
    ):
        assert response.status_code == 404
        assert response.headers["Content-Type"].startswith("text/html")
        assert "There is no such page here." in text(response)
        assert "Receipts" not in text(response)
    overview = text(admin.get("/console"))
    assert f'data-hitblock-id="{theirs}"' not in overview
    as_json = admin.get(f"/console/hitblocks/{theirs}", headers={"Accept": "application/json"})
    assert as_json.status_code == 404 and as_json.json["error"]["message"]


# ---- the overview ----------------------------------------------------------------------------


def add_responses(session, item, statuses, submitted=None):
    for n, status in enumerate(statuses):
        session.add(
            Response(
                item_id=item.id,
                assignment_id=f"A{item.id}x{n}x{status}",
                worker_id=f"W{n}",
                status=status,
                data={"answer": "x"},
                submitted=submitted or utcnow(),
            )
        )


def test_the_overview_counts_each_item_in_one_part_and_estimates_the_spend(
    app, session, account_id
):
    hitblock_id = add_hitblock(session, account_id, items=7, workers_per_item=2)
    hitblock = session.get(Hitblock, hitblock_id)
    hitblock.total_spent = Decimal("0.24")
    items = session.scalars(select(Item).order_by(Item.id)).all()
    # 0: pending; 1: published, nothing yet; 2: published, one waiting; 3: published, one
    # approved (more to come); 4: completed, both decided; 5: completed, one decided and one
    # waiting; 6: expired with nothing; and a deleted item that counts nowhere.
    for item, status in zip(
        items,
        ["pending", "published", "published", "published", "completed", "completed", "expired"],
        strict=True,
    ):
        item.status = status
    session.add(Item(hitblock_id=hitblock_id, type="image", params={}, status="deleted"))
    long_ago = utcnow() - timedelta(hours=3)
    add_responses(session, items[2], ["submitted"])
    add_responses(session, items[3], ["approved"], submitted=long_ago)
    add_responses(
        session, items[4], ["approved", "rejected"], submitted=utcnow() - timedelta(days=2)
    )
    add_responses(session, items[5], ["approved", "submitted"])
    session.commit()

    [entry] = figures(session, account_id)
    assert entry.progress.counts == {
        "pending": 1,
        "published": 1,
        "submitted": 2,
        "reviewed": 1,
        "completed": 1,
        "expired": 1,
    }
    assert entry.progress.items == 7
    # 7 items x 2 workers x ($0.10 + $0.02 fee).
    assert entry.estimate == Decimal("1.68") and entry.spent == Decimal("0.24")
    assert entry.responses == 6 and entry.awaiting_review == 2
    assert entry.last_hour == 3 and entry.last_day == 4
    segments = entry.progress.segments()
    assert sum(s.width for s in segments) == pytest.approx(100, abs=0.01)
    assert [s.part for s in segments if s.count] == [
        "completed",
        "reviewed",
        "submitted",
        "published",
        "pending",
        "expired",
    ]


def test_the_overview_takes_the_same_few_statements_for_1_or_12_hitblocks(app, admin, acme):
    def statements_for_overview() -> int:
        seen: list[str] = []

        def count(*args):
            seen.append(args[2])

        with app.app_context():
            engine = db.engine
        event.listen(engine, "before_cursor_execute", count)
        try:
            page = admin.get("/console")
        finally:
            event.remove(engine, "before_cursor_execute", count)
        assert page.status_code == 200
        return len(seen)

    with app.app_context():
        first = add_hitblock(db.session, acme, items=3)
        add_responses(db.session, db.session.scalars(select(Item)).first(), ["submitted"])
        db.session.commit()
    one = statements_for_overview()
    with app.app_context():
        for _ in range(11):
            hitblock_id = add_hitblock(db.session, acme, items=3)
            for item in db.session.scalars(select(Item).where(Item.hitblock_id == hitblock_id)):
                add_responses(db.session, item, ["approved", "submitted"])
            db.session.commit()
    twelve = statements_for_overview()
    page = text(admin.get("/console"))
    assert page.count('class="card"') == 12 and f'data-hitblock-id="{first}"' in page
    assert one == twelve == 4  # the user, the hitblocks, the progress parts, the rates


def test_the_overview_of_an_account_with_nothing_says_so(admin):
    page = admin.get("/console")
    assert page.status_code == 200 and "No hitblocks yet" in text(page)


# ---- the hitblock page and its lifecycle buttons --------------------------------------------


def test_an_admin_pauses_resumes_and_cancels_with_confirmation(app, admin, acme, gateway):
    with app.app_context():
        hitblock_id = add_hitblock(db.session, acme)
        post_hitblock(db.session, gateway, acme, hitblock_id, concurrency=2)
    page = text(admin.get(f"/console/hitblocks/{hitblock_id}"))
    assert 'id="pause"' in page and 'id="resume"' not in page and 'id="cancel"' in page
    token = csrf_token(admin, "/console")
    paused = admin.post(
        f"/console/hitblocks/{hitblock_id}/pause", data={"csrf_token": token}, follow_redirects=True
    )
    assert "Paused:" in text(paused) and 'data-status="paused"' in text(paused)
    assert len(gateway.expired) == 3 and 'id="resume"' in text(paused)
    resumed = admin.post(
        f"/console/hitblocks/{hitblock_id}/resume",
        data={"csrf_token": token},
        follow_redirects=True,
    )
    assert "Resumed:" in text(resumed) and 'data-status="in_progress"' in text(resumed)
    confirm = admin.get(f"/console/hitblocks/{hitblock_id}/cancel")
    assert confirm.status_code == 200 and "cannot be undone" in text(confirm)
    with app.app_context():
        assert db.session.get(Hitblock, hitblock_id).status == "in_progress"  # asking did nothing
    canceled = admin.post(
        f"/console/hitblocks/{hitblock_id}/cancel",
        data={"csrf_token": token},
        follow_redirects=True,
    )
    assert "Canceled:" in text(canceled) and 'data-status="canceled"' in text(canceled)
    again = admin.post(f"/console/hitblocks/{hitblock_id}/resume", data={"csrf_token": token})
    assert again.status_code == 409 and "cannot be resumed" in text(again)


def test_the_hitblock_page_links_to_its_queue_and_workers(app, reviewer, acme):
    with app.app_context():
        hitblock_id = add_hitblock(db.session, acme)
    page = text(reviewer.get(f"/console/hitblocks/{hitblock_id}"))
    assert f'href="/console/hitblocks/{hitblock_id}/review"' in page
    assert f'href="/console/hitblocks/{hitblock_id}/workers"' in page


# ---- API keys ----------------------------------------------------------------------------------


def test_an_admin_creates_a_key_shown_once_and_revokes_it(app, admin, client, acme):
    token = csrf_token(admin, "/console")
    created = admin.post("/console/api-keys", data={"csrf_token": token})
    key = re.search(r'id="issued-key">(hb_[^<]+)<', text(created)).group(1)
    assert client.get("/v1/hitblocks", headers=basic_auth(key)).status_code == 200
    listing = text(admin.get("/console/api-keys"))
    assert key not in listing and f"hb_…{key[-4:]}" in listing
    key_id = re.search(
        rf'data-key-id="(\d+)">\s*<td data-label="Key"><code>hb_…{key[-4:]}', listing
    ).group(1)
    revoked = admin.post(
        f"/console/api-keys/{key_id}/revoke", data={"csrf_token": token}, follow_redirects=True
    )
    assert "Revoked the key" in text(revoked)
    assert client.get("/v1/hitblocks", headers=basic_auth(key)).status_code == 401


def test_another_accounts_key_cannot_be_revoked(app, admin, new_key, client):
    other = new_key("globex")
    with app.app_context():
        key_id = db.session.scalar(select(ApiKey.id).where(ApiKey.last4 == other[-4:]))
    token = csrf_token(admin, "/console")
    refused = admin.post(f"/console/api-keys/{key_id}/revoke", data={"csrf_token": token})
    assert refused.status_code == 404
    assert client.get("/v1/hitblocks", headers=basic_auth(other)).status_code == 200


# ---- results, consensus, workers -------------------------------------------------------------


@pytest.fixture
def answered(app, acme, gateway):
    """A published hitblock of 2 items x 3 workers, with answers: W1 and W2 agree on both,
    W3 disagrees; one of W3's answers is rejected."""
    with app.app_context():
        hitblock_id = add_hitblock(db.session, acme, items=2, workers_per_item=3)
        post_hitblock(db.session, gateway, acme, hitblock_id, concurrency=2)
        items = db.session.scalars(select(Item).where(Item.hitblock_id == hitblock_id)).all()
        for n, item in enumerate(items):
            for worker, answer, status in (
                ("W1", "cat", "approved"),
                ("W2", "cat", "submitted"),
                ("W3", "dog", "rejected" if n == 0 else "submitted"),
            ):
                db.session.add(
                    Response(
                        item_id=item.id,
                        assignment_id=f"A{item.id}{worker}",
                        worker_id=worker,
                        status=status,
                        data={"label": answer},
                        accepted=utcnow() - timedelta(seconds=40),
                        submitted=utcnow(),
                    )
                )
        db.session.commit()
    return hitblock_id


def test_the_hitblock_page_shows_consensus_with_a_method_switch(reviewer, answered):
    page = text(reviewer.get(f"/console/hitblocks/{answered}"))
    assert 'id="consensus-table"' in page and page.count("data-item-id=") == 2
    assert '<span class="value">cat</span> <span class="meta">100%</span>' in page  # W3 rejected
    assert '<span class="meta">67%</span>' in page  # item 2: cat, cat, dog
    assert '<option value="majority_vote" selected>' in page
    other = reviewer.get(f"/console/hitblocks/{answered}?method=dawid_skene")
    assert other.status_code == 200 and page.count("data-item-id=") == 2


def test_dawid_skene_runs_only_when_asked_and_falls_back_without_the_extra(
    reviewer, answered, monkeypatch
):
    """The page's default (majority vote) never runs Dawid-Skene; asked for it on an
    installation without crowd-kit, or for an unknown method, the page shows majority vote
    and says why (never a 400 page); the page says what each method costs."""
    asked: list[int] = []

    def dawid_skene(votes):
        asked.append(len(votes))
        return consensus.majority_vote(votes)

    monkeypatch.setattr(consensus, "dawid_skene", dawid_skene)
    page = text(reviewer.get(f"/console/hitblocks/{answered}"))
    assert asked == [] and page.count("data-item-id=") == 2
    assert 'id="method-cost"' in page and "only when you ask" in page
    monkeypatch.setattr(consensus, "available_methods", lambda: ["majority_vote"])
    without = reviewer.get(f"/console/hitblocks/{answered}?method=dawid_skene")
    body = text(without)
    assert without.status_code == 200 and asked == []
    assert "needs the hitblocks[consensus] extra" in body and body.count("data-item-id=") == 2
    assert '<option value="majority_vote" selected>' in body
    unknown = reviewer.get(f"/console/hitblocks/{answered}?method=telepathy")
    assert unknown.status_code == 200 and "no such method" in text(unknown)
    monkeypatch.setattr(consensus, "available_methods", lambda: list(consensus.METHODS))
    shown = reviewer.get(f"/console/hitblocks/{answered}?method=dawid_skene")
    assert shown.status_code == 200 and asked == [5]  # 6 answers, 1 rejected


def test_results_download_streams_the_mturk_csv(reviewer, answered):
    response = reviewer.get(f"/console/hitblocks/{answered}/results.csv")
    assert response.status_code == 200 and response.is_streamed
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert f'filename="hitblock-{answered}-results.csv"' in response.headers["Content-Disposition"]
    body = text(response)
    header = body.splitlines()[0]
    assert header.startswith('"HITId"') or header.startswith("HITId")
    assert "WorkerId" in header and "Answer.label" in header
    assert len(body.strip().splitlines()) == 7


def test_the_workers_page_shows_each_workers_record(reviewer, answered):
    page = text(reviewer.get(f"/console/hitblocks/{answered}/workers"))
    rows = re.findall(r'<tr data-worker-id="(W\d)">', page)
    assert sorted(rows) == ["W1", "W2", "W3"]
    w3 = page[page.index('data-worker-id="W3"') :]
    assert re.search(r'data-figure="approval">0(\.0)?%', w3)  # 0 approved of 1 reviewed
    assert 'data-figure="time">40 s' in w3
    assert "Block" not in page.split('id="workers"')[1].split("</table>")[0]  # a reviewer


def test_an_admin_blocks_with_a_reason_and_unblocks(admin, answered, gateway):
    token = csrf_token(admin, "/console")
    path = f"/console/hitblocks/{answered}/workers/W3"
    no_reason = admin.post(
        f"{path}/block", data={"csrf_token": token, "reason": "  "}, follow_redirects=True
    )
    assert (
        "MTurk requires a reason" in text(no_reason)
        and gateway.calls.count("CreateWorkerBlock") == 0
    )
    blocked = admin.post(
        f"{path}/block",
        data={"csrf_token": token, "reason": "Random answers"},
        follow_redirects=True,
    )
    assert "Blocked W3" in text(blocked) and gateway.calls.count("CreateWorkerBlock") == 1
    w3 = text(blocked)[text(blocked).index('data-worker-id="W3"') :]
    assert "badge blocked" in w3.split("</tr>")[0] and 'id="unblock-W3"' in w3
    unblocked = admin.post(f"{path}/unblock", data={"csrf_token": token}, follow_redirects=True)
    assert "Unblocked W3" in text(unblocked) and gateway.calls.count("DeleteWorkerBlock") == 1


def test_a_reviewer_cannot_block(reviewer, answered, gateway):
    token = csrf_token(reviewer, "/console")
    refused = reviewer.post(
        f"/console/hitblocks/{answered}/workers/W3/block", data={"csrf_token": token, "reason": "x"}
    )
    assert refused.status_code == 403 and "CreateWorkerBlock" not in gateway.calls


def test_another_accounts_workers_page_is_a_404(admin, app, new_key):
    other = new_key("globex")
    with app.app_context():
        account = db.session.scalar(select(ApiKey.account_id).where(ApiKey.last4 == other[-4:]))
        theirs = add_hitblock(db.session, account)
    assert admin.get(f"/console/hitblocks/{theirs}/workers").status_code == 404
    assert admin.get(f"/console/hitblocks/{theirs}/results.csv").status_code == 404
    token = csrf_token(admin, "/console")
    assert (
        admin.post(
            f"/console/hitblocks/{theirs}/workers/W3/block",
            data={"csrf_token": token, "reason": "x"},
        ).status_code
        == 404
    )
