"""HIT groups on the worker site (``worker_site.groups``, ``worker_site.hits``): the list of
groups (paged, searched, sorted, filtered, in a bounded number of SQL statements), a group's
next HIT, Accept & work, the flow after a submit (``/worker/groups/<id>/next``), Skip, and a
HIT's own URL through sign-in (with no open redirect)."""

from __future__ import annotations

import html
import json
import re
import threading
import urllib.parse
from datetime import UTC
from typing import Any

import pytest
from sqlalchemy import select

from mturk.questions import html_question
from mturk.service import local_store
from mturk.service.store import HIT, Assignment
from tests.helpers.requesters import client_for, new_requester
from tests.helpers.statements import statements
from tests.worker_site import Worker

FORM = (
    '<form method="post" action="/mturk/externalSubmit">'
    '<input type="hidden" name="assignmentId"><input name="answer"></form>'
)
SUBMITTED = re.compile(
    r'<script type="application/json" id="hitblocks-submitted"[^>]*>(.*?)</script>'
)


def new_group(
    client,
    hits: int = 1,
    title: str = "Transcribe a receipt",
    reward: str = "0.50",
    description: str = "Type the total",
    keywords: str = "",
    requirements: list[dict[str, Any]] | None = None,
    lifetime: int = 3600,
) -> tuple[str, list[str]]:
    """A HIT type with ``hits`` HITs (one assignment each); its id and the HITs' ids, oldest
    first."""
    type_id = client.create_hit_type(
        Title=title,
        Description=description,
        Keywords=keywords,
        Reward=reward,
        AssignmentDurationInSeconds=600,
        AutoApprovalDelayInSeconds=3600,
        QualificationRequirements=requirements or [],
    )["HITTypeId"]
    hit_ids = [
        client.create_hit_with_hit_type(
            HITTypeId=type_id,
            MaxAssignments=1,
            LifetimeInSeconds=lifetime,
            Question=html_question(FORM),
        )["HIT"]["HITId"]
        for _ in range(hits)
    ]
    return type_id, hit_ids


def groups_on(page: str) -> list[tuple[str, int]]:
    """The groups a list page shows, in order: (HITTypeId, HITs available)."""
    found = []
    for card in page.split('<li class="card group"')[1:]:
        type_id = re.search(r'data-hit-type-id="([A-Z0-9]+)"', card)
        available = re.search(r'<dd class="available">(\d+)</dd>', card)
        assert type_id and available, card
        found.append((type_id.group(1), int(available.group(1))))
    return found


def listing(worker: Worker, **query: str) -> list[tuple[str, int]]:
    status, _, page = worker.request("/worker?" + urllib.parse.urlencode(query))
    assert status == 200, page
    return groups_on(page)


def signed_in(mturk_local, worker_id: str = "AGROUPS01") -> Worker:
    worker = Worker(mturk_local.url, worker_id)
    worker.sign_in()
    return worker


def assignment_of(url: str) -> str:
    match = re.search(r"/worker/assignments/([A-Z0-9]+)$", url)
    assert match, url
    return match.group(1)


def hit_of(mturk_local, assignment_id: str) -> str:
    with local_store(mturk_local.app).transaction() as session:
        assignment = session.scalar(select(Assignment).where(Assignment.id == assignment_id))
        assert assignment is not None
        return assignment.hit_id


def accept_next(worker: Worker, type_id: str) -> tuple[int, str, str]:
    return worker.request(f"/worker/groups/{type_id}/accept", [])


def submitted_message(page: str) -> dict[str, Any]:
    match = SUBMITTED.search(page)
    assert match, page
    return json.loads(html.unescape(match.group(1)))


# ---- the list of groups ------------------------------------------------------------------


def test_hits_of_one_type_form_one_group_with_its_terms(mturk_local):
    client = mturk_local.client
    lab = client_for(mturk_local.url, new_requester(mturk_local.app, "Receipts Lab"))
    receipts, receipt_hits = new_group(client, 3, reward="0.75")
    other, _ = new_group(lab, 2, title="Label a photo", reward="0.10", lifetime=7200)
    worker = signed_in(mturk_local)
    status, _, page = worker.request("/worker")
    assert groups_on(page) == [(other, 2), (receipts, 3)]  # newest first
    card = page.split(f'data-hit-type-id="{other}"')[1].split("</li>")[0]
    assert "Label a photo" in card and "Receipts Lab" in card and "$0.10" in card
    assert "10 minutes" in card  # the time allotted
    latest = client.get_hit(HITId=receipt_hits[-1])["HIT"]["Expiration"]  # the group's expiry
    receipts_card = page.split(f'data-hit-type-id="{receipts}"')[1].split("</li>")[0]
    assert f'<time datetime="{latest.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}">' in receipts_card

    worker.accept(receipt_hits[0])  # a HIT the worker took is no longer open to them
    assert (receipts, 2) in listing(worker)


