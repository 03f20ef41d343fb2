"""HIT layouts: ``hitblocks layouts`` registers an HTML template, CreateHIT renders it from a
HITLayoutId and HITLayoutParameters (values escaped), as MTurk's requester-site projects did;
and refuses what MTurk refuses. Through the CLI and real boto3; a worker works a layout's
HIT in a real browser."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import defusedxml.ElementTree as SafeET
import pytest
from botocore.exceptions import ClientError
from click.testing import CliRunner

from app.cli import main
from mturk.client import load_credentials_file
from mturk.questions import ANSWERS_NS, html_question, parse_question
from mturk.service import local_store
from tests.helpers.browser import CHROMIUM, chromium, expect_submitted, sign_in
from tests.helpers.requesters import client_for, new_requester
from tests.worker_site import complete

try:
    import playwright.sync_api as playwright_api
except ImportError:  # only the browser test needs it; it is skipped then
    playwright_api = None

FRAGMENT = """<h2>${title}</h2>
<p><img src="${image_url}" alt=""></p>
<label>What does it show? <input name="label" id="label"></label>
<p>Again: ${title}</p>
"""
PAGE = """<!DOCTYPE html><html><body>
<form method="post" action="https://www.mturk.com/mturk/externalSubmit">
<input type="hidden" name="assignmentId"><p>${text}</p><input name="answer"></form>
</body></html>"""


@pytest.fixture
def cli(mturk_local, tmp_path) -> Iterator[tuple[CliRunner, dict[str, str]]]:
    """The CLI on the service database of ``mturk_local``."""
    env = {
        "HITBLOCKS_DATABASE_URL": f"sqlite:///{tmp_path / 'api.sqlite3'}",
        "HITBLOCKS_MTURK_LOCAL_DATABASE_URL": str(local_store(mturk_local.app).engine.url),
    }
    yield CliRunner(), env


def access_key_id(mturk_local) -> str:
    """The access key id the fixture's client signs with."""
    credentials = load_credentials_file(mturk_local.credentials_file)
    assert credentials is not None
    return credentials.access_key_id


def register(cli, tmp_path: Path, key_id: str, template: str, *extra: str) -> str:
    """``hitblocks layouts create``; the HITLayoutId, its last line of output."""
    runner, env = cli
    path = tmp_path / "task.html"
    path.write_text(template)
    args = ["layouts", "create", "--requester-access-key-id", key_id, "--file", str(path)]
    created = runner.invoke(main, [*args, *extra], env=env)
    assert created.exit_code == 0, created.output
    return created.output.strip().splitlines()[-1]


def create_hit(client, **kwargs: Any) -> dict[str, Any]:
    return client.create_hit(
        Title="Label the picture",
        Description="Say what it shows",
        Reward="0.25",
        AssignmentDurationInSeconds=600,
        LifetimeInSeconds=3600,
        **kwargs,
    )["HIT"]


def parameters(**values: str) -> list[dict[str, str]]:
    return [{"Name": name, "Value": value} for name, value in values.items()]


