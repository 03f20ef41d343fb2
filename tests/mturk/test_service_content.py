"""The task content origin: task pages on an origin of their own, shown only for a HIT a
worker may see, framed only by the worker site; ExternalURLs HTTPS only."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from html import unescape
from typing import Any
from urllib.parse import quote

import pytest
from botocore.exceptions import ClientError

from mturk.client import make_client, resolve_endpoint
from mturk.questions import EXTERNAL_QUESTION_NS, html_question
from mturk.service import create_service_app, local_store, serve_in_thread
from mturk.service.content import frame_tags, origin
from mturk.service.requesters import load_credentials_file
from tests.helpers.mturk_samples import SAMPLE_HTML_QUESTION
from tests.helpers.requesters import client_for, new_requester
from tests.helpers.servers import free_port, hitblocks, read_until, scratch_env, stop
from tests.worker_site import Worker

NOT_ACCEPTED = "ASSIGNMENT_ID_NOT_AVAILABLE"
TEMPLATE = (
    '<script src="https://assets.crowd.aws/crowd-html-elements.js"></script>'
    "<crowd-form><p>Is this spam?</p><crowd-input name='why'></crowd-input></crowd-form>"
)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def fetch(url: str) -> tuple[int, dict[str, str], str]:
    """(status, headers, body) of a GET, redirects not followed."""
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(url, timeout=10) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()


def create_hit(client: Any, question: str, **fields: Any) -> str:
    hit = client.create_hit(
        Title="Spam or not",
        Description="Say whether a message is spam.",
        Reward="0.10",
        AssignmentDurationInSeconds=600,
        LifetimeInSeconds=3600,
        MaxAssignments=fields.pop("MaxAssignments", 1),
        Question=question,
        **fields,
    )
    return str(hit["HIT"]["HITId"])


def external_question(url: str, height: int = 500) -> str:
    return (
        f'<ExternalQuestion xmlns="{EXTERNAL_QUESTION_NS}"><ExternalURL>{url}</ExternalURL>'
        f"<FrameHeight>{height}</FrameHeight></ExternalQuestion>"
    )


def frame_of(page: str) -> tuple[str, str]:
    """The task frame's (src, sandbox) on a worker-site page."""
    match = re.search(r'<iframe id="task-frame"[^>]*src="([^"]*)"\s+sandbox="([^"]*)"', page)
    assert match, page
    return unescape(match.group(1)), match.group(2)


def test_the_worker_site_no_longer_serves_task_content(mturk_local):
    hit_id = create_hit(mturk_local.client, html_question(TEMPLATE))
    status, _, _ = fetch(f"{mturk_local.url}/worker/hits/{hit_id}/frame?assignmentId=X")
    assert status == 404


def test_a_previewable_hit_is_shown_on_the_content_origin_framed_only_by_the_worker_site(
    mturk_local,
):
    hit_id = create_hit(mturk_local.client, html_question(TEMPLATE))
    status, headers, body = fetch(
        f"{mturk_local.content_url}/tasks/{hit_id}?assignmentId={NOT_ACCEPTED}&hitId={hit_id}"
    )
    assert status == 200
    assert headers["Content-Security-Policy"] == f"frame-ancestors {mturk_local.url}"
    assert headers["Content-Type"].startswith("text/html")
    # The requester's page as written, the crowd elements loaded from the content origin
    # (and the frame protocol's tags first: tests/mturk/test_task_frame.py).
    assert body == frame_tags(mturk_local.url) + TEMPLATE.replace(
        "https://assets.crowd.aws/crowd-html-elements.js", "/assets/crowd-html-elements.js"
    )
    status, headers, script = fetch(f"{mturk_local.content_url}/assets/crowd-html-elements.js")
    assert status == 200 and "crowd-form" in script
    assert headers["Content-Security-Policy"] == f"frame-ancestors {mturk_local.url}"


@pytest.mark.parametrize("path", ["/", "/worker", "/mturk/externalSubmit", "/tasks/"])
def test_the_content_origin_serves_nothing_else(mturk_local, path):
    assert fetch(mturk_local.content_url + path)[0] == 404