def test_a_batch_of_210_hits_does_not_hide_the_other_groups(mturk_local):
    """The issue's batch: 210+ HITs of one type, and every other group still listed."""
    client = mturk_local.client
    small, _ = new_group(client, 1, title="Small task")
    big, _ = new_group(client, 212, title="Big batch")
    worker = signed_in(mturk_local)
    assert listing(worker) == [(big, 212), (small, 1)]


def test_groups_are_paged(mturk_local):
    client = mturk_local.client
    made = [new_group(client, 1, title=f"Task {number:02d}")[0] for number in range(45)]
    worker = signed_in(mturk_local)
    pages = [listing(worker, page=str(number)) for number in (1, 2, 3)]
    assert [len(page) for page in pages] == [20, 20, 5]
    shown = [type_id for page in pages for type_id, _ in page]
    assert shown == made[::-1]  # newest first, each once
    _, _, page = worker.request("/worker?page=2")
    assert "page 2 of 3" in page and 'rel="next" href="/worker?sort=newest&amp;page=3"' in page
    assert listing(worker, page="99") == pages[2]  # past the end: the last page
    assert listing(worker, page="x") == pages[0]


def test_search_by_title_description_keywords_and_requester(mturk_local):
    client = mturk_local.client
    lab = client_for(mturk_local.url, new_requester(mturk_local.app, "Acme Research"))
    receipt, _ = new_group(client, title="Transcribe a receipt", keywords="ocr, money")
    photo, _ = new_group(lab, title="Label a photo", description="Find the cats")
    percent, _ = new_group(client, title="Rate 100% of these", description="Quick survey")
    worker = signed_in(mturk_local)

    def found(query: str) -> set[str]:
        return {type_id for type_id, _ in listing(worker, q=query)}

    assert found("RECEIPT") == {receipt}  # the title, whatever the case
    assert found("cats") == {photo}  # the description
    assert found("ocr") == {receipt}  # the keywords
    assert found("acme") == {photo}  # the requester's name
    assert found("label cats") == {photo}  # every word
    assert found("label receipt") == set()
    assert found("100%") == {percent} and found("%") == {percent}  # LIKE's wildcards escaped
    assert found("_") == set()
    assert found("") == {receipt, photo, percent}
    _, _, page = worker.request("/worker?q=nothing+like+it")
    assert "No HITs match your search" in page


def test_sort_by_reward_hits_available_and_newest(mturk_local):
    client = mturk_local.client
    cheap_many, _ = new_group(client, 3, title="A", reward="0.05")
    dear_one, _ = new_group(client, 1, title="B", reward="2.00")
    mid_two, _ = new_group(client, 2, title="C", reward="0.50")
    worker = signed_in(mturk_local)
    order = {
        sort: [type_id for type_id, _ in listing(worker, sort=sort)]
        for sort in ("reward", "available", "newest", "nonsense")
    }
    assert order["reward"] == [dear_one, mid_two, cheap_many]
    assert order["available"] == [cheap_many, mid_two, dear_one]
    assert order["newest"] == [mid_two, dear_one, cheap_many]
    assert order["nonsense"] == order["newest"]


