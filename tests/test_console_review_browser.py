"""Issue 12's "done when" for the review queue, in a real browser: a hitblock of 20 items is
published to the bundled MTurk service, workers submit all 20 through its worker site, the
poller brings them back, and a reviewer signs in to the console and works the queue with the
keyboard only: approves most, rejects some with a chosen feedback and one with a typed one,
pays one bonus, skips one and comes back to it, and undoes two decisions (u and Ctrl+Z) before
they are sent. boto3 then finds each assignment Approved or Rejected exactly as decided, with
its feedback, and the bonus paid; the undone decisions never reached MTurk.

Headless Chromium (Debian's package) driven by Playwright; skipped when either is missing.
Screenshots at 1280x800 and 390x844 go to HITBLOCKS_SCREENSHOTS when set, and to
docs/screenshots/console-review.png and console-review-phone.png.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

import app.console.review as app_console_review
from app.extensions import db
from app.gateway import mturk_gateway
from app.models import Response
from app.services.polling import poll_once
from mturk.service import serve_in_thread
from tests.helpers.browser import CHROMIUM, chromium, screenshot_folder
from tests.helpers.console import make_user, sign_in
from tests.helpers.fake_gateway import ReviewGateway
from tests.test_console_review import add_queue, status_of
from tests.worker_site import complete

playwright_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")
pytestmark = pytest.mark.skipif(
    not CHROMIUM, reason="Chromium is not installed (apt-get install chromium)"
)
expect = playwright_api.expect

DOCS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
NO_SIDEWAYS_SCROLL = "document.documentElement.scrollWidth <= window.innerWidth"
ITEMS = 20
REVIEWER = "reviewer@acme.test"
TEMPLATE = """<form>
<h3>Receipt ${number}</h3>
<p><img src="${image_url}" alt="A shop receipt" style="max-width:100%;max-height:240px"></p>
<p>Type every line of the receipt, then its total.</p>
<p><label>Transcription<br><textarea name="transcription" rows="5" cols="50"></textarea></label></p>
<p><label>Total <input name="total" size="8"></label></p>
<p><button>Submit</button></p>
</form>"""
SHOPS = ["Corner Café", "Fuel & Go", "Greengrocer", "Bookshop"]


def receipt_svg(number: int) -> bytes:
    """A receipt drawn as an SVG, so that the framed task shows a real image offline."""
    shop = SHOPS[number % len(SHOPS)]
    lines = [("Coffee", "3.00"), ("Cake", f"{number % 7 + 2}.50")]
    rows = "".join(
        f'<text x="20" y="{90 + 26 * i}">{name}</text><text x="240" y="{90 + 26 * i}" '
        f'text-anchor="end">{price}</text>'
        for i, (name, price) in enumerate(lines)
    )
    total = sum(float(price) for _, price in lines)
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" width="260" height="190" '
        'font-family="monospace" font-size="16">'
        '<rect width="260" height="190" fill="#fffdf4" stroke="#999"/>'
        f'<text x="130" y="40" text-anchor="middle" font-weight="bold">{shop}</text>'
        f'<text x="130" y="60" text-anchor="middle" font-size="12">receipt no. {number}</text>'
        f"{rows}"
        '<line x1="20" x2="240" y1="150" y2="150" stroke="#333"/>'
        f'<text x="20" y="175" font-weight="bold">TOTAL</text><text x="240" y="175" '
        f'text-anchor="end" font-weight="bold">{total:.2f}</text></svg>'
    )
    return svg.encode()


class Receipts(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        number = int(self.path.strip("/").removeprefix("receipt-").removesuffix(".svg") or 0)
        body = receipt_svg(number)
        self.send_response(200)
        self.send_header("Content-Type", "image/svg+xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the frame moved on to the next response before the image loaded

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def images() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receipts)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def console(app) -> Iterator[str]:
    """The API app (and its console) served on a loopback port."""
    server = serve_in_thread(app, "127.0.0.1", 0, poll_interval=0.05)
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def answer_of(number: int) -> list[tuple[str, str]]:
    price = f"{number % 7 + 2}.50"
    total = f"{3 + float(price):.2f}"
    return [("transcription", f"Coffee 3.00\nCake {price}"), ("total", total)]


def published_queue(app, client, auth, make_hitblock, publishing, images) -> list[dict]:
    """20 items published, each answered by one of four workers, and polled back."""
    hitblock = make_hitblock(
        type="html", title="Transcribe shop receipts", template=TEMPLATE, cost_per_item=0.10
    )
    rows = [{"image_url": f"{images}/receipt-{n}.svg", "number": str(n)} for n in range(ITEMS)]
    made = client.post(f"/v1/hitblocks/{hitblock['id']}/items/batch", json=rows, headers=auth)
    assert made.status_code == 200, made.json
    posted = client.post(f"/v1/hitblocks/{hitblock['id']}/post", headers=auth)
    assert posted.status_code == 200, posted.json
    listed = client.get(f"/v1/hitblocks/{hitblock['id']}/items?limit=100", headers=auth).json
    items = sorted(listed["data"], key=lambda item: item["id"])
    for number, item in enumerate(items):
        item["assignment_id"] = complete(
            publishing.url, item["hit_id"], f"AWORKER{number % 4 + 1}", answer_of(number)
        )
    with app.app_context():
        report = poll_once(db.session, mturk_gateway(), retry_bonuses_after=timedelta(0))
    assert report.new_responses == ITEMS
    return [hitblock, items]


def shown(page) -> int:
    return int(page.locator("#review").get_attribute("data-response-id"))


def shot(page, tmp_path: Path, name: str, docs_name: str | None = None) -> None:
    path = screenshot_folder(tmp_path) / f"console-review-{name}.png"
    page.screenshot(path=str(path), full_page=False)
    if docs_name:
        DOCS.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, DOCS / docs_name)


def test_a_reviewer_works_a_queue_of_20_by_keyboard_and_mturk_gets_each_decision(
    app, client, auth, make_hitblock, publishing, images, console, tmp_path
):
    hitblock, items = published_queue(app, client, auth, make_hitblock, publishing, images)
    make_user(app, "acme", REVIEWER, role="reviewer")
    queue_url = f"{console}/console/hitblocks/{hitblock['id']}/review"
    with app.app_context():  # the queue's order: oldest first
        rows = db.session.execute(
            select(Response.id, Response.assignment_id).order_by(Response.submitted, Response.id)
        ).all()
    ids = [row.id for row in rows]
    assignments = [row.assignment_id for row in rows]

    with chromium(playwright_api) as browser:
        # A phone first: the queue fits 390 px, nothing scrolls sideways.
        phone = browser.new_context(viewport={"width": 390, "height": 844})
        page = phone.new_page()
        page.set_default_timeout(15_000)
        sign_in(page, console, REVIEWER)
        page.goto(queue_url)
        expect(page.locator("#review-position")).to_have_text("1 of 20 waiting")
        page.frame_locator("#task-frame").locator("img").wait_for()
        assert page.evaluate(NO_SIDEWAYS_SCROLL)
        page.locator("#review-title").scroll_into_view_if_needed()
        page.evaluate("window.scrollTo(0, document.getElementById('one-by-one').offsetTop)")
        shot(page, tmp_path, "phone", "console-review-phone.png")
        phone.close()

        context = browser.new_context(viewport={"width": 1280, "height": 800})
        page = context.new_page()
        errors: list[Any] = []
        page.on("pageerror", lambda error: errors.append(error))
        page.set_default_timeout(15_000)
        sign_in(page, console, REVIEWER)
        page.goto(queue_url)
        assert shown(page) == ids[0]
        answer = page.locator("#answer dd").first
        expect(answer).to_have_text("Coffee 3.00\nCake 2.50")  # as typed, line break kept
        frame = page.frame_locator("#task-frame")
        expect(frame.locator("h3")).to_have_text("Receipt 0")
        assert page.locator("#task-frame").get_attribute("sandbox") == ""

        keys = page.keyboard

        def expect_shown(index: int) -> None:
            expect(page.locator("#review")).to_have_attribute("data-response-id", str(ids[index]))

        keys.press("?")
        expect(page.locator("#help")).to_be_visible()
        keys.press("Escape")
        expect(page.locator("#help")).to_be_hidden()

        keys.press("a")  # 0: approved
        expect_shown(1)
        keys.press("a")  # 1: approved
        expect_shown(2)
        keys.press("r")  # 2: rejected with the second common reason
        expect(page.locator("#reject-form")).to_be_visible()
        keys.press("2")
        keys.press("Enter")
        expect_shown(3)
        keys.press("a")  # 3: approved, then undone before it is sent...
        expect_shown(4)
        expect(page.locator("#toasts .toast", has_text=f"Approve #{ids[3]}")).to_be_visible()
        shot(page, tmp_path, "desktop-toast")
        keys.press("u")
        expect_shown(3)
        expect(page.locator("#review-status")).to_have_text("submitted")
        keys.press("r")  # ...and rejected with a typed feedback instead
        keys.press("6")
        expect(page.locator("#reason-typed")).to_be_focused()
        keys.type("The total is missing; please type it too.")
        keys.press("Enter")
        expect_shown(4)
        keys.press("b")  # 4: a bonus, then approved
        expect(page.locator("#bonus-amount")).to_be_focused()
        keys.type("0.50")
        keys.press("Tab")
        keys.type("A very clear transcription, thank you")
        keys.press("Enter")
        expect(page.locator("#bonus-form")).to_be_hidden()
        expect_shown(4)
        keys.press("a")
        expect_shown(5)
        keys.press("s")  # 5: skipped for now
        expect_shown(6)
        keys.press("k")  # previous and next
        expect_shown(5)
        keys.press("ArrowRight")
        expect_shown(6)
        keys.press("a")  # 6: approved
        expect_shown(7)
        keys.press("a")  # 7: approved, undone with Ctrl+Z, approved again
        expect_shown(8)
        keys.press("Control+z")
        expect_shown(7)
        keys.press("a")
        expect_shown(8)
        keys.press("r")  # 8: rejected with the first common reason
        keys.press("1")
        keys.press("Enter")
        expect_shown(9)
        for index in range(9, ITEMS):  # 9..19: approved, typing nothing in a field
            if index == 12:
                page.locator("#reject").focus()  # a focused button does not eat the keys
            if index == 15:
                expect(frame.locator("h3")).to_contain_text("Receipt")
                frame.locator("img").wait_for()
                shot(page, tmp_path, "desktop", "console-review.png")
            keys.press("a")
            if index < ITEMS - 1:
                expect_shown(index + 1)
        expect_shown(5)  # back to the one skipped
        keys.press("a")
        expect(page.locator("#queue-done")).to_be_visible()
        expect(page.locator("#count-submitted")).to_have_text("0", timeout=20_000)
        expect(page.locator("#count-approved")).to_have_text("17")
        expect(page.locator("#count-rejected")).to_have_text("3")
        expect(page.locator("#toasts .toast.failed")).to_have_count(0)
        page.goto(f"{queue_url}?view=list")
        assert page.evaluate(NO_SIDEWAYS_SCROLL)
        assert errors == []
        context.close()

    # MTurk has exactly these decisions.
    rejected = {
        2: "The answer is incomplete.",
        3: "The total is missing; please type it too.",
        8: "The answer does not match the task.",
    }
    for index, assignment_id in enumerate(assignments):
        assignment = publishing.client.get_assignment(AssignmentId=assignment_id)["Assignment"]
        expected = "Rejected" if index in rejected else "Approved"
        assert assignment["AssignmentStatus"] == expected, index
        assert assignment.get("RequesterFeedback") == rejected.get(index), index
    bonused = publishing.client.get_assignment(AssignmentId=assignments[4])["HIT"]["HITId"]
    bonuses = publishing.client.list_bonus_payments(HITId=bonused)["BonusPayments"]
    assert [(b["BonusAmount"], b["Reason"]) for b in bonuses] == [
        ("0.50", "A very clear transcription, thank you")
    ]


def test_the_list_approves_exactly_the_rows_ticked(app, console, tmp_path):
    """Bulk approval in the list view: only the ticked rows are sent, each row then says
    what became of it (with a fake gateway: this is about the page)."""
    make_user(app, "acme", REVIEWER, role="reviewer")
    queue = add_queue(app, "acme", count=3)
    gateway = ReviewGateway()
    app.extensions["mturk_gateway"] = gateway
    first, second, third = queue["responses"]
    gateway.states["AACME000001"] = "Rejected"  # someone rejected it on MTurk meanwhile

    with chromium(playwright_api) as browser:
        page = browser.new_page(viewport={"width": 390, "height": 844})
        page.set_default_timeout(15_000)
        sign_in(page, console, REVIEWER)
        page.goto(f"{console}/console/hitblocks/{queue['hitblock']}/review?view=list")
        button = page.locator("#approve-selected")
        expect(button).to_be_disabled()
        page.check(f"#select-{first}")
        page.check(f"#select-{second}")
        expect(button).to_have_text("Approve selected (2)")
        shot(page, tmp_path, "list-phone")
        assert page.evaluate(NO_SIDEWAYS_SCROLL)
        button.click()
        row = page.locator(f'tr[data-response-id="{first}"] .row-status')
        expect(row).to_have_text("approved")
        refused = page.locator(f'tr[data-response-id="{second}"] .row-status')
        expect(refused).to_contain_text("rejected on MTurk")  # MTurk's own decision, shown
        expect(page.locator(f'tr[data-response-id="{third}"] .row-status')).to_have_text(
            "submitted"
        )
        expect(page.locator("#toasts .toast.failed")).to_contain_text(f"#{second}")
    assert gateway.calls.count("ApproveAssignment") == 2
    assert gateway.states.get("AACME000002") is None  # never sent


HIDE_THE_PAGE = """() => {
  Object.defineProperty(document, "visibilityState", {value: "hidden", configurable: true});
  document.dispatchEvent(new Event("visibilitychange"));
}"""


def test_waiting_decisions_are_sent_when_the_page_is_left_not_when_it_is_hidden(
    app, console, monkeypatch
):
    """Opening an item's image in a new tab (or switching tabs) keeps decisions waiting, and
    undoable; leaving the page (pagehide) sends them."""
    monkeypatch.setattr(app_console_review, "DECISION_DELAY_MS", 60_000)  # no timer sends
    make_user(app, "acme", REVIEWER, role="reviewer")
    queue = add_queue(app, "acme", count=3)
    gateway = ReviewGateway()
    app.extensions["mturk_gateway"] = gateway
    first, second, _ = queue["responses"]

    with chromium(playwright_api) as browser:
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        context.route("https://e.org/**", lambda route: route.fulfill(body=b"", status=200))
        page = context.new_page()
        page.set_default_timeout(15_000)
        sign_in(page, console, REVIEWER)
        page.goto(f"{console}/console/hitblocks/{queue['hitblock']}/review")
        assert shown(page) == first
        page.keyboard.press("a")
        expect(page.locator("#review")).to_have_attribute("data-response-id", str(second))
        page.locator("#review .item-fields summary").click()
        with context.expect_page() as opened:
            page.locator("#review .item-fields a").first.click()
        opened.value.close()
        page.evaluate(HIDE_THE_PAGE)  # what a new tab or a tab switch does
        page.wait_for_timeout(300)
        assert gateway.calls == []  # still waiting: nothing sent
        page.keyboard.press("u")
        expect(page.locator("#review")).to_have_attribute("data-response-id", str(first))
        expect(page.locator("#review-status")).to_have_text("submitted")
        page.keyboard.press("a")  # decided again, then the page is left
        expect(page.locator("#review")).to_have_attribute("data-response-id", str(second))
        page.goto(f"{console}/console")
        page.wait_for_timeout(500)
    assert gateway.calls == ["ApproveAssignment"]
    assert status_of(app, first) == "approved"