def test_unknown_and_expired_hits_are_not_shown(mturk_local):
    assert fetch(f"{mturk_local.content_url}/tasks/NOSUCHHIT")[0] == 404
    hit_id = create_hit(mturk_local.client, html_question(TEMPLATE))
    mturk_local.client.update_expiration_for_hit(HITId=hit_id, ExpireAt=0)
    assert fetch(f"{mturk_local.content_url}/tasks/{hit_id}")[0] == 404


def test_only_an_accepted_assignment_of_that_hit_opens_a_hit_no_longer_previewable(mturk_local):
    mine = create_hit(mturk_local.client, html_question(TEMPLATE))
    other = create_hit(mturk_local.client, html_question(TEMPLATE))
    worker = Worker(mturk_local.url, "ACONTENT1")
    worker.sign_in()
    assignment_id = worker.accept(mine)  # the only assignment: the HIT is Unassignable now
    assert mturk_local.client.get_hit(HITId=mine)["HIT"]["HITStatus"] == "Unassignable"
    other_assignment = Worker(mturk_local.url, "ACONTENT2")
    other_assignment.sign_in()
    foreign_id = other_assignment.accept(other)
    tasks = f"{mturk_local.content_url}/tasks/{mine}"

    assert fetch(f"{tasks}?assignmentId={assignment_id}&hitId={mine}")[0] == 200
    for refused in [NOT_ACCEPTED, foreign_id, "NOSUCHASSIGNMENT"]:
        assert fetch(f"{tasks}?assignmentId={refused}")[0] == 404
    worker.submit(assignment_id, [("why", "shouting")])
    assert fetch(f"{tasks}?assignmentId={assignment_id}")[0] == 404  # no longer Accepted


def test_a_foreign_assignment_id_on_a_previewable_hit_gets_the_preview(mturk_local):
    hit_id = create_hit(mturk_local.client, html_question(TEMPLATE), MaxAssignments=2)
    other = create_hit(mturk_local.client, html_question(TEMPLATE))
    worker = Worker(mturk_local.url, "ACONTENT3")
    worker.sign_in()
    foreign_id = worker.accept(other)
    status, headers, _ = fetch(
        f"{mturk_local.content_url}/tasks/{hit_id}?assignmentId={foreign_id}&hitId={hit_id}"
    )
    assert status == 303
    assert headers["Location"].endswith(
        f"/tasks/{hit_id}?assignmentId={NOT_ACCEPTED}&hitId={hit_id}"
    )


def test_the_task_page_frames_the_content_origin_with_storage_and_popups(mturk_local):
    hit_id = create_hit(mturk_local.client, html_question(TEMPLATE))
    worker = Worker(mturk_local.url, "ACONTENT4")
    worker.sign_in()
    assignment_id = worker.accept(hit_id)
    status, _, page = worker.request(f"/worker/assignments/{assignment_id}")
    assert status == 200
    src, sandbox = frame_of(page)
    assert src == (
        f"{mturk_local.content_url}/tasks/{hit_id}?assignmentId={assignment_id}&hitId={hit_id}"
        f"&workerId=ACONTENT4&turkSubmitTo={quote(mturk_local.url, safe='')}"
    )
    assert set(sandbox.split()) >= {
        "allow-scripts",
        "allow-forms",
        "allow-same-origin",
        "allow-popups",
        "allow-popups-to-escape-sandbox",
    }
    headers = worker.opener.open(f"{mturk_local.url}/worker/assignments/{assignment_id}").headers
    policy = headers["Content-Security-Policy"]
    assert policy == f"frame-src {mturk_local.content_url} 'self'; frame-ancestors 'self'"
    # Every worker page keeps other sites from framing it.
    assert (
        "frame-ancestors 'self'" in fetch(f"{mturk_local.url}/worker")[1]["Content-Security-Policy"]
    )