def test_qualifications_show_filter_and_hide_groups(mturk_local):
    client = mturk_local.client
    type_id = client.create_qualification_type(
        Name="Knows receipts", Description="Screened", QualificationTypeStatus="Active"
    )["QualificationType"]["QualificationTypeId"]

    def guarded(action: str, title: str) -> str:
        requirement = {"QualificationTypeId": type_id, "Comparator": "Exists"}
        return new_group(
            client, title=title, requirements=[{**requirement, "ActionsGuarded": action}]
        )[0]

    free = new_group(client, title="Open to all")[0]
    accept = guarded("Accept", "Needs it to accept")
    preview = guarded("PreviewAndAccept", "Needs it to preview")
    discover = guarded("DiscoverPreviewAndAccept", "Needs it to see")
    approval = new_group(
        client,
        title="Good workers only",
        requirements=[
            {
                "QualificationTypeId": "000000000000000000L0",
                "Comparator": "GreaterThanOrEqualTo",
                "IntegerValues": [95],
            }
        ],
    )[0]
    worker = signed_in(mturk_local)
    _, _, page = worker.request("/worker")
    shown = [type_id for type_id, _ in groups_on(page)]
    assert set(shown) == {free, accept, preview, approval}  # discovery-guarded: hidden

    def card(group: str) -> str:
        return page.split(f'data-hit-type-id="{group}"')[1].split("</li>")[0]

    for group in (accept, preview):
        assert "do not have the qualifications" in card(group)
        assert "accept-next" not in card(group)
    assert "What it needs" in card(preview) and "Preview" in card(accept)
    for group in (free, approval):  # a new worker's approval rate is 100
        assert "accept-next" in card(group) and "do not have" not in card(group)
    can_accept = {type_id for type_id, _ in listing(worker, qualified="1")}
    assert can_accept == {free, approval}

    client.associate_qualification_with_worker(
        QualificationTypeId=type_id, WorkerId="AGROUPS01", SendNotification=False
    )
    can_accept = {type_id for type_id, _ in listing(worker, qualified="1")}
    assert can_accept == {free, approval, accept, preview, discover}


def test_the_list_takes_a_bounded_number_of_statements(mturk_local):
    """The number of SQL statements does not grow with the HITs or groups on the page: the
    groups are counted in one statement, and the worker's qualifications read once for all
    of them."""
    client = mturk_local.client
    worker = signed_in(mturk_local)

    def group_with_its_own_qualification(number: int) -> str:
        qualification = client.create_qualification_type(
            Name=f"Screened {number}", Description="Screened", QualificationTypeStatus="Active"
        )["QualificationType"]["QualificationTypeId"]
        if number % 2:
            client.associate_qualification_with_worker(
                QualificationTypeId=qualification, WorkerId="AGROUPS01", SendNotification=False
            )
        requirement = {"QualificationTypeId": qualification, "Comparator": "Exists"}
        return new_group(client, title=f"Task {number}", requirements=[requirement])[0]

    def statements_for_the_list() -> int:
        worker.request("/worker")  # the sweep and sign-in checks settle
        with statements(mturk_local) as seen:
            status, _, page = worker.request("/worker?sort=reward&qualified=")
        assert status == 200
        return len(seen)

    for number in range(2):
        group_with_its_own_qualification(number)
    worker.accept(new_group(client, 2, title="In progress")[1][0])
    few = statements_for_the_list()
    for number in range(2, 26):
        group_with_its_own_qualification(number)
    assert statements_for_the_list() == few
    # A thousand HITs more in one group: the same statements.
    with local_store(mturk_local.app).transaction() as session:
        model = session.scalar(select(HIT).order_by(HIT.seq.desc()).limit(1))
        assert model is not None
        session.add_all(
            HIT(
                hit_type_id=model.hit_type_id,
                requester_id=model.requester_id,
                question=model.question,
                max_assignments=1,
                expiration=model.expiration,
            )
            for _ in range(1000)
        )
    assert statements_for_the_list() == few
    assert (model.hit_type_id, 1001) in listing(worker, sort="available")[:1]


# ---- a group's next HIT, Accept & work --------------------------------------------------


def test_accept_and_work_takes_the_groups_next_hit_oldest_first(mturk_local):
    client = mturk_local.client
    type_id, hits = new_group(client, 4)
    worker = signed_in(mturk_local)
    rival = signed_in(mturk_local, "AGROUPS02")
    rival.accept(hits[0])  # filled: the next one is taken instead

    status, url, page = accept_next(worker, type_id)
    assert status == 200 and 'id="task-frame"' in page and 'id="return"' in page
    assert hit_of(mturk_local, assignment_of(url)) == hits[1]
    _, url, _ = accept_next(worker, type_id)
    assert hit_of(mturk_local, assignment_of(url)) == hits[2]
    _, url, _ = accept_next(worker, type_id)
    assert hit_of(mturk_local, assignment_of(url)) == hits[3]
    status, url, page = accept_next(worker, type_id)  # nothing left for this worker
    assert status == 200 and url.endswith("/worker")
    assert "There are no more HITs of “Transcribe a receipt” available to you." in page


