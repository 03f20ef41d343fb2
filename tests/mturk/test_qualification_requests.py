"""Qualification requests and tests: ListQualificationRequests, AcceptQualificationRequest and
RejectQualificationRequest through real boto3, and the worker site's qualification pages over
HTTP (requests, AutoGranted types, tests graded by an AnswerKey or left to the owner, their
duration and RetryDelayInSeconds), and the links from a refused HIT to them."""

from __future__ import annotations

import html
import re
import threading
import time

import pytest
from botocore.exceptions import ClientError
from sqlalchemy import func, select, update

from mturk.questions import html_question
from mturk.service import local_store, qualifications
from mturk.service.store import QualificationRequest
from mturk.service.workers import create_worker
from tests.helpers.requesters import client_for, new_requester
from tests.worker_site import Worker

FORM = '<form method="post" action="/mturk/externalSubmit"><input name="answer"></form>'
MISSING = "3ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ"
FORM_NS = (
    "http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2017-11-06/QuestionForm.xsd"
)
KEY_NS = "http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2005-10-01/AnswerKey.xsd"


def choice(identifier: str, text: str, options: list[tuple[str, str]]) -> str:
    selections = "".join(
        f"<Selection><SelectionIdentifier>{key}</SelectionIdentifier><Text>{label}</Text>"
        "</Selection>"
        for key, label in options
    )
    return (
        f"<Question><QuestionIdentifier>{identifier}</QuestionIdentifier>"
        f"<IsRequired>true</IsRequired><QuestionContent><Text>{text}</Text></QuestionContent>"
        "<AnswerSpecification><SelectionAnswer><StyleSuggestion>radiobutton</StyleSuggestion>"
        f"<Selections>{selections}</Selections></SelectionAnswer></AnswerSpecification>"
        "</Question>"
    )


TEST = (
    f'<QuestionForm xmlns="{FORM_NS}">'
    "<Overview><Title>Receipt screening</Title><Text>Two questions.</Text></Overview>"
    + choice("sum", "What is 2 + 2?", [("three", "3"), ("four", "4")])
    + choice("currency", "Which symbol is the euro's?", [("dollar", "$"), ("euro", "€")])
    + "</QuestionForm>"
)
ANSWER_KEY = (
    f'<AnswerKey xmlns="{KEY_NS}">'
    "<Question><QuestionIdentifier>sum</QuestionIdentifier><AnswerOption>"
    "<SelectionIdentifier>four</SelectionIdentifier><AnswerScore>50</AnswerScore>"
    "</AnswerOption></Question>"
    "<Question><QuestionIdentifier>currency</QuestionIdentifier><AnswerOption>"
    "<SelectionIdentifier>euro</SelectionIdentifier><AnswerScore>50</AnswerScore>"
    "</AnswerOption></Question>"
    "</AnswerKey>"
)
RIGHT = [("answer:sum", "four"), ("answer:currency", "euro")]
HALF_RIGHT = [("answer:sum", "four"), ("answer:currency", "dollar")]


def turk_error(call, *args, **kwargs) -> tuple[str, str]:
    """(TurkErrorCode, message) of a call MTurk refuses."""
    with pytest.raises(ClientError) as caught:
        call(*args, **kwargs)
    response = caught.value.response
    code = response.get("TurkErrorCode", response["Error"].get("TurkErrorCode"))
    return code, response["Error"]["Message"]


def new_type(client, name: str = "Knows receipts", **kwargs) -> str:
    return client.create_qualification_type(
        Name=name,
        Description="Passed our receipt screening",
        QualificationTypeStatus="Active",
        **kwargs,
    )["QualificationType"]["QualificationTypeId"]


def type_with_test(client, name: str = "Receipt test", **kwargs) -> str:
    settings = {"Test": TEST, "TestDurationInSeconds": 600, **kwargs}
    return new_type(client, name, **settings)


def guarded_hit(client, type_id: str, at_least: int = 1) -> str:
    return client.create_hit(
        Title="Transcribe a receipt",
        Description="Type the total",
        Reward="0.50",
        AssignmentDurationInSeconds=600,
        LifetimeInSeconds=3600,
        MaxAssignments=3,
        Question=html_question(FORM),
        QualificationRequirements=[
            {
                "QualificationTypeId": type_id,
                "Comparator": "GreaterThanOrEqualTo",
                "IntegerValues": [at_least],
                "ActionsGuarded": "Accept",
            }
        ],
    )["HIT"]["HITId"]


