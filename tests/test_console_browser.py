"""The console's own pages in a real browser, against the bundled MTurk service: an admin
signs in, sees the overview (progress bars, spend, work coming in), opens a hitblock, pauses
and resumes it with its buttons (boto3 then finds its HITs expired, and open again), cancels
another after confirming, and opens the workers page; nothing scrolls sideways at 1280 or
390 px wide.

Headless Chromium (Debian's package) driven by Playwright; skipped when either is missing.
Screenshots at 1280x800 and 390x844 go to HITBLOCKS_SCREENSHOTS when set, and the desktop
ones to docs/screenshots/console-overview.png, console-hitblock.png, console-workers.png.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from app.extensions import db
from app.gateway import mturk_gateway
from app.services.polling import poll_once
from mturk.service import serve_in_thread
from tests.helpers.browser import CHROMIUM, chromium, screenshot_folder
from tests.helpers.console import make_user, sign_in
from tests.worker_site import complete

playwright_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")
pytestmark = pytest.mark.skipif(
    not CHROMIUM, reason="Chromium is not installed (apt-get install chromium)"
)
expect = playwright_api.expect

DOCS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
NO_SIDEWAYS_SCROLL = "document.documentElement.scrollWidth <= window.innerWidth"
SIZES = {"desktop": (1280, 800), "phone": (390, 844)}
ADMIN = "admin@acme.test"
LABELS = ["cat", "dog", "bird"]


@pytest.fixture
def console(app) -> Iterator[str]:
    """The API app (and so its console) served over HTTP on a loopback port."""
    server = serve_in_thread(app, "127.0.0.1", 0, poll_interval=0.05)
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def poll(app) -> None:
    with app.app_context():
        poll_once(db.session, mturk_gateway(), retry_bonuses_after=timedelta(0))


def published(client, auth, make_hitblock, title, count, **fields) -> tuple[dict, list[dict]]:
    hitblock = make_hitblock(title=title, **fields)
    rows = [{"image_url": f"https://example.org/{n}.jpg"} for n in range(count)]
    client.post(f"/v1/hitblocks/{hitblock['id']}/items/batch", json=rows, headers=auth)
    assert client.post(f"/v1/hitblocks/{hitblock['id']}/post", headers=auth).status_code == 200
    items = client.get(f"/v1/hitblocks/{hitblock['id']}/items?limit=100", headers=auth).json
    return hitblock, sorted(items["data"], key=lambda item: item["id"])


def hit_statuses(publishing, items) -> set[str]:
    return {publishing.client.get_hit(HITId=i["hit_id"])["HIT"]["HITStatus"] for i in items}


def shoot(page: Any, tmp_path: Path, name: str) -> None:
    """Desktop and phone screenshots of the page, each checked for sideways scrolling; the
    desktop one also kept in docs/screenshots."""
    folder = screenshot_folder(tmp_path)
    for size, (width, height) in SIZES.items():
        page.set_viewport_size({"width": width, "height": height})
        assert page.evaluate(NO_SIDEWAYS_SCROLL), f"{name} scrolls sideways at {width} px"
        path = folder / f"{name}-{size}.png"
        page.screenshot(path=str(path), full_page=True)
        if size == "desktop":
            DOCS.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, DOCS / f"{name}.png")
    page.set_viewport_size({"width": 1280, "height": 800})


def test_an_admin_works_the_console_pages(
    app, client, auth, make_hitblock, publishing, console, tmp_path
):
    labels, label_items = published(
        client,
        auth,
        make_hitblock,
        "Label animal photos",
        6,
        workers_per_item=3,
        type="image-classification",
        labels=LABELS,
    )
    receipts, receipt_items = published(
        client, auth, make_hitblock, "Transcribe shop receipts", 4, cost_per_item=0.25
    )
    make_hitblock(title="Sort product reviews (draft)")
    # Three workers label the first four photos (one of them badly), one receipt is typed.
    for n, item in enumerate(label_items[:4]):
        for worker, label in (
            ("AWORKER1", LABELS[n % 3]),
            ("AWORKER2", LABELS[n % 3]),
            ("AWORKER3", "bird"),
        ):
            complete(publishing.url, item["hit_id"], worker, [("label", label)])
    complete(publishing.url, receipt_items[0]["hit_id"], "AWORKER1", [("transcription", "12.00")])
    poll(app)
    responses = client.get(f"/v1/hitblocks/{labels['id']}/responses?limit=100", headers=auth).json
    for response in responses["data"][:6]:
        approved = client.post(f"/v1/responses/{response['id']}/approve", json={}, headers=auth)
        assert approved.status_code == 200, approved.json
    make_user(app, "acme", ADMIN, role="admin")

    with chromium(playwright_api) as browser:
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        context.set_default_timeout(15_000)
        page = context.new_page()
        sign_in(page, console, ADMIN)
        expect(page.locator("h1")).to_have_text("Hitblocks")
        cards = page.locator("#hitblocks > li.card")
        expect(cards).to_have_count(3)
        card = page.locator(f'li.card[data-hitblock-id="{labels["id"]}"]')
        expect(card.locator("svg.progress rect")).not_to_have_count(0)
        expect(card.locator('[data-figure="responses"]')).to_contain_text("12")
        expect(card.locator('[data-figure="rate"]')).to_contain_text("12 last hour")
        expect(page.locator("#total-awaiting")).to_have_text("7")  # 6 labels + 1 receipt
        shoot(page, tmp_path, "console-overview")

        # The hitblock page: pause, then resume, with the buttons.
        card.locator("h2 a").click()
        expect(page.locator("h1")).to_contain_text("Label animal photos")
        expect(page.locator("#consensus-table tbody tr")).to_have_count(4)
        shoot(page, tmp_path, "console-hitblock")
        page.click("#pause")
        expect(page.locator("h1 .badge")).to_have_text("paused")
        expect(page.get_by_role("status")).to_contain_text("Paused")
        assert "Assignable" not in hit_statuses(publishing, label_items[4:])
        page.click("#resume")
        expect(page.locator("h1 .badge")).to_have_text("in progress")
        assert hit_statuses(publishing, label_items[4:]) == {"Assignable"}

        # The workers page: each worker's record; AWORKER3 is the one who disagrees.
        page.click("#workers-link")
        expect(page.locator("#workers tbody tr")).to_have_count(3)
        worst = page.locator('tr[data-worker-id="AWORKER3"]')
        expect(worst.locator('[data-figure="agreement"]')).to_contain_text("25")  # 1 in 4
        shoot(page, tmp_path, "console-workers")

        # Cancel asks first, and keeping it changes nothing.
        page.goto(f"{console}/console/hitblocks/{receipts['id']}")
        page.click("#cancel")
        expect(page.locator("h1")).to_contain_text("Cancel")
        page.click("#keep")
        expect(page.locator("h1 .badge")).to_have_text("in progress")
        page.click("#cancel")
        page.click("#confirm-cancel")
        expect(page.locator("h1 .badge")).to_have_text("canceled")
        assert "Assignable" not in hit_statuses(publishing, receipt_items)
        context.close()
