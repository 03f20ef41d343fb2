"""The frame protocol's tags on task pages: the task content origin adds task-frame.js (told
the worker site's origin) and the task.css defaults to every HTMLQuestion and QuestionForm
page it serves, first in the head, the page otherwise as written; nothing else gets them. The
worker site's task page carries what frame-host.js reads (the content origin, FrameHeight)."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from html import unescape
from pathlib import Path
from typing import Any

import pytest

from mturk.questions import EXTERNAL_QUESTION_NS, html_question
from mturk.service.content import frame_tags
from tests.helpers.question_forms import SURVEY
from tests.worker_site import Worker

STATIC = Path(__file__).resolve().parents[2] / "mturk" / "service" / "static"
NOT_ACCEPTED = "ASSIGNMENT_ID_NOT_AVAILABLE"
SCRIPT = re.compile(r'<script src="/assets/task-frame\.js" data-worker-origin="([^"]*)" defer>')


def fetch(url: str) -> tuple[int, dict[str, str], str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()


def create_hit(client: Any, question: str) -> str:
    hit = client.create_hit(
        Title="Transcribe a receipt",
        Description="Type what the receipt says.",
        Reward="0.10",
        AssignmentDurationInSeconds=600,
        LifetimeInSeconds=3600,
        MaxAssignments=2,
        Question=question,
    )
    return str(hit["HIT"]["HITId"])


def task_page(mturk_local: Any, hit_id: str) -> str:
    status, _, body = fetch(f"{mturk_local.content_url}/tasks/{hit_id}")
    assert status == 200, body
    return body


@pytest.mark.parametrize(
    ("page", "where"),
    [
        # A fragment, as most templates are: first (the browser puts the tags in its head).
        ("<p>Hello</p><form><textarea name=t></textarea></form>", 0),
        # A whole document: just inside its head, before its own styles and scripts.
        (
            "<!DOCTYPE html><html lang=en><HEAD ><style>p{}</style></HEAD><body>x</body></html>",
            len("<!DOCTYPE html><html lang=en><HEAD >"),
        ),
        # A document without a head: just inside <html>.
        (
            "<!doctype html>\n<html><body><header>h</header></body></html>",
            len("<!doctype html>\n<html>"),
        ),
        # A doctype and a fragment: after the doctype, which must stay first (no quirks mode).
        ("<!-- task -->\n<!DOCTYPE html>\n<p>x</p>", len("<!-- task -->\n<!DOCTYPE html>")),
    ],
)
def test_an_html_question_gets_the_frame_tags_first_in_its_head(mturk_local, page, where):
    body = task_page(mturk_local, create_hit(mturk_local.client, html_question(page)))
    tags = frame_tags(mturk_local.url)
    assert body == page[:where] + tags + page[where:]
    assert SCRIPT.search(body).group(1) == mturk_local.url  # the worker site's origin
    assert '<link rel="stylesheet" href="/assets/task.css">' in body


def test_an_accepted_assignments_page_gets_them_too(mturk_local):
    hit_id = create_hit(mturk_local.client, html_question("<p>Hello</p>"))
    worker = Worker(mturk_local.url, "AFRAMETAGS01")
    worker.sign_in()
    assignment_id = worker.accept(hit_id)
    status, _, body = fetch(
        f"{mturk_local.content_url}/tasks/{hit_id}?assignmentId={assignment_id}&hitId={hit_id}"
    )
    assert status == 200
    assert body == frame_tags(mturk_local.url) + "<p>Hello</p>"


def test_a_question_form_page_gets_the_frame_tags_in_its_head(mturk_local):
    hit_id = create_hit(mturk_local.client, SURVEY)
    body = task_page(mturk_local, hit_id)
    head, rest = body.split("</head>", 1)
    assert frame_tags(mturk_local.url) in head
    assert "task-frame.js" not in rest and body.count("task-frame.js") == 1


def test_the_content_origin_serves_the_frame_script_and_styles(mturk_local):
    for name, kind in [("task-frame.js", "javascript"), ("task.css", "text/css")]:
        status, headers, text = fetch(f"{mturk_local.content_url}/assets/{name}")
        assert status == 200
        assert kind in headers["Content-Type"]
        assert headers["Content-Security-Policy"] == f"frame-ancestors {mturk_local.url}"
        assert text == (STATIC / name).read_text()


def test_nothing_else_gets_the_frame_tags(mturk_local):
    hit_id = create_hit(mturk_local.client, html_question("<p>Hello</p>"))
    served = [
        fetch(f"{mturk_local.content_url}/tasks/NOSUCHHIT"),
        fetch(f"{mturk_local.content_url}/assets/crowd-html-elements.js"),
        fetch(f"{mturk_local.content_url}/assets/externalHIT_v1.js"),
        fetch(f"{mturk_local.url}/worker"),  # the sign-in page
    ]
    worker = Worker(mturk_local.url, "AFRAMETAGS02")
    worker.sign_in()
    assignment_id = worker.accept(hit_id)
    served.append(worker.request(f"/worker/assignments/{assignment_id}"))  # the task page
    served.append(worker.submit(assignment_id, [("t", "x")]))  # the answer page, in the frame
    for *_, body in served:
        assert "task-frame.js" not in body and "task.css" not in body


def test_an_external_question_is_not_served_by_the_content_origin(mturk_local):
    question = (
        f'<ExternalQuestion xmlns="{EXTERNAL_QUESTION_NS}">'
        "<ExternalURL>https://tasks.example/ad</ExternalURL><FrameHeight>0</FrameHeight>"
        "</ExternalQuestion>"
    )
    hit_id = create_hit(mturk_local.client, question)
    assert fetch(f"{mturk_local.content_url}/tasks/{hit_id}")[0] == 404


def test_every_default_style_yields_to_the_template():
    """task.css: every rule's selector is wrapped whole in :where() (specificity zero), so
    whatever a template sets itself wins."""
    css = re.sub(r"/\*.*?\*/", "", (STATIC / "task.css").read_text(), flags=re.DOTALL)
    selectors = [s.strip() for s in re.findall(r"([^{}]+)\{[^{}]*\}", css)]
    assert selectors
    for selector in selectors:
        assert re.fullmatch(r":where\([^()]*(?:\([^()]*\)[^()]*)*\)", selector), selector


def frame_of(page: str) -> dict[str, str]:
    """The attributes of the worker-site page's task frame."""
    match = re.search(r"<iframe\b([^>]*)>", page)
    assert match, page
    return {
        name: unescape(value) for name, value in re.findall(r'([\w-]+)="([^"]*)"', match.group(1))
    }


@pytest.mark.parametrize(
    ("question", "frame_height"),
    [
        (html_question("<p>Hello</p>"), "0"),  # the content's own height
        (html_question("<p>Hello</p>", 450), "450"),  # fixed
        (SURVEY, "0"),  # drawn by the content origin: its own height
    ],
)
def test_the_task_page_tells_frame_host_the_content_origin_and_frame_height(
    mturk_local, question, frame_height
):
    hit_id = create_hit(mturk_local.client, question)
    worker = Worker(mturk_local.url, "AFRAMEHOST01")
    worker.sign_in()
    status, _, page = worker.request(f"/worker/hits/{hit_id}")
    assert status == 200
    frame = frame_of(page)
    assert frame["id"] == "task-frame"
    assert frame["data-content-origin"] == mturk_local.content_url
    assert frame["data-frame-height"] == frame_height
    assert '<script src="/assets/frame-host.js" defer></script>' in page
    status, headers, script = fetch(f"{mturk_local.url}/assets/frame-host.js")
    assert status == 200 and "javascript" in headers["Content-Type"]