def signed_in(mturk_local, worker_id: str = "AWORKER1") -> Worker:
    worker = Worker(mturk_local.url, worker_id)
    worker.sign_in()
    return worker


def page_of(worker: Worker, type_id: str) -> str:
    status, _, page = worker.request(f"/worker/qualifications/{type_id}")
    assert status == 200, page
    return page


def ask(worker: Worker, type_id: str) -> tuple[int, str]:
    """Press "Request qualification" on the type's page."""
    page_of(worker, type_id)
    status, _, page = worker.request(f"/worker/qualifications/{type_id}/request", [])
    return status, page


def take_test(worker: Worker, type_id: str, answers: list[tuple[str, str]]) -> tuple[int, str]:
    """Start the test from the type's page, then submit these answers."""
    page_of(worker, type_id)
    status, url, page = worker.request(f"/worker/qualifications/{type_id}/test", [])
    assert status == 200 and url.endswith(f"/worker/qualifications/{type_id}/test"), page
    assert 'name="answer:sum"' in page
    status, _, page = worker.request(f"/worker/qualifications/{type_id}/test/submit", answers)
    return status, page


def rewind(mturk_local, worker_id: str, seconds: float) -> None:
    """Move the worker's requests ``seconds`` into the past (instead of waiting)."""
    with local_store(mturk_local.app).transaction() as session:
        session.execute(
            update(QualificationRequest)
            .where(QualificationRequest.worker_id == worker_id)
            .values(started_at=QualificationRequest.started_at - seconds)
        )


