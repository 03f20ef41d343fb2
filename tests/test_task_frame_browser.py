"""Task frames in a real browser. A psiTurk-style ExternalQuestion: the requester's ad,
served by the test over HTTPS on loopback, runs in the worker site's task frame, opens the
experiment in a popup ("Begin Experiment") that keeps its state in localStorage and calls back
into the ad, which submits to turkSubmitTo. An HTMLQuestion: it runs on the task content
origin, with localStorage, out of reach of the worker site's page.

Chromium treats a frame from another site as third party and gives it no storage: a
requester's own site gets storage in the popup (first party), as on MTurk; the content origin,
on the worker site's own site, gets it in the frame too.

Headless Chromium (Debian's package) driven by Playwright; skipped when either is missing.
Set HITBLOCKS_SCREENSHOTS to a folder to keep the screenshots of the task page.
"""

from __future__ import annotations

import http.server
import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from mturk.questions import EXTERNAL_QUESTION_NS, html_question
from tests.helpers.browser import CHROMIUM, chromium, expect_submitted, screenshot_folder, sign_in

OPENSSL = shutil.which("openssl") or ""
playwright_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")
pytestmark = [
    pytest.mark.skipif(not CHROMIUM, reason="Chromium is not installed (apt-get install chromium)"),
    pytest.mark.skipif(not OPENSSL, reason="openssl is not installed"),
]

# The ad, as psiTurk shows it in the task frame: "Begin Experiment" opens the experiment in
# a popup, which, once done, calls back into the ad (same origin) to offer the submit button.
AD = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Ad</title></head>
<body style="font-family: sans-serif">
<h1>A short psychology study</h1>
<p id="status">Loading</p>
<button id="begin" type="button">Begin Experiment</button>
<form id="submit-form" method="post" hidden>
  <input type="hidden" name="assignmentId"><input type="hidden" name="code">
  <button id="finish" type="submit">Submit HIT</button>
</form>
<script>
  var query = new URLSearchParams(location.search);
  var statusLine = document.getElementById("status");
  statusLine.textContent = "Ready";
  document.getElementById("begin").onclick = function () {
    var popup = window.open("exp.html" + location.search, "Popup", "width=600,height=400");
    if (!popup) statusLine.textContent = "Popup blocked";
  };
  window.finish = function (code) {
    var form = document.getElementById("submit-form");
    form.action = query.get("turkSubmitTo") + "/mturk/externalSubmit";
    form.querySelector("[name=assignmentId]").value = query.get("assignmentId");
    form.querySelector("[name=code]").value = code;
    form.hidden = false;
    statusLine.textContent = "Finished";
  };