def test_accept_and_work_needs_the_csrf_token_and_a_session(mturk_local):
    type_id, hits = new_group(mturk_local.client, 1)
    worker = signed_in(mturk_local)
    status, _, _ = worker.request(f"/worker/groups/{type_id}/accept", [], csrf=False)
    assert status == 400
    stranger = Worker(mturk_local.url, "AGROUPS02")
    stranger.request("/worker")
    status, url, page = stranger.request(f"/worker/groups/{type_id}/accept", [])
    assert url.endswith("/worker") and "Sign in as a worker" in page
    assert mturk_local.client.list_assignments_for_hit(HITId=hits[0])["NumResults"] == 0


def test_a_blocked_or_unqualified_worker_takes_nothing_from_a_group(mturk_local):
    client = mturk_local.client
    blocker = client_for(mturk_local.url, new_requester(mturk_local.app, "Blocker"))
    blocked, blocked_hits = new_group(blocker, 2)
    blocker.create_worker_block(WorkerId="AGROUPS01", Reason="careless")
    qualification = client.create_qualification_type(
        Name="Knows receipts", Description="Screened", QualificationTypeStatus="Active"
    )["QualificationType"]["QualificationTypeId"]
    requirement = {"QualificationTypeId": qualification, "Comparator": "Exists"}
    guarded, guarded_hits = new_group(client, 2, requirements=[requirement])
    worker = signed_in(mturk_local)
    assert blocked not in {type_id for type_id, _ in listing(worker)}
    status, url, page = accept_next(worker, blocked)
    assert url.endswith("/worker") and "no more HITs" in page
    status, _, page = accept_next(worker, guarded)
    assert status == 403 and "Knows receipts Exists" in page
    status, url, _ = worker.request(f"/worker/groups/{blocked}")
    assert url.endswith("/worker")
    with local_store(mturk_local.app).transaction() as session:
        taken = session.scalars(
            select(Assignment).where(Assignment.hit_id.in_(blocked_hits + guarded_hits))
        ).all()
    assert taken == []


def test_a_groups_page_previews_its_next_hit_and_skips_without_accepting(mturk_local):
    type_id, hits = new_group(mturk_local.client, 3)
    worker = signed_in(mturk_local)
    status, _, page = worker.request(f"/worker/groups/{type_id}")
    assert status == 200 and f"hitId={hits[0]}" in page and 'id="accept"' in page
    assert "ASSIGNMENT_ID_NOT_AVAILABLE" in page
    skip = re.search(r'id="skip"[^>]*\s+href="([^"]+)"', page)
    assert skip, page
    status, _, page = worker.request(html.unescape(skip.group(1)))
    assert f"hitId={hits[1]}" in page
    _, _, page = worker.request(f"/worker/groups/{type_id}?after={hits[2]}")
    assert f"hitId={hits[0]}" in page  # from the start again
    for hit_id in hits:
        assert mturk_local.client.list_assignments_for_hit(HITId=hit_id)["NumResults"] == 0
    status, _, page = worker.request("/worker/groups/NOSUCHTYPE")
    assert "no more HITs of this group" in page


# ---- the flow: submit, then the next HIT -------------------------------------------------


def test_a_submit_points_the_flow_to_the_groups_next_hit_then_to_the_list(mturk_local):
    type_id, hits = new_group(mturk_local.client, 2)
    worker = signed_in(mturk_local)
    _, url, _ = accept_next(worker, type_id)
    status, page = worker.submit(assignment_of(url), [("answer", "12.50")])
    assert status == 200 and "HIT submitted" in page
    message = submitted_message(page)
    assert message == {
        "hitblocks": "submitted",
        "ok": True,
        "assignmentId": assignment_of(url),
        "message": "Submitted. The next HIT of this group is loading.",
        "next": f"/worker/groups/{type_id}/next",
    }
    assert f'href="/worker/groups/{type_id}/next" target="_top"' in page  # without JavaScript
    assert '<script src="/assets/worker.js" defer>' in page

    # The next page changes nothing by being fetched: its form accepts.
    status, _, page = worker.request(message["next"])
    assert status == 200 and 'id="accept-next-form"' in page
    assert mturk_local.client.list_assignments_for_hit(HITId=hits[1])["NumResults"] == 0
    form = re.search(r'<form method="post" action="([^"]+)"\s+id="accept-next-form"', page)
    assert form and form.group(1) == f"/worker/groups/{type_id}/accept"
    _, url, _ = worker.request(form.group(1), [])
    assert hit_of(mturk_local, assignment_of(url)) == hits[1]

    status, page = worker.submit(assignment_of(url), [("answer", "3.20")])
    message = submitted_message(page)
    assert message["ok"] is True and message["next"] == "/worker"
    assert message["message"] == "Submitted. This group has no more HITs for you."
    assert "/next" not in page
    status, url, page = worker.request(f"/worker/groups/{type_id}/next")
    assert url.endswith("/worker") and "There are no more HITs" in page