def test_an_external_question_is_framed_from_its_own_site_with_mturks_parameters(mturk_local):
    hit_id = create_hit(mturk_local.client, external_question("https://tasks.example/ad?study=7"))
    worker = Worker(mturk_local.url, "ACONTENT5")
    worker.sign_in()
    response = worker.opener.open(f"{mturk_local.url}/worker/hits/{hit_id}")
    src, sandbox = frame_of(response.read().decode())
    assert src == (
        f"https://tasks.example/ad?study=7&assignmentId={NOT_ACCEPTED}&hitId={hit_id}"
        f"&workerId=ACONTENT5&turkSubmitTo={quote(mturk_local.url, safe='')}"
    )
    assert "allow-same-origin" in sandbox.split() and "allow-popups" in sandbox.split()
    assert response.headers["Content-Security-Policy"] == (
        f"frame-src https://tasks.example {mturk_local.content_url} 'self'; frame-ancestors 'self'"
    )
    # The content origin never serves an ExternalQuestion itself.
    assert fetch(f"{mturk_local.content_url}/tasks/{hit_id}")[0] == 404


def test_a_task_on_the_worker_sites_own_origin_gets_no_same_origin_access(tmp_path):
    local = create_service_app(
        f"sqlite:///{tmp_path / 'dev.sqlite3'}",
        content_url="http://127.0.0.1:9",
        allow_http_external_url=True,
    )
    server = serve_in_thread(local, "127.0.0.1", 0, poll_interval=0.05)
    url = f"http://127.0.0.1:{server.server_port}"
    try:
        client = client_for(url, new_requester(local, "tests"))
        hit_id = create_hit(client, external_question(f"{url}/worker"))
        client.close()
        worker = Worker(url, "ACONTENT6", app=local)
        worker.sign_in()
        _, sandbox = frame_of(worker.request(f"/worker/hits/{hit_id}")[2])
        # Scripts with the worker site's own origin could act as the worker: not in a frame.
        assert "allow-same-origin" not in sandbox.split()
        assert "allow-popups" not in sandbox.split()
    finally:
        server.shutdown()
        server.server_close()
        local_store(local).dispose()


def test_a_plain_http_external_url_is_refused_as_mturk_does(mturk_local):
    with pytest.raises(ClientError) as refused:
        create_hit(mturk_local.client, external_question("http://tasks.example/ad"))
    error = refused.value.response
    assert error["Error"]["Code"] == "RequestError"
    assert error["TurkErrorCode"] == "AWS.MechanicalTurk.InvalidParameterValue"
    assert error["Error"]["Message"].startswith(
        'The value "http://tasks.example/ad" is not valid for the parameter ExternalURL. '
        "This URL must use the HTTPS protocol."
    )


def test_a_setting_lets_plain_http_external_urls_in_for_local_development(tmp_path):
    local = create_service_app(
        f"sqlite:///{tmp_path / 'dev.sqlite3'}", allow_http_external_url=True
    )
    server = serve_in_thread(local, "127.0.0.1", 0, poll_interval=0.05)
    url = f"http://127.0.0.1:{server.server_port}"
    try:
        client = client_for(url, new_requester(local, "tests"))
        hit_id = create_hit(client, external_question("http://127.0.0.1:8000/ad"))
        assert client.get_hit(HITId=hit_id)["HIT"]["HITStatus"] == "Assignable"
        with pytest.raises(ClientError):  # still only web URLs
            create_hit(client, external_question("javascript:alert(1)"))
        client.close()
    finally:
        server.shutdown()
        server.server_close()
        local_store(local).dispose()


