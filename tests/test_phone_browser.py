"""The worker site on a phone (390x844) and a desktop (1280x800), in a real browser: the task
frame's height follows the HIT's FrameHeight (0: the content's own height, as on MTurk; a
requester's own site: the window's), the frame protocol between the task page
(static/frame-host.js) and the task (static/task-frame.js) carries submits and keys, no page
scrolls sideways, and keyboard focus is visible.

The protocol's tests block static/worker.js (the flow's own script, which acts on the keys and
the submitted message): what they check is the frame protocol itself.

Headless Chromium (Debian's package) driven by Playwright; skipped when either is missing.
Set HITBLOCKS_SCREENSHOTS to a folder to keep the screenshots (i11-frame-*.png).
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from mturk.questions import EXTERNAL_QUESTION_NS, html_question
from mturk.service import local_store
from mturk.service.operations import ALLOW_HTTP
from mturk.service.workers import create_invitations, signup_link
from tests.helpers.browser import CHROMIUM, chromium, screenshot_folder, sign_in
from tests.helpers.question_forms import SURVEY, question_form

playwright_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")
pytestmark = pytest.mark.skipif(
    not CHROMIUM, reason="Chromium is not installed (apt-get install chromium)"
)

VIEWPORTS = {"desktop": (1280, 800), "phone": (390, 844)}
# What the page's scripts heard, from the first script on: frame messages and frame-host's
# events (listeners that run before frame-host's own, in the same dispatch).
RECORDER = """
window.heard = [];
window.addEventListener("message", function (e) { window.heard.push(e.data); });
window.keys = [];
window.addEventListener("hitblocks:key", function (e) { window.keys.push(e.detail.key); });
"""
FRAME_HEIGHT = "document.getElementById('task-frame').clientHeight"
NO_SIDEWAYS_SCROLL = "document.documentElement.scrollWidth <= window.innerWidth"

# A task that grows and shrinks: 1500 px tall, 600 more while "More" is on.
GROWING = """<!DOCTYPE html>
<html><head><title>Growing</title></head>
<body style="margin: 8px">
<div id="tall" style="height: 1500px; background: #eef">A tall task</div>
<button id="more" type="button">More</button>
<div id="extra" style="height: 600px; background: #efe" hidden>More of it</div>
<script>
  document.getElementById("more").onclick = function () {
    var extra = document.getElementById("extra");
    extra.hidden = !extra.hidden;
  };
</script>
</body></html>"""

# MTurk's own kind of template: mturk_form posting to externalSubmit, its assignmentId filled
# by externalHIT_v1.js. "hold" keeps a submit from leaving the page; the page counts submits
# and the messages it hears.
SUBMITTING = """<!DOCTYPE html>
<html><head><script src="https://s3.amazonaws.com/mturk-public/externalHIT_v1.js"></script></head>
<body>
<form id="mturk_form" method="post" action="https://www.mturk.com/mturk/externalSubmit">
  <input type="hidden" name="assignmentId" id="assignmentId">
  <label for="answer">What does the receipt say?</label>
  <textarea id="answer" name="answer" rows="3"></textarea>
  <label><input type="checkbox" id="hold" checked> hold</label>
  <input type="submit" id="submitButton" name="done" value="yes">
</form>
<script>
  turkSetAssignmentID();
  window.submits = 0;
  window.received = [];
  window.addEventListener("message", function (e) { window.received.push(e.data); });
  document.getElementById("mturk_form").addEventListener("submit", function (event) {
    window.submits += 1;
    if (document.getElementById("hold").checked) event.preventDefault();
  });