def test_a_refused_submit_tells_the_task_page_why(mturk_local):
    type_id, hits = new_group(mturk_local.client, 1)
    worker = signed_in(mturk_local)
    assignment_id = worker.accept(hits[0])
    worker.submit(assignment_id, [("answer", "x")])
    status, page = worker.submit(assignment_id, [("answer", "again")])
    assert status == 409
    message = submitted_message(page)
    assert message["ok"] is False and message["next"] == ""
    assert message["message"] == "This assignment was already submitted."
    status, page = worker.submit("<script>x</script>", [("answer", "x")])
    assert status == 400 and "<script>x" not in page


def test_auto_accept_is_on_by_default_kept_in_the_session_and_can_be_turned_off(mturk_local):
    type_id, hits = new_group(mturk_local.client, 3)
    worker = signed_in(mturk_local)
    _, url, page = accept_next(worker, type_id)
    assert 'id="auto-accept" name="auto_accept" value="on" checked' in page
    status, _, _ = worker.request("/worker/flow", [("back", "/worker")], csrf=False)
    assert status == 400  # CSRF
    status, url, page = worker.request(
        "/worker/flow", [("back", f"/worker/assignments/{assignment_of(url)}")]
    )
    assert status == 200 and "/worker/assignments/" in url
    assert 'id="auto-accept" name="auto_accept" value="on" >' in page
    # With it off, the flow goes on to the next HIT's preview: nothing accepted.
    status, url, page = worker.request(f"/worker/groups/{type_id}/next")
    assert url.endswith(f"/worker/groups/{type_id}") and 'id="accept"' in page
    status, url, _ = worker.request(
        "/worker/flow", [("auto_accept", "on"), ("back", "https://evil.example/")]
    )
    assert url == f"{mturk_local.url}/worker"  # only a page of the worker site
    _, _, page = worker.request(f"/worker/groups/{type_id}/next")
    assert 'id="accept-next-form"' in page


def test_skip_returns_the_hit_and_takes_the_next_or_previews_it(mturk_local):
    client = mturk_local.client
    type_id, hits = new_group(client, 3)
    worker = signed_in(mturk_local)
    first = worker.accept(hits[1])
    status, url, page = worker.request(f"/worker/assignments/{first}/skip", [])
    assert hit_of(mturk_local, assignment_of(url)) == hits[2]
    assert client.list_assignments_for_hit(HITId=hits[1])["NumResults"] == 0  # returned
    second = assignment_of(url)
    status, url, _ = worker.request(f"/worker/assignments/{second}/skip", [])
    assert hit_of(mturk_local, assignment_of(url)) == hits[0]  # from the start, not hits[1]
    worker.request("/worker/flow", [("back", "/worker")])  # auto-accept off
    status, url, page = worker.request(f"/worker/assignments/{assignment_of(url)}/skip", [])
    assert f"/worker/groups/{type_id}?after={hits[0]}" in url and f"hitId={hits[1]}" in page
    with local_store(mturk_local.app).transaction() as session:
        statuses = session.scalars(
            select(Assignment.status).where(Assignment.worker_id == "AGROUPS01")
        ).all()
    assert sorted(statuses) == ["Returned", "Returned", "Returned"]


def test_the_task_page_shows_the_time_left_the_actions_and_the_keys(mturk_local):
    type_id, hits = new_group(mturk_local.client, 2)
    worker = signed_in(mturk_local)
    _, url, page = accept_next(worker, type_id)
    assert re.search(
        r'<time class="time-left" id="time-left" data-countdown datetime="[0-9T:-]+Z"', page
    )
    for control in ('id="return"', 'id="skip"', 'id="submit-task"', 'id="flow-status"'):
        assert control in page
    assert "<kbd>Ctrl</kbd> + <kbd>Enter</kbd>" in page and "<kbd>Alt</kbd> + <kbd>R</kbd>" in page
    assert 'aria-live="polite"' in page
    assert f'data-content-origin="{mturk_local.content_url}"' in page


# ---- a HIT's own URL, through sign-in ------------------------------------------------------