def test_mturk_local_serves_the_content_origin_on_a_port_of_its_own(tmp_path):
    port = free_port()
    env = scratch_env(tmp_path, MTURK_LOCAL_BALANCE="25.00")
    server = hitblocks("mturk-local", "--port", str(port), "--content-port", "0", env=env)
    try:
        output = read_until(server, "Task content origin at ")
        content_url = output[-1].split(" at ", 1)[1].strip().rstrip("/")
        url = f"http://127.0.0.1:{port}"
        assert content_url.startswith("http://127.0.0.1:") and content_url != url
        credentials = load_credentials_file(env["HITBLOCKS_MTURK_CREDENTIALS_FILE"])
        client = make_client(resolve_endpoint(url, url), credentials=credentials)
        hit_id = create_hit(client, html_question(TEMPLATE))
        client.close()
        status, headers, body = fetch(f"{content_url}/tasks/{hit_id}")
        assert (status, headers["Server"].split("/")[0]) == (200, "gunicorn")
        assert headers["Content-Security-Policy"] == f"frame-ancestors {url}"
        assert "Is this spam?" in body
        # Each port serves its own app only.
        assert fetch(f"{content_url}/worker")[0] == 404
        assert fetch(f"{url}/tasks/{hit_id}")[0] == 404
        assert fetch(f"{url}/worker")[0] == 200
    finally:
        assert stop(server) == 0


def test_origins_are_compared_as_browsers_compare_them():
    """Default ports, case and user info do not make another origin: an ExternalURL at
    https://work.example.org:443 is the worker site's own origin and is framed as such."""
    assert origin("https://Work.Example.org:443/a?b") == "https://work.example.org"
    assert origin("https://user:pw@work.example.org/") == "https://work.example.org"
    assert origin("http://127.0.0.1:5001/worker") == "http://127.0.0.1:5001"
    assert origin("https://work.example.org:8443/") != origin("https://work.example.org/")


@pytest.mark.parametrize(
    "submit",
    [
        "https://www.mturk.com/mturk/externalSubmit",
        "https://workersandbox.mturk.com/mturk/externalSubmit",
    ],
)
def test_mturks_sample_page_is_served_with_amazons_addresses_rewritten(mturk_local, submit):
    hit_id = create_hit(
        mturk_local.client, html_question(SAMPLE_HTML_QUESTION.format(submit=submit))
    )
    # A crafted turkSubmitTo is not written into the page: answers go to the worker site.
    query = f"assignmentId={NOT_ACCEPTED}&hitId={hit_id}&turkSubmitTo={quote('https://evil.test')}"
    status, _, body = fetch(f"{mturk_local.content_url}/tasks/{hit_id}?{query}")
    assert status == 200
    assert "amazonaws.com" not in body and "mturk.com" not in body and "evil" not in body
    assert body == SAMPLE_HTML_QUESTION.format(
        submit=f"{mturk_local.url}/mturk/externalSubmit"
    ).replace(
        "https://s3.amazonaws.com/mturk-public/externalHIT_v1.js", "/assets/externalHIT_v1.js"
    ).replace("<head>", "<head>" + frame_tags(mturk_local.url), 1)
    status, headers, script = fetch(f"{mturk_local.content_url}/assets/externalHIT_v1.js")
    assert status == 200
    assert headers["Content-Type"].startswith(("text/javascript", "application/javascript"))
    for function in ("turkGetParam", "turkGetSubmitToHost", "turkSetAssignmentID"):
        assert f"function {function}(" in script
    assert '"/mturk/externalSubmit"' in script


def test_other_spellings_of_amazons_script_and_submit_addresses_are_rewritten(mturk_local):
    page = (
        "<script src='//s3.amazonaws.com/mturk-public/externalHIT_v1.js'></script>"
        "<script src='https://mturk-public.s3.amazonaws.com/externalHIT_v1.js'></script>"
        "<form action='http://www.mturk.com/mturk/externalSubmit'></form>"
        "<form action='HTTPS://WorkerSandbox.MTurk.com/mturk/externalSubmit'></form>"
        "<form action='https://www.mturk.com/mturk/preview'></form>"
    )
    hit_id = create_hit(mturk_local.client, html_question(page))
    _, _, body = fetch(f"{mturk_local.content_url}/tasks/{hit_id}")
    assert body == frame_tags(mturk_local.url) + (
        "<script src='/assets/externalHIT_v1.js'></script>"
        "<script src='/assets/externalHIT_v1.js'></script>"
        f"<form action='{mturk_local.url}/mturk/externalSubmit'></form>"
        f"<form action='{mturk_local.url}/mturk/externalSubmit'></form>"
        "<form action='https://www.mturk.com/mturk/preview'></form>"  # not a submit address
    )