def text_of(page: str) -> str:
    """The page's text, tags dropped and whitespace squeezed, for assertions on wording."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


# ---- the owner's operations -----------------------------------------------------------------


def test_a_request_waits_for_the_owner_who_accepts_it_with_a_score(mturk_local):
    client = mturk_local.client
    type_id = new_type(client)
    worker = signed_in(mturk_local)
    _, _, listing = worker.request("/worker/qualifications")
    assert "Knows receipts" in listing and "Not requested" in listing
    status, page = ask(worker, type_id)
    assert status == 200 and "Request pending" in page

    listed = client.list_qualification_requests(QualificationTypeId=type_id)
    [request] = listed["QualificationRequests"]
    assert listed["NumResults"] == 1
    assert (request["QualificationTypeId"], request["WorkerId"]) == (type_id, "AWORKER1")
    assert len(request["QualificationRequestId"]) == 30 and "SubmitTime" in request
    assert "Test" not in request and "Answer" not in request
    assert client.list_qualification_requests()["QualificationRequests"] == [request]
    assert ask(worker, type_id)[0] == 409  # one request at a time

    request_id = request["QualificationRequestId"]
    client.accept_qualification_request(QualificationRequestId=request_id, IntegerValue=75)
    score = client.get_qualification_score(QualificationTypeId=type_id, WorkerId="AWORKER1")
    assert (score["Qualification"]["IntegerValue"], score["Qualification"]["Status"]) == (
        75,
        "Granted",
    )
    assert client.list_qualification_requests()["QualificationRequests"] == []
    for call, kwargs in (
        (client.accept_qualification_request, {}),
        (client.reject_qualification_request, {"Reason": "changed my mind"}),
    ):
        code, message = turk_error(call, QualificationRequestId=request_id, **kwargs)
        assert code == "AWS.MechanicalTurk.InvalidQualificationRequestState"
        assert "only a Pending request" in message
    assert "Granted · score 75" in page_of(worker, type_id)
    _, _, dashboard = worker.request("/worker")
    assert "Qualification granted: Knows receipts" in dashboard and "score is 75" in dashboard


def test_accepting_without_a_value_grants_one(mturk_local):
    client = mturk_local.client
    type_id = new_type(client)
    ask(signed_in(mturk_local), type_id)
    [request] = client.list_qualification_requests()["QualificationRequests"]
    client.accept_qualification_request(QualificationRequestId=request["QualificationRequestId"])
    score = client.get_qualification_score(QualificationTypeId=type_id, WorkerId="AWORKER1")
    assert score["Qualification"]["IntegerValue"] == 1


def test_a_rejected_worker_is_told_why_and_may_not_ask_again_without_a_retry_delay(mturk_local):
    client = mturk_local.client
    type_id = new_type(client)
    worker = signed_in(mturk_local)
    ask(worker, type_id)
    [request] = client.list_qualification_requests()["QualificationRequests"]
    client.reject_qualification_request(
        QualificationRequestId=request["QualificationRequestId"], Reason="Only for our panel"
    )
    code, _ = turk_error(
        client.accept_qualification_request,
        QualificationRequestId=request["QualificationRequestId"],
    )
    assert code == "AWS.MechanicalTurk.InvalidQualificationRequestState"
    _, _, dashboard = worker.request("/worker")
    assert "Qualification request rejected: Knows receipts" in dashboard
    assert "Reason: Only for our panel" in dashboard
    page = text_of(page_of(worker, type_id))
    assert "Your request was rejected: Only for our panel" in page
    assert "can be requested only once" in page
    status, page = ask(worker, type_id)
    assert status == 409 and "can be requested only once" in page
    code, _ = turk_error(
        client.get_qualification_score, QualificationTypeId=type_id, WorkerId="AWORKER1"
    )
    assert code == "AWS.MechanicalTurk.QualificationDoesNotExist"


def test_another_requesters_requests_answer_as_missing_ones(mturk_local):
    client = mturk_local.client
    type_id = new_type(client)
    ask(signed_in(mturk_local), type_id)
    [request] = client.list_qualification_requests()["QualificationRequests"]
    request_id = request["QualificationRequestId"]
    other = client_for(mturk_local.url, new_requester(mturk_local.app, "other lab"))
    for candidate in (request_id, MISSING):
        for call in (other.accept_qualification_request, other.reject_qualification_request):
            code, message = turk_error(call, QualificationRequestId=candidate)
            assert code == "AWS.MechanicalTurk.QualificationRequestDoesNotExist"
            assert message.startswith(f"QualificationRequest {candidate} does not exist. (")
    assert other.list_qualification_requests()["QualificationRequests"] == []
    code, _ = turk_error(other.list_qualification_requests, QualificationTypeId=type_id)
    assert code == "AWS.MechanicalTurk.QualificationTypeDoesNotExist"
    # Still there, still Pending, for its owner.
    assert client.list_qualification_requests()["QualificationRequests"] == [request]


def test_pages_of_requests_skip_none_when_each_page_is_decided_before_the_next(mturk_local):
    client = mturk_local.client
    type_id = new_type(client)
    for n in range(3):
        ask(signed_in(mturk_local, f"AWORKER{n}"), type_id)
    first = client.list_qualification_requests(MaxResults=2)
    assert [r["WorkerId"] for r in first["QualificationRequests"]] == ["AWORKER0", "AWORKER1"]
    for request in first["QualificationRequests"]:
        client.accept_qualification_request(
            QualificationRequestId=request["QualificationRequestId"]
        )
    second = client.list_qualification_requests(MaxResults=2, NextToken=first["NextToken"])
    assert [r["WorkerId"] for r in second["QualificationRequests"]] == ["AWORKER2"]
    last = client.list_qualification_requests(MaxResults=2, NextToken=second["NextToken"])
    assert last["QualificationRequests"] == [] and "NextToken" not in last
    code, _ = turk_error(
        client.list_qualification_requests, QualificationTypeId=type_id, NextToken="garbage"
    )
    assert code == "AWS.ParameterOutOfRange"


def test_deleting_a_type_deletes_its_requests(mturk_local):
    client = mturk_local.client
    type_id = new_type(client)
    ask(signed_in(mturk_local), type_id)
    [request] = client.list_qualification_requests()["QualificationRequests"]
    client.delete_qualification_type(QualificationTypeId=type_id)
    code, _ = turk_error(
        client.accept_qualification_request,
        QualificationRequestId=request["QualificationRequestId"],
    )
    assert code == "AWS.MechanicalTurk.QualificationRequestDoesNotExist"
    assert client.list_qualification_requests()["QualificationRequests"] == []


# ---- the worker site ------------------------------------------------------------------------


def test_the_list_shows_every_requesters_active_requestable_types_and_searches(mturk_local):
    client = mturk_local.client
    receipts = new_type(client)
    other = client_for(mturk_local.url, new_requester(mturk_local.app, "Welsh lab"))
    welsh = new_type(other, "Speaks Welsh", Keywords="language, wales")
    closed = new_type(client, "Closed for now")
    client.update_qualification_type(QualificationTypeId=closed, QualificationTypeStatus="Inactive")
    worker = signed_in(mturk_local)
    _, _, page = worker.request("/worker/qualifications")
    assert receipts in page and welsh in page and closed not in page
    assert "Welsh lab" in page
    _, _, found = worker.request("/worker/qualifications?q=wales")
    assert welsh in found and receipts not in found
    _, _, none = worker.request("/worker/qualifications?q=%25")  # no wildcard: a plain %
    assert "No qualification matches" in none

    page = text_of(page_of(worker, closed))
    assert "not open to requests" in page
    status, page = ask(worker, closed)
    assert status == 409 and "not open to requests" in page
    assert worker.request(f"/worker/qualifications/{MISSING}")[0] == 404


def test_forms_without_the_sites_csrf_token_are_refused(mturk_local):
    type_id = new_type(mturk_local.client)
    worker = signed_in(mturk_local)
    status, _, _ = worker.request(f"/worker/qualifications/{type_id}/request", [], csrf=False)
    assert status == 400
    assert mturk_local.client.list_qualification_requests()["QualificationRequests"] == []


def test_an_auto_granted_type_is_granted_on_request_and_a_revocation_holds(mturk_local):
    client = mturk_local.client
    type_id = new_type(client, AutoGranted=True, AutoGrantedValue=5)
    worker = signed_in(mturk_local)
    status, page = ask(worker, type_id)
    assert status == 200 and "Granted · score 5" in page
    assert "Your request was granted" in text_of(page)
    score = client.get_qualification_score(QualificationTypeId=type_id, WorkerId="AWORKER1")
    assert score["Qualification"]["IntegerValue"] == 5
    assert client.list_qualification_requests()["QualificationRequests"] == []  # decided
    assert ask(worker, type_id)[0] == 409

    hit_id = guarded_hit(client, type_id, 5)
    client.disassociate_qualification_from_worker(QualificationTypeId=type_id, WorkerId="AWORKER1")
    status, _, page = worker.request(f"/worker/hits/{hit_id}/accept", [])
    assert status == 409  # AutoGranted does not undo a revocation
    status, page = ask(worker, type_id)
    assert status == 409 and "revoked" in page


def test_a_test_graded_by_its_answer_key_grants_the_score_at_once(mturk_local):
    client = mturk_local.client
    type_id = type_with_test(client, AnswerKey=ANSWER_KEY)
    hit_id = guarded_hit(client, type_id, 100)
    worker = signed_in(mturk_local)
    status, _, refused = worker.request(f"/worker/hits/{hit_id}/accept", [])
    assert status == 409 and "Take qualification test" in refused
    link = f"/worker/qualifications/{type_id}?hit={hit_id}"
    assert html.escape(link) in refused or link in refused
    _, _, preview = worker.request(f"/worker/hits/{hit_id}")
    assert "Take qualification test" in preview  # said before the worker tries too

    status, _, page = worker.request(link)
    assert status == 200 and 'id="take-test"' in page and f'value="{hit_id}"' in page
    status, page = take_test(worker, type_id, HALF_RIGHT)
    assert status == 200
    assert "Your test was graded: your score is 50" in text_of(page)
    assert "can be requested only once" in text_of(page)  # no RetryDelayInSeconds
    assert client.list_qualification_requests()["QualificationRequests"] == []
    assert worker.request(f"/worker/hits/{hit_id}/accept", [])[0] == 409

    passing = signed_in(mturk_local, "AWORKER2")
    status, page = take_test(passing, type_id, RIGHT)
    assert "your score is 100" in text_of(page)
    assert passing.accept(hit_id)


def test_a_refused_preview_links_to_requestable_types_only(mturk_local):
    client = mturk_local.client
    type_id = new_type(client)
    hit_id = client.create_hit(
        Title="Transcribe a receipt",
        Description="Type the total",
        Reward="0.50",
        AssignmentDurationInSeconds=600,
        LifetimeInSeconds=3600,
        Question=html_question(FORM),
        QualificationRequirements=[
            {
                "QualificationTypeId": type_id,
                "Comparator": "Exists",
                "ActionsGuarded": "PreviewAndAccept",
            },
            {
                "QualificationTypeId": "00000000000000000040",  # NumberHITsApproved
                "Comparator": "GreaterThan",
                "IntegerValues": [10],
                "ActionsGuarded": "PreviewAndAccept",
            },
        ],
    )["HIT"]["HITId"]
    worker = signed_in(mturk_local)
    status, _, page = worker.request(f"/worker/hits/{hit_id}")
    assert status == 403 and "Worker_NumberHITsApproved" in page
    links = re.findall(r'<li>[^<]*<a href="([^"]+)" target="_top">([^<]+)</a>', page)
    assert links == [(f"/worker/qualifications/{type_id}?hit={hit_id}", "Request qualification")]
    status, _, page = worker.request(links[0][0])
    assert status == 200 and 'id="request"' in page and 'id="back-to-hit"' in page


def test_answers_that_break_the_test_are_refused_and_the_test_stays_open(mturk_local):
    client = mturk_local.client
    type_id = type_with_test(client, AnswerKey=ANSWER_KEY)
    worker = signed_in(mturk_local)
    status, page = take_test(worker, type_id, [("answer:sum", "four")])
    assert status == 400 and 'name="answer:sum"' in page
    with local_store(mturk_local.app).transaction() as session:
        [request] = session.scalars(select(QualificationRequest)).all()
        assert request.status == "Testing"
    status, _, page = worker.request(f"/worker/qualifications/{type_id}/test/submit", RIGHT)
    assert status == 200 and "your score is 100" in text_of(page)


def test_a_test_without_an_answer_key_waits_for_the_owner_with_its_answers(mturk_local):
    client = mturk_local.client
    type_id = type_with_test(client)
    worker = signed_in(mturk_local)
    page_of(worker, type_id)
    worker.request(f"/worker/qualifications/{type_id}/test", [])
    assert client.list_qualification_requests()["QualificationRequests"] == []  # Testing
    worker.request(f"/worker/qualifications/{type_id}/test/submit", HALF_RIGHT)
    [request] = client.list_qualification_requests()["QualificationRequests"]
    assert request["Test"] == TEST
    assert "<SelectionIdentifier>dollar</SelectionIdentifier>" in request["Answer"]
    assert "QuestionFormAnswers" in request["Answer"]
    assert "Your answers were sent" in text_of(page_of(worker, type_id))
    client.accept_qualification_request(
        QualificationRequestId=request["QualificationRequestId"], IntegerValue=60
    )
    assert "Granted · score 60" in page_of(worker, type_id)


def test_a_test_submitted_after_its_duration_is_refused(mturk_local):
    client = mturk_local.client
    type_id = type_with_test(client, AnswerKey=ANSWER_KEY, TestDurationInSeconds=120)
    worker = signed_in(mturk_local)
    page_of(worker, type_id)
    _, _, page = worker.request(f"/worker/qualifications/{type_id}/test", [])
    assert 'data-left="' in page
    rewind(mturk_local, "AWORKER1", 121)
    status, _, page = worker.request(f"/worker/qualifications/{type_id}/test/submit", RIGHT)
    assert status == 409 and "time for this test ran out" in page
    assert worker.request(f"/worker/qualifications/{type_id}/test")[0] == 409
    page = text_of(page_of(worker, type_id))
    assert "Test timed out" in page and "can be requested only once" in page
    code, _ = turk_error(
        client.get_qualification_score, QualificationTypeId=type_id, WorkerId="AWORKER1"
    )
    assert code == "AWS.MechanicalTurk.QualificationDoesNotExist"


def test_a_test_in_progress_is_resumed_not_restarted(mturk_local):
    type_id = type_with_test(mturk_local.client, AnswerKey=ANSWER_KEY)
    worker = signed_in(mturk_local)
    page_of(worker, type_id)
    worker.request(f"/worker/qualifications/{type_id}/test", [])
    rewind(mturk_local, "AWORKER1", 300)
    assert "Continue the test" in page_of(worker, type_id)
    worker.request(f"/worker/qualifications/{type_id}/test", [])  # started again: same clock
    with local_store(mturk_local.app).transaction() as session:
        [request] = session.scalars(select(QualificationRequest)).all()
        assert request.status == "Testing"
    rewind(mturk_local, "AWORKER1", 301)
    assert worker.request(f"/worker/qualifications/{type_id}/test/submit", RIGHT)[0] == 409


def test_a_retry_delay_lets_the_worker_retake_the_test_after_it(mturk_local):
    client = mturk_local.client
    type_id = type_with_test(client, AnswerKey=ANSWER_KEY, RetryDelayInSeconds=3600)
    worker = signed_in(mturk_local)
    take_test(worker, type_id, HALF_RIGHT)
    page = text_of(page_of(worker, type_id))
    assert "score is 50" in page and "You may ask again after" in page
    status, _, page = worker.request(f"/worker/qualifications/{type_id}/test", [])
    assert status == 409 and "asked for it recently" in page
    rewind(mturk_local, "AWORKER1", 3600)
    assert "Retake the test" in page_of(worker, type_id)
    status, page = take_test(worker, type_id, RIGHT)
    assert "your score is 100" in text_of(page)
    score = client.get_qualification_score(QualificationTypeId=type_id, WorkerId="AWORKER1")
    assert score["Qualification"]["IntegerValue"] == 100


def test_a_test_changed_while_it_is_taken_is_started_again(mturk_local):
    client = mturk_local.client
    type_id = type_with_test(client, AnswerKey=ANSWER_KEY)
    worker = signed_in(mturk_local)
    page_of(worker, type_id)
    worker.request(f"/worker/qualifications/{type_id}/test", [])
    changed = TEST.replace("What is 2 + 2?", "What is two plus two?")
    client.update_qualification_type(QualificationTypeId=type_id, Test=changed)
    status, _, page = worker.request(f"/worker/qualifications/{type_id}/test/submit", RIGHT)
    assert status == 409 and "changed this test" in page
    status, page = take_test(worker, type_id, RIGHT)  # the void attempt does not count
    assert "your score is 100" in text_of(page)


# ---- Test and AnswerKey are checked when the type is made or changed --------------------------


def test_a_bad_test_or_answer_key_is_refused_with_a_clear_error(mturk_local):
    client = mturk_local.client
    upload = TEST.replace(
        "</QuestionForm>",
        "<Question><QuestionIdentifier>scan</QuestionIdentifier><QuestionContent><Text>Scan"
        "</Text></QuestionContent><AnswerSpecification><FileUploadAnswer>"
        "<MaxFileSizeInBytes>100000</MaxFileSizeInBytes><MinFileSizeInBytes>1"
        "</MinFileSizeInBytes></FileUploadAnswer></AnswerSpecification></Question>"
        "</QuestionForm>",
    )
    cases = [
        ({"Test": "<QuestionForm>", "TestDurationInSeconds": 60}, "XMLParseError", "Test"),
        ({"Test": "<Nope/>", "TestDurationInSeconds": 60}, "XMLParseError", "Test"),
        ({"Test": upload, "TestDurationInSeconds": 60}, "InvalidParameterValue", "file"),
        (
            {
                "Test": TEST,
                "TestDurationInSeconds": 60,
                "AnswerKey": ANSWER_KEY.replace(">sum<", ">nosuch<"),
            },
            "XMLParseError",
            "AnswerKey",
        ),
        ({"Test": TEST, "TestDurationInSeconds": 0}, "ParameterOutOfRange", "TestDuration"),
        ({"RetryDelayInSeconds": -1}, "ParameterOutOfRange", "RetryDelay"),
    ]
    for n, (settings, code, named) in enumerate(cases):
        got, message = turk_error(new_type, client, f"Bad {n}", **settings)
        assert got.endswith(code), (settings, got, message)
        assert named in message, message
    type_id = type_with_test(client, AnswerKey=ANSWER_KEY)
    code, _ = turk_error(
        client.update_qualification_type,
        QualificationTypeId=type_id,
        AnswerKey=ANSWER_KEY.replace(">euro<", ">yen<"),
    )
    assert code == "AWS.MechanicalTurk.XMLParseError"


@pytest.mark.postgres
@pytest.mark.parametrize("with_test", [False, True])
def test_two_requests_at_once_by_one_worker_make_one_on_postgres(mturk_postgres, with_test):
    """A double click on "Request qualification" (or "Take the test") made two requests on
    PostgreSQL, both read before either was written: the worker's row is locked (revA)."""
    client = mturk_postgres.client
    type_id = type_with_test(client) if with_test else new_type(client)
    store = local_store(mturk_postgres.app)
    create_worker(store, "race@workers.test", "correct horse battery staple", "ARACE1")
    ask = qualifications.start_test if with_test else qualifications.request_qualification
    outcome: list[str] = []

    def second() -> None:
        with store.transaction() as session:
            row = qualifications.offered_type(session, type_id)
            try:
                outcome.append(ask(session, "ARACE1", row).id)
            except qualifications.CannotRequest:
                outcome.append("refused")

    with store.transaction() as session:
        first = ask(session, "ARACE1", qualifications.offered_type(session, type_id))
        session.flush()
        other = threading.Thread(target=second)
        other.start()
        time.sleep(0.5)  # the second reads while the first is written but not committed
    other.join(10)
    assert outcome == ([first.id] if with_test else ["refused"])  # a test in progress: resumed
    with store.transaction() as session:
        assert session.scalar(select(func.count()).select_from(QualificationRequest)) == 1