def test_a_hits_url_leads_through_sign_in_back_to_that_hit(mturk_local):
    client = mturk_local.client
    _, [wanted] = new_group(client, 1, title="The one from the email")
    for number in range(25):  # newer groups: the HIT is not on the list's first page
        new_group(client, 1, title=f"Newer {number}")
    worker = Worker(mturk_local.url, "AGROUPS01")
    status, url, page = worker.request(f"/worker/hits/{wanted}")
    parts = urllib.parse.urlsplit(url)
    assert parts.path == "/worker"
    assert urllib.parse.parse_qs(parts.query) == {"next": [f"/worker/hits/{wanted}"]}
    assert "Sign in as a worker" in page
    assert f'<input type="hidden" name="next" value="/worker/hits/{wanted}">' in page
    status, url, page = worker.request(
        "/worker/login",
        [("email", worker.email), ("password", "wrong"), ("next", f"/worker/hits/{wanted}")],
    )
    assert status == 401 and f'name="next" value="/worker/hits/{wanted}"' in page
    status, url, page = worker.request(
        "/worker/login",
        [
            ("email", worker.email),
            ("password", "correct horse battery staple"),
            ("next", f"/worker/hits/{wanted}"),
        ],
    )
    assert status == 200 and url == f"{mturk_local.url}/worker/hits/{wanted}"
    assert "The one from the email" in page and 'id="accept"' in page
    assert "The one from the email" not in worker.request("/worker")[2]  # not on page one


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/worker",
        "//evil.example/worker",
        "/\\evil.example",
        "/worker\\..\\evil",
        "javascript:alert(1)",
        "/workers-elsewhere",
        "/worker\r\nLocation: https://evil.example/",
        "",
    ],
)
def test_sign_in_goes_to_no_other_site(mturk_local, target):
    worker = Worker(mturk_local.url, "AGROUPS01")
    _, _, page = worker.request("/worker?" + urllib.parse.urlencode({"next": target}))
    assert 'name="next"' not in page
    status, url, _ = worker.request(
        "/worker/login",
        [("email", worker.email), ("password", "correct horse battery staple"), ("next", target)],
    )
    assert status == 200 and url == f"{mturk_local.url}/worker"


# ---- PostgreSQL: bad input and races -----------------------------------------------------


def test_a_nul_character_anywhere_is_refused_not_a_failure_on_postgres(mturk_postgres):
    """PostgreSQL cannot compare text holding U+0000: each of these was a 500."""
    type_id, [hit_id] = new_group(mturk_postgres.client, 1)
    worker = signed_in(mturk_postgres, "ANULWORKER")
    assignment_id = worker.accept(hit_id)
    for path in (
        "/worker?q=a%00b",
        "/worker?sort=reward&q%00=x",
        f"/worker/groups/{type_id}?after=%00",
        "/worker/groups/%00",
        "/worker/groups/%00/next",
        "/worker/hits/%00",
        "/worker/assignments/%00",
        "/worker/dashboard?status=%00",
    ):
        status, _, page = worker.request(path)
        assert status == 400 and "NUL character" in page, path
    for path in ("/worker/groups/%00/accept", "/worker/hits/%00/accept", "/worker/flow"):
        status, _, page = worker.request(path, [("back", "/worker\x00")])
        assert status == 400 and "NUL character" in page, path
    stranger = Worker(mturk_postgres.url, "ANULOTHER")
    stranger.request("/worker")
    status, _, page = stranger.request(
        "/worker/login", [("email", "a\x00@workers.test"), ("password", "x")]
    )
    assert status == 400 and "NUL character" in page
    status, page = worker.submit("A\x00B", [("answer", "1")])
    assert status == 400 and submitted_message(page)["ok"] is False
    status, page = worker.submit(assignment_id, [("answer", "12.50")])
    assert status == 200 and submitted_message(page)["ok"] is True


def test_accept_and_work_at_once_on_postgres_gives_each_a_hit_of_its_own(mturk_postgres):
    """Workers, and one worker's two tabs, taking a group's next HIT at the same moment: each
    takes a different HIT, none is taken twice, and nobody is told the group is empty."""
    type_id, hits = new_group(mturk_postgres.client, 5)
    workers = [signed_in(mturk_postgres, f"ARACE{number}") for number in range(4)]
    workers.append(workers[0])  # a second tab of the first worker
    for worker in workers:
        worker.request("/worker")
    barrier = threading.Barrier(len(workers))
    urls: list[str] = []

    def take(worker: Worker) -> None:
        barrier.wait(timeout=10)
        urls.append(accept_next(worker, type_id)[1])

    threads = [threading.Thread(target=take, args=(worker,)) for worker in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    taken = sorted(hit_of(mturk_postgres, assignment_of(url)) for url in urls)
    assert taken == sorted(hits)