def turk_error(call, **kwargs: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    response = caught.value.response
    code = response.get("TurkErrorCode", response["Error"].get("TurkErrorCode"))
    return code, response["Error"]["Message"]


def test_a_registered_layout_renders_escaped_into_the_hits_question(mturk_local, cli, tmp_path):
    client = mturk_local.client
    layout_id = register(cli, tmp_path, access_key_id(mturk_local), FRAGMENT)
    assert len(layout_id) == 30 and layout_id.isalnum() and layout_id.isupper()

    hit = create_hit(
        client,
        HITLayoutId=layout_id,
        HITLayoutParameters=parameters(
            title='Cats & "dogs" <script>alert(1)</script>', image_url="https://example.com/1.png"
        ),
    )
    got = client.get_hit(HITId=hit["HITId"])["HIT"]
    assert got["HITLayoutId"] == hit["HITLayoutId"] == layout_id
    page = parse_question(got["Question"]).content
    assert page.count("<h2>Cats &amp; &quot;dogs&quot; &lt;script&gt;alert(1)&lt;/script&gt;</h2>")
    assert "<script>alert(1)" not in page and "${" not in page
    assert '<img src="https://example.com/1.png"' in page
    # A fragment goes into the form MTurk put around a project's layout.
    assert 'id="mturk_form"' in page and 'name="assignmentId"' in page
    assert "externalHIT_v1.js" in page and 'id="submitButton"' in page

    # Workers answer it like any HTMLQuestion.
    assignment_id = complete(mturk_local.url, hit["HITId"], "ALAYOUT1", [("label", "a cat")])
    answer = client.get_assignment(AssignmentId=assignment_id)["Assignment"]["Answer"]
    assert "a cat" in answer


def test_a_layout_with_its_own_form_is_used_as_it_is(mturk_local, cli, tmp_path):
    client = mturk_local.client
    layout_id = register(cli, tmp_path, access_key_id(mturk_local), PAGE, "--name", "own form")
    hit = create_hit(client, HITLayoutId=layout_id, HITLayoutParameters=parameters(text="x<y"))
    page = parse_question(client.get_hit(HITId=hit["HITId"])["HIT"]["Question"]).content
    assert page == PAGE.replace("${text}", "x&lt;y")


def test_layouts_are_listed_for_their_requester_only(mturk_local, cli, tmp_path):
    runner, env = cli
    mine = register(cli, tmp_path, access_key_id(mturk_local), FRAGMENT, "--name", "labels")
    other = new_requester(mturk_local.app, "other")
    theirs = register(cli, tmp_path, other.access_key_id, PAGE)

    listed = runner.invoke(
        main, ["layouts", "list", "--requester-access-key-id", access_key_id(mturk_local)], env=env
    )
    assert listed.exit_code == 0, listed.output
    assert mine in listed.output and theirs not in listed.output
    assert "labels\ttitle, image_url\t" in listed.output

    # Another requester's layout answers as a missing one.
    code, message = turk_error(
        create_hit, client=mturk_local.client, HITLayoutId=theirs,
        HITLayoutParameters=parameters(text="x"),
    )  # fmt: skip
    assert code == "AWS.MechanicalTurk.HITLayoutDoesNotExist" and theirs in message
    their_hit = create_hit(
        client_for(mturk_local.url, other),
        HITLayoutId=theirs,
        HITLayoutParameters=parameters(text="x"),
    )
    assert their_hit["HITLayoutId"] == theirs


def test_the_cli_refuses_an_unknown_key_and_a_file_that_is_not_text(mturk_local, cli, tmp_path):
    runner, env = cli
    path = tmp_path / "task.html"
    path.write_text(FRAGMENT)
    unknown = runner.invoke(
        main,
        ["layouts", "create", "--requester-access-key-id", "AKIANOSUCHKEY0000000", "--file",
         str(path)],
        env=env,
    )  # fmt: skip
    assert unknown.exit_code != 0 and "no access key AKIANOSUCHKEY0000000" in unknown.output
    path.write_bytes(b"\xff\xfe<p>")
    binary = runner.invoke(
        main,
        ["layouts", "create", "--requester-access-key-id", access_key_id(mturk_local), "--file",
         str(path)],
        env=env,
    )  # fmt: skip
    assert binary.exit_code != 0 and "not UTF-8" in binary.output


@pytest.mark.parametrize(
    ("given", "code", "words"),
    [
        ({"HITLayoutParameters": parameters(title="t")}, "AWS.MissingParameters",
         "Missing parameter names: image_url"),
        ({"HITLayoutParameters": parameters(title="t", image_url="u", extra="e")},
         "AWS.MechanicalTurk.InvalidParameterValue", "extra"),
        ({"HITLayoutParameters": [*parameters(title="t", image_url="u"),
                                  {"Name": "title", "Value": "again"}]},
         "AWS.MechanicalTurk.InvalidParameterValue", "twice"),
        ({"HITLayoutParameters": parameters(title="t", image_url="u"),
          "Question": html_question("<p>also</p>")},
         "AWS.MechanicalTurk.InvalidParameterValue", "not both"),
        ({"HITLayoutParameters": parameters(title="t" * 70_000, image_url="u")},
         "AWS.MechanicalTurk.InvalidParameterValue", "65535"),
    ],
)  # fmt: skip
def test_create_hit_refuses_what_mturk_refuses(mturk_local, cli, tmp_path, given, code, words):
    layout_id = register(cli, tmp_path, access_key_id(mturk_local), FRAGMENT)
    found, message = turk_error(
        create_hit, client=mturk_local.client, HITLayoutId=layout_id, **given
    )
    assert (found, words in message) == (code, True), message
    assert mturk_local.client.list_hits()["HITs"] == []


def test_a_hit_needs_a_question_or_a_layout(mturk_local):
    client = mturk_local.client
    code, message = turk_error(create_hit, client=client)
    assert code == "AWS.MissingParameters" and "Question or HITLayoutId" in message
    code, _ = turk_error(
        create_hit, client=client, Question=html_question("<p>q</p>"),
        HITLayoutParameters=parameters(title="t"),
    )  # fmt: skip
    assert code == "AWS.MechanicalTurk.InvalidParameterValue"
    code, _ = turk_error(create_hit, client=client, HITLayoutId="3ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ")
    assert code == "AWS.MechanicalTurk.HITLayoutDoesNotExist"


def test_create_hit_with_hit_type_takes_a_layout_too(mturk_local, cli, tmp_path):
    client = mturk_local.client
    layout_id = register(cli, tmp_path, access_key_id(mturk_local), PAGE)
    hit_type = client.create_hit_type(
        Title="t", Description="d", Reward="0.10", AssignmentDurationInSeconds=600
    )["HITTypeId"]
    hit = client.create_hit_with_hit_type(
        HITTypeId=hit_type,
        LifetimeInSeconds=600,
        HITLayoutId=layout_id,
        HITLayoutParameters=parameters(text="hello"),
    )["HIT"]
    assert hit["HITLayoutId"] == layout_id and "hello" in hit["Question"]


# ---- a worker, in a browser ----------------------------------------------------------------


@pytest.mark.skipif(
    playwright_api is None or not CHROMIUM, reason="Playwright or Chromium is not installed"
)
def test_a_worker_submits_a_layout_fragment_through_its_form(mturk_local, cli, tmp_path):
    client = mturk_local.client
    layout_id = register(cli, tmp_path, access_key_id(mturk_local), FRAGMENT)
    hit_id = create_hit(
        client,
        HITLayoutId=layout_id,
        HITLayoutParameters=parameters(title="Which animal?", image_url="data:,"),
    )["HITId"]
    with chromium(playwright_api) as browser:
        page = browser.new_page()
        page.set_default_timeout(15_000)
        sign_in(page, mturk_local.url, "ALAYOUT2")
        page.goto(f"{mturk_local.url}/worker/hits/{hit_id}")
        page.click("#accept")
        page.wait_for_url("**/worker/assignments/*")
        task = page.frame_locator("#task-frame")
        playwright_api.expect(task.locator("h2")).to_have_text("Which animal?")
        task.locator("#label").fill("a heron")
        task.locator("#submitButton").click()
        expect_submitted(page)
    [assignment] = client.list_assignments_for_hit(HITId=hit_id)["Assignments"]
    root = SafeET.fromstring(assignment["Answer"])
    texts = [element.text for element in root.iter(f"{{{ANSWERS_NS}}}FreeText")]
    assert texts == ["a heron"]


def test_a_layout_too_large_once_rendered_is_refused_before_it_is_rendered():
    """A placeholder repeated in a layout multiplies its value: the size it would have is
    checked first, so that a request cannot make the service build gigabytes (revB)."""
    import tracemalloc

    from mturk.service.errors import TurkError
    from mturk.service.layouts import render
    from mturk.service.store import HITLayout

    layout = HITLayout(id="LAYOUT", html="${a}" * 10_000, parameters=["a"])
    tracemalloc.start()
    try:
        with pytest.raises(TurkError, match="65535") as caught:
            render(layout, parameters(a="x" * 10_000))  # would be 100 MB
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert caught.value.code == "AWS.MechanicalTurk.InvalidParameterValue"
    assert peak < 5_000_000