</script>
</body></html>
"""

# The experiment, in the popup: it keeps its trials in localStorage (surviving a reload, as
# psiTurk's do), then hands its completion code to the ad that opened it and closes.
EXPERIMENT = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Experiment</title></head>
<body>
<p id="trial"></p>
<button id="end" type="button">Finish</button>
<script>
  var trials = Number(localStorage.getItem("trials") || 0) + 1;
  localStorage.setItem("trials", String(trials));
  document.getElementById("trial").textContent = "Trial " + trials;
  document.getElementById("end").onclick = function () {
    opener.finish("trials-" + localStorage.getItem("trials"));
    // After the click's own handling is over: a window closing mid-click fails the
    // click itself (Playwright's TargetClosedError), not what the test checks.
    setTimeout(function () { window.close(); }, 50);
  };
</script>
</body></html>
"""


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def study_site(tmp_path: Path) -> Iterator[str]:
    """The requester's study over HTTPS on loopback, with a self-signed certificate."""
    site = tmp_path / "study"
    site.mkdir()
    (site / "ad.html").write_text(AD)
    (site / "exp.html").write_text(EXPERIMENT)
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [OPENSSL, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + ["-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"]
        + ["-addext", "subjectAltName=IP:127.0.0.1"],
        check=True,
        capture_output=True,
        timeout=60,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    handler = partial(QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield f"https://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def browser_context() -> Iterator[Any]:
    # The test's own self-signed certificate.
    with chromium(playwright_api, "--ignore-certificate-errors") as browser:
        context = browser.new_context(
            ignore_https_errors=True, viewport={"width": 1280, "height": 900}
        )
        context.set_default_timeout(15_000)
        yield context


def screenshot(page: Any, tmp_path: Path, name: str) -> None:
    folder = screenshot_folder(tmp_path)
    page.screenshot(path=str(folder / name), full_page=True)


def test_a_psiturk_style_study_opens_a_popup_and_uses_storage_in_the_task_frame(
    mturk_local, study_site, browser_context, tmp_path
):
    question = (
        f'<ExternalQuestion xmlns="{EXTERNAL_QUESTION_NS}">'
        f"<ExternalURL>{study_site}/ad.html</ExternalURL><FrameHeight>420</FrameHeight>"
        "</ExternalQuestion>"
    )
    hit_id = mturk_local.client.create_hit(
        Title="A short psychology study",
        Description="Two minutes; opens in a new window.",
        Reward="0.50",
        AssignmentDurationInSeconds=600,
        LifetimeInSeconds=3600,
        MaxAssignments=1,
        Question=question,
    )["HIT"]["HITId"]
    page = browser_context.new_page()
    sign_in(page, mturk_local.url, "APSITURK1")
    page.goto(f"{mturk_local.url}/worker/hits/{hit_id}")
    page.click("#accept")
    page.wait_for_url("**/worker/assignments/*")
    assignment_id = page.url.rsplit("/", 1)[1]
    frame = page.frame_locator("#task-frame")
    playwright_api.expect(frame.locator("#status")).to_have_text("Ready")
    screenshot(page, tmp_path, "task-1280.png")
    page.set_viewport_size({"width": 390, "height": 844})
    playwright_api.expect(frame.locator("#begin")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(page, tmp_path, "task-390.png")
    page.set_viewport_size({"width": 1280, "height": 900})

    with page.expect_popup() as opened:
        frame.locator("#begin").click()
    popup = opened.value
    playwright_api.expect(popup.locator("#trial")).to_have_text("Trial 1")
    popup.reload()  # the experiment's state is in the popup's storage
    playwright_api.expect(popup.locator("#trial")).to_have_text("Trial 2")
    with popup.expect_event("close"):
        popup.locator("#end").click()
    playwright_api.expect(frame.locator("#status")).to_have_text("Finished")
    frame.locator("#finish").click()
    expect_submitted(page)

    [assignment] = mturk_local.client.list_assignments_for_hit(HITId=hit_id)["Assignments"]
    assert (assignment["AssignmentId"], assignment["WorkerId"]) == (assignment_id, "APSITURK1")
    assert (
        "<QuestionIdentifier>code</QuestionIdentifier><FreeText>trials-2</FreeText>"
        in (assignment["Answer"])
    )


def test_an_html_question_runs_on_the_content_origin_with_storage(
    mturk_local, browser_context, tmp_path
):
    page_html = (
        '<p id="origin"></p><p id="stored"></p><script>'
        'document.getElementById("origin").textContent = location.origin;'
        'localStorage.setItem("k", "v");'
        'document.getElementById("stored").textContent = localStorage.getItem("k");'
        "</script>"
    )
    hit_id = mturk_local.client.create_hit(
        Title="Storage",
        Description="d",
        Reward="0.10",
        AssignmentDurationInSeconds=600,
        LifetimeInSeconds=3600,
        Question=html_question(page_html),
    )["HIT"]["HITId"]
    page = browser_context.new_page()
    sign_in(page, mturk_local.url, "APSITURK2")
    page.goto(f"{mturk_local.url}/worker/hits/{hit_id}")
    frame = page.frame_locator("#task-frame")
    playwright_api.expect(frame.locator("#origin")).to_have_text(mturk_local.content_url)
    playwright_api.expect(frame.locator("#stored")).to_have_text("v")
    # The worker site's session is out of the task's reach.
    assert (
        page.frame_locator("#task-frame")
        .locator("body")
        .evaluate("() => { try { return parent.document.cookie; } catch (e) { return e.name; } }")
        == "SecurityError"
    )