</script>
</body></html>"""

QUALIFICATION_TEST = question_form(
    "<Question><QuestionIdentifier>total</QuestionIdentifier><DisplayName>Total</DisplayName>"
    "<IsRequired>true</IsRequired><QuestionContent><Text>A receipt lists 2.50 and 1.50 "
    "(https://example.com/a/very/long/address/of/the/receipt/image/to/read). Its total?"
    "</Text></QuestionContent><AnswerSpecification><FreeTextAnswer>"
    "<NumberOfLinesSuggestion>4</NumberOfLinesSuggestion></FreeTextAnswer>"
    "</AnswerSpecification></Question>"
)

# A template written for a desktop: a wide transcription box, a wide image and table.
IMAGE = (
    "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' width='1200' height='300'%3E"
    "%3Crect width='1200' height='300' fill='%23cde'/%3E%3C/svg%3E"
)
WIDE = f"""<!DOCTYPE html>
<html><head><title>Receipt</title>
<style>.box {{ border: 1px solid #999; padding: 12px; }}</style></head>
<body>
<h2>Transcribe the receipt</h2>
<img src="{IMAGE}" width="1200" height="300" alt="A receipt">
<table width="900" border="1">
  <tr><th>Item</th><th>Price</th></tr><tr><td>Tea</td><td>2.50</td></tr>
</table>
<form><div class="box">
  <label for="text">Text</label><br>
  <textarea id="text" name="text" cols="140" rows="6" style="padding: 10px"></textarea><br>
  <input type="text" name="total" size="90" aria-label="Total">
  <p>https://example.com/a/very/long/address/that/does/not/break/on/its/own/anywhere/at/all</p>
  <input type="submit" value="Submit">
</div></form>
</body></html>"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium(playwright_api) as browser:
        yield browser


def open_page(browser: Any, size: tuple[int, int], block_flow: bool = False) -> Any:
    """A page in a fresh context of that size (``block_flow``: without static/worker.js)."""
    context = browser.new_context(viewport={"width": size[0], "height": size[1]})
    context.set_default_timeout(15_000)
    context.add_init_script(RECORDER)
    if block_flow:
        context.route("**/assets/worker.js", lambda route: route.abort())
    return context.new_page()


@pytest.fixture(params=sorted(VIEWPORTS))
def viewport(request: Any) -> str:
    return str(request.param)


def screenshot(page: Any, tmp_path: Path, name: str) -> None:
    folder = screenshot_folder(tmp_path)
    page.screenshot(path=str(folder / f"i11-frame-{name}.png"), full_page=True)


def create_hit(mturk_local: Any, question: str, title: str = "Transcribe a receipt") -> str:
    return str(
        mturk_local.client.create_hit(
            Title=title,
            Description="Type what the receipt says, line by line.",
            Reward="0.25",
            AssignmentDurationInSeconds=600,
            LifetimeInSeconds=3600,
            MaxAssignments=1,
            Question=question,
        )["HIT"]["HITId"]
    )


def task_frame(page: Any) -> Any:
    """The task frame's Frame, as it is now."""
    return page.locator("#task-frame").element_handle().content_frame()


def frame_height(page: Any) -> int:
    return int(page.evaluate(FRAME_HEIGHT))


def heard_height(page: Any) -> None:
    """Once the task's height message has been handled by frame-host.js."""
    page.wait_for_function("window.heard.some(m => m && m.hitblocks === 'height')")


def test_a_frame_height_0_task_follows_its_contents_height(
    mturk_local, browser, viewport, tmp_path
):
    hit_id = create_hit(mturk_local, html_question(GROWING, 0))
    page = open_page(browser, VIEWPORTS[viewport], block_flow=True)
    sign_in(page, mturk_local.url, "APHONE0001")
    page.goto(f"{mturk_local.url}/worker/hits/{hit_id}")
    task = page.frame_locator("#task-frame")
    # As tall as the task: 1500 px, the button and the body's margins; no scrolling inside.
    page.wait_for_function(f"{FRAME_HEIGHT} >= 1516")
    assert frame_height(page) < 1600
    assert task.locator("html").evaluate(
        "() => document.documentElement.scrollHeight <= innerHeight"
    )
    screenshot(page, tmp_path, f"auto-height-{viewport}")
    task.locator("#more").click()  # it grows
    page.wait_for_function(f"{FRAME_HEIGHT} >= 2116")
    task.locator("#more").click()  # and shrinks back
    page.wait_for_function(f"{FRAME_HEIGHT} < 1600")
    assert page.evaluate(NO_SIDEWAYS_SCROLL)


# A task as tall as its frame, and then some: each resize of the frame would grow it again.
WINDOW_TALL = """<!DOCTYPE html>
<html><body style="margin: 8px; min-height: 100vh">
<button id="more" type="button">More</button>
<div id="extra" style="height: 1600px" hidden>More of it</div>
<script>
  document.getElementById("more").onclick = function () {
    document.getElementById("extra").hidden = false;
  };
</script>
</body></html>"""


def test_a_task_as_tall_as_its_frame_does_not_grow_it_for_ever(mturk_local, browser):
    hit_id = create_hit(mturk_local, html_question(WINDOW_TALL, 0))
    page = open_page(browser, VIEWPORTS["phone"], block_flow=True)
    sign_in(page, mturk_local.url, "APHONE0009")
    page.goto(f"{mturk_local.url}/worker/hits/{hit_id}")
    page.wait_for_selector("#task-frame[data-height-paused]", state="attached")
    assert frame_height(page) < 1000
    # A real change in the content is followed again (and the creeping stopped again).
    page.frame_locator("#task-frame").locator("#more").click()
    page.wait_for_function(f"{FRAME_HEIGHT} >= 1600")
    page.wait_for_selector("#task-frame[data-height-paused]", state="attached")
    assert frame_height(page) < 2100


QUIRKS = """<p>A page with no doctype, as many old templates are.</p>
<button id="more" type="button">More</button>
<div id="extra" style="height: 900px" hidden>More of it</div>
<script>
  document.getElementById("more").onclick = function () {
    document.getElementById("extra").hidden = !document.getElementById("extra").hidden;
  };
</script>"""


def test_a_page_without_a_doctype_is_measured_by_its_content(mturk_local, browser):
    """In quirks mode html and body are as tall as the frame: the frame must still shrink to
    a short task, and grow and shrink with it."""
    hit_id = create_hit(mturk_local, html_question(QUIRKS, 0))
    page = open_page(browser, VIEWPORTS["phone"], block_flow=True)
    sign_in(page, mturk_local.url, "APHONE0010")
    page.goto(f"{mturk_local.url}/worker/hits/{hit_id}")
    heard_height(page)
    page.wait_for_function(f"{FRAME_HEIGHT} < 400")
    page.frame_locator("#task-frame").locator("#more").click()
    page.wait_for_function(f"{FRAME_HEIGHT} >= 900")
    page.frame_locator("#task-frame").locator("#more").click()
    page.wait_for_function(f"{FRAME_HEIGHT} < 400")


def test_a_fixed_frame_height_stays(mturk_local, browser, viewport):
    hit_id = create_hit(mturk_local, html_question(GROWING, 450))
    page = open_page(browser, VIEWPORTS[viewport], block_flow=True)
    sign_in(page, mturk_local.url, "APHONE0002")
    page.goto(f"{mturk_local.url}/worker/hits/{hit_id}")
    heard_height(page)  # the task said it is 1500 px tall
    assert page.evaluate("document.getElementById('task-frame').offsetHeight") == 450


def test_a_question_form_frame_is_as_tall_as_the_form(mturk_local, browser, viewport, tmp_path):
    hit_id = create_hit(mturk_local, SURVEY)
    page = open_page(browser, VIEWPORTS[viewport], block_flow=True)
    sign_in(page, mturk_local.url, "APHONE0003")
    page.goto(f"{mturk_local.url}/worker/hits/{hit_id}")
    heard_height(page)
    task = page.frame_locator("#task-frame")
    page.wait_for_function(
        f"{FRAME_HEIGHT} === window.heard.filter(m => m.hitblocks === 'height').pop().height"
    )
    assert task.locator("html").evaluate(
        "() => document.documentElement.scrollHeight <= innerHeight"
    )
    assert task.locator("html").evaluate(f"() => {NO_SIDEWAYS_SCROLL}")
    screenshot(page, tmp_path, f"question-form-{viewport}")


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def requesters_site(tmp_path: Path) -> Iterator[str]:
    """A requester's own site on loopback (plain http, allowed for this test's service)."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "task.html").write_text("<!DOCTYPE html><p id='ready'>The requester's own page</p>")
    handler = partial(QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_an_external_question_with_frame_height_0_gets_the_windows_height(
    mturk_local, browser, viewport, requesters_site
):
    local_store(mturk_local.app).settings[ALLOW_HTTP] = True
    question = (
        f'<ExternalQuestion xmlns="{EXTERNAL_QUESTION_NS}">'
        f"<ExternalURL>{requesters_site}/task.html</ExternalURL><FrameHeight>0</FrameHeight>"
        "</ExternalQuestion>"
    )
    hit_id = create_hit(mturk_local, question)
    page = open_page(browser, VIEWPORTS[viewport], block_flow=True)
    sign_in(page, mturk_local.url, "APHONE0004")
    page.goto(f"{mturk_local.url}/worker/hits/{hit_id}")
    playwright_api.expect(page.frame_locator("#task-frame").locator("#ready")).to_be_visible()
    outer = "document.getElementById('task-frame').offsetHeight"
    assert page.evaluate(f"{outer} === window.innerHeight")
    page.set_viewport_size({"width": VIEWPORTS[viewport][0], "height": 700})
    page.wait_for_function(f"{outer} === 700")


def test_the_pages_submit_message_submits_the_tasks_form(mturk_local, browser, viewport):
    hit_id = create_hit(mturk_local, html_question(SUBMITTING, 0))
    page = open_page(browser, VIEWPORTS[viewport], block_flow=True)
    sign_in(page, mturk_local.url, "APHONE0005")
    submit = (
        "document.getElementById('task-frame').contentWindow"
        ".postMessage({hitblocks: 'submit'}, '*')"
    )

    # In a preview the task is not submitted (it is not accepted).
    page.goto(f"{mturk_local.url}/worker/hits/{hit_id}")
    task = page.frame_locator("#task-frame")
    playwright_api.expect(task.locator("#answer")).to_be_visible()
    page.wait_for_function(f"{FRAME_HEIGHT} > 0")
    page.evaluate(submit)
    task_frame(page).wait_for_function("window.received.length >= 1")
    assert task.locator("html").evaluate("() => window.submits") == 0

    page.click("#accept")
    page.wait_for_url("**/worker/assignments/*")
    task = page.frame_locator("#task-frame")
    task.locator("#answer").fill("TEA 2.50")
    # Not from the page (here: the task's own window, the content origin): ignored.
    task.locator("html").evaluate("() => window.postMessage({hitblocks: 'submit'}, '*')")
    page.evaluate(submit)  # from the page: submitted (held by the task's own handler)
    task_frame(page).wait_for_function("window.received.length >= 2")
    assert task.locator("html").evaluate("() => window.submits") == 1

    task.locator("#hold").uncheck()
    page.evaluate(submit)  # now it leaves for externalSubmit, with the button's own value
    page.wait_for_function(
        "() => { try { return document.getElementById('task-frame').contentWindow"
        ".location.pathname === '/mturk/externalSubmit'; } catch (e) { return false; } }"
    )
    [assignment] = mturk_local.client.list_assignments_for_hit(HITId=hit_id)["Assignments"]
    assert assignment["AssignmentStatus"] == "Submitted"
    assert "<FreeText>TEA 2.50</FreeText>" in assignment["Answer"]
    assert (
        "<QuestionIdentifier>done</QuestionIdentifier><FreeText>yes</FreeText>"
        in (assignment["Answer"])
    )


def test_keys_pressed_in_the_task_reach_the_page(mturk_local, browser, viewport):
    hit_id = create_hit(mturk_local, html_question(SUBMITTING, 0))
    page = open_page(browser, VIEWPORTS[viewport], block_flow=True)
    sign_in(page, mturk_local.url, "APHONE0006")
    page.goto(f"{mturk_local.url}/worker/hits/{hit_id}")
    task = page.frame_locator("#task-frame")
    answer = task.locator("#answer")
    answer.fill("line one")
    # A Mac's Option+R and Option+S type "®" and "ß": text, not Return and Skip (the work).
    for key, code in (("®", "KeyR"), ("ß", "KeyS")):
        answer.dispatch_event("keydown", {"key": key, "code": code, "altKey": True})
    answer.press("Control+Enter")
    answer.press("Alt+KeyR")
    answer.press("Alt+KeyS")
    answer.press("KeyX")  # an ordinary key stays in the task
    page.wait_for_function("window.keys.length >= 3")
    assert page.evaluate("window.keys") == ["submit", "return", "skip"]
    assert answer.input_value() == "line onex"  # Ctrl+Enter added no line, submitted nothing
    assert task.locator("html").evaluate("() => window.submits") == 0


def assert_fits(page: Any, name: str) -> None:
    assert page.evaluate(NO_SIDEWAYS_SCROLL), (
        name,
        page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]"),
    )


def test_pages_fit_the_width_with_no_sideways_scrolling(mturk_local, browser, viewport, tmp_path):
    client = mturk_local.client
    type_id = client.create_qualification_type(
        Name="Receipt transcription, careful and complete (supermarkets and pharmacies)",
        Description="Granted by the requester after a look at a sample of your transcriptions "
        "of long receipts: https://example.com/a/very/long/address/explaining/the/rules",
        Keywords="receipts, transcription",
        QualificationTypeStatus="Active",
    )["QualificationType"]["QualificationTypeId"]
    tested = client.create_qualification_type(
        Name="Receipt reader",
        Description="A one-question test.",
        QualificationTypeStatus="Active",
        Test=QUALIFICATION_TEST,
        TestDurationInSeconds=900,
    )["QualificationType"]["QualificationTypeId"]
    hit_id = create_hit(mturk_local, html_question(WIDE, 0), title="Transcribe a long receipt")
    page = open_page(browser, VIEWPORTS[viewport])

    [token] = create_invitations(local_store(mturk_local.app), 1)
    pages = [
        ("sign-up", signup_link(mturk_local.url, token)),
        ("sign-in", mturk_local.url + "/worker"),
    ]
    for name, url in pages:
        page.goto(url)
        assert_fits(page, name)
        screenshot(page, tmp_path, f"{name}-{viewport}")

    sign_in(page, mturk_local.url, "APHONE0007")
    for name, path in [
        ("qualifications", "/worker/qualifications"),
        ("qualification", f"/worker/qualifications/{type_id}"),
        ("task", f"/worker/hits/{hit_id}"),
        ("no-such-hit", "/worker/assignments/NOSUCHASSIGNMENT"),
    ]:
        page.goto(mturk_local.url + path)
        assert_fits(page, name)
        if name == "task":
            # Inside the frame too: the desktop template fits (task.css), nothing spills out.
            task = page.frame_locator("#task-frame")
            playwright_api.expect(task.locator("#text")).to_be_visible()
            heard_height(page)
            assert task.locator("html").evaluate(f"() => {NO_SIDEWAYS_SCROLL}")
            box = task.locator("#text").bounding_box()
            frame_box = page.locator("#task-frame").bounding_box()
            assert box["x"] + box["width"] <= frame_box["x"] + frame_box["width"]
        screenshot(page, tmp_path, f"{name}-{viewport}")
    page.goto(f"{mturk_local.url}/worker/qualifications/{tested}")
    page.click("#take-test")
    playwright_api.expect(page.locator("#test-form")).to_be_visible()
    assert_fits(page, "qualification-test")
    screenshot(page, tmp_path, f"qualification-test-{viewport}")


def test_keyboard_focus_is_visible_and_the_skip_link_skips_to_the_content(
    mturk_local, browser, tmp_path
):
    page = open_page(browser, VIEWPORTS["phone"])
    sign_in(page, mturk_local.url, "APHONE0008")
    page.goto(mturk_local.url + "/worker/qualifications")
    page.keyboard.press("Tab")  # first: the skip link, shown once focused
    assert page.evaluate("document.activeElement.className") == "skip-link"
    assert page.locator(".skip-link").bounding_box()["y"] >= 0
    screenshot(page, tmp_path, "skip-link-phone")
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    page.keyboard.press("Tab")  # the content's first control, past the header's links
    assert page.evaluate("document.activeElement.id") == "q"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "search"
    outline = page.evaluate(
        "(() => { const s = getComputedStyle(document.activeElement);"
        " return [s.outlineStyle, parseFloat(s.outlineWidth)]; })()"
    )
    assert outline[0] != "none" and outline[1] >= 2, outline
    screenshot(page, tmp_path, "focus-phone")
