"""The local MTurk service through the real boto3 client over HTTP, and its worker site."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from botocore.exceptions import ClientError, ParamValidationError

from mturk.questions import html_question
from mturk.service import create_service_app, operations, serve_in_thread
from tests.helpers.requesters import client_for, new_requester
from tests.worker_site import Worker, complete

FORM = (
    '<form method="post" action="/mturk/externalSubmit">'
    '<input type="hidden" name="assignmentId"><input name="answer"></form>'
)


def hit_type(client, **overrides):
    params = {
        "Title": "Transcribe a receipt",
        "Description": "Type the total",
        "Reward": "0.50",
        "AssignmentDurationInSeconds": 600,
        "AutoApprovalDelayInSeconds": 3600,
        **overrides,
    }
    return client.create_hit_type(**params)["HITTypeId"]


def new_hit(client, type_id=None, **overrides):
    params = {
        "HITTypeId": type_id or hit_type(client),
        "MaxAssignments": 1,
        "LifetimeInSeconds": 3600,
        "Question": html_question(FORM),
        **overrides,
    }
    return client.create_hit_with_hit_type(**params)["HIT"]


def turk_code(error: ClientError) -> str:
    return error.value.response["TurkErrorCode"]


def submitted(mturk_local, hit_id, worker_id="AWORKER1", answer="12.00"):
    return complete(mturk_local.url, hit_id, worker_id, [("answer", answer)])


def balance(client) -> Decimal:
    return Decimal(client.get_account_balance()["AvailableBalance"])


def test_balance_starts_configured(mturk_local):
    assert mturk_local.client.get_account_balance()["AvailableBalance"] == "10000.00"


def test_equal_hit_type_properties_give_the_same_id(mturk_local):
    client = mturk_local.client
    first = hit_type(client)
    assert hit_type(client) == first
    assert hit_type(client, Reward="0.51") != first


def test_create_get_and_list_hits(mturk_local):
    client = mturk_local.client
    type_id = hit_type(client, Keywords="receipt")
    hit = new_hit(client, type_id, MaxAssignments=3, RequesterAnnotation="item:7")
    assert hit["HITStatus"] == "Assignable"
    assert hit["HITTypeId"] == hit["HITGroupId"] == type_id
    assert hit["Reward"] == "0.50"
    assert hit["MaxAssignments"] == 3
    assert hit["RequesterAnnotation"] == "item:7"
    assert hit["Keywords"] == "receipt"
    assert isinstance(hit["Expiration"], datetime)
    fetched = client.get_hit(HITId=hit["HITId"])["HIT"]
    assert fetched["Question"] == html_question(FORM)
    assert fetched["NumberOfAssignmentsAvailable"] == 3

    more = [new_hit(client, type_id)["HITId"] for _ in range(4)]
    seen, token = [], None
    while True:
        page = client.list_hits(MaxResults=2, **({"NextToken": token} if token else {}))
        seen += [h["HITId"] for h in page["HITs"]]
        token = page.get("NextToken")
        if not token:
            break
    assert seen == [hit["HITId"], *more]


def test_create_hit_makes_its_hit_type(mturk_local):
    client = mturk_local.client
    hit = client.create_hit(
        Title="t",
        Description="d",
        Reward="0.05",
        AssignmentDurationInSeconds=60,
        LifetimeInSeconds=60,
        Question=html_question(FORM),
    )["HIT"]
    assert hit["HITTypeId"] == hit_type(
        client,
        Title="t",
        Description="d",
        Reward="0.05",
        AssignmentDurationInSeconds=60,
        AutoApprovalDelayInSeconds=2_592_000,
    )


def test_unique_request_token_names_the_existing_hit(mturk_local):
    client = mturk_local.client
    hit = new_hit(client, UniqueRequestToken="item-1-abc")
    with pytest.raises(client.exceptions.RequestError) as error:
        new_hit(client, UniqueRequestToken="item-1-abc")
    assert turk_code(error) == "AWS.MechanicalTurk.HitAlreadyExists"
    assert hit["HITId"] in error.value.response["Error"]["Message"]
    assert client.list_hits()["NumResults"] == 1


def test_a_unique_request_token_is_free_again_after_24_hours(mturk_local, monkeypatch):
    client = mturk_local.client
    first = new_hit(client, UniqueRequestToken="item-1-abc")
    later = time.time() + operations.TOKEN_WINDOW + 1
    monkeypatch.setattr(operations, "clock", lambda: later)
    second = new_hit(client, UniqueRequestToken="item-1-abc")
    assert second["HITId"] != first["HITId"]
    with pytest.raises(client.exceptions.RequestError) as error:  # now the token names it
        new_hit(client, UniqueRequestToken="item-1-abc")
    assert second["HITId"] in error.value.response["Error"]["Message"]
    assert client.list_hits()["NumResults"] == 2


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        ({"LifetimeInSeconds": 29}, "LifetimeInSeconds"),
        ({"MaxAssignments": 0}, "MaxAssignments"),
        ({"RequesterAnnotation": "x" * 256}, "RequesterAnnotation"),
        ({"UniqueRequestToken": "t" * 65}, "UniqueRequestToken"),
        ({"Question": "<not-a-question/>"}, "HTMLQuestion"),
        ({"Question": "not xml"}, "XML"),
        ({"Question": html_question("x" * 66_000)}, "Question"),
        ({"HITTypeId": "lowercase"}, "HITTypeId"),
    ],
)
def test_requests_are_checked_beyond_what_botocore_checks(mturk_local, overrides, needle):
    client = mturk_local.client
    with pytest.raises(client.exceptions.RequestError) as error:
        new_hit(client, **overrides)
    assert needle in error.value.response["Error"]["Message"]
    assert client.list_hits()["NumResults"] == 0


@pytest.mark.parametrize(
    ("call", "kwargs"),
    [
        ("list_hits", {"MaxResults": 101}),
        ("create_hit_type", {"Title": "x" * 129, "Description": "d", "Reward": "1",
                             "AssignmentDurationInSeconds": 60}),
        ("create_hit_type", {"Title": "t", "Description": "d", "Reward": "1.001",
                             "AssignmentDurationInSeconds": 60}),
        ("create_hit_type", {"Title": "t", "Description": "d" * 2001, "Reward": "1",
                             "AssignmentDurationInSeconds": 60}),
        ("create_hit_type", {"Title": "t", "Description": "d", "Reward": "1",
                             "AssignmentDurationInSeconds": 60,
                             "AutoApprovalDelayInSeconds": 2_592_001}),
        ("list_reviewable_hits", {"Status": "Assignable"}),
        ("create_worker_block", {"WorkerId": "worker", "Reason": "r"}),
        ("get_hit", {"HITId": "NOSUCHHIT"}),
        ("get_assignment", {"AssignmentId": "NOSUCHASSIGNMENT"}),
    ],
)  # fmt: skip
def test_bad_requests_raise_botocore_modelled_request_error(mturk_local, call, kwargs):
    client = mturk_local.client
    with pytest.raises(client.exceptions.RequestError):
        getattr(client, call)(**kwargs)


def test_botocore_still_checks_what_it_checks(mturk_local):
    with pytest.raises(ParamValidationError):
        mturk_local.client.reject_assignment(AssignmentId="ABC")  # feedback is required


def test_worker_submission_comes_back_as_a_submitted_assignment(mturk_local):
    client = mturk_local.client
    hit = new_hit(client)
    assignment_id = submitted(mturk_local, hit["HITId"], answer="total <12.00> & tax")
    assignments = client.list_assignments_for_hit(
        HITId=hit["HITId"], AssignmentStatuses=["Submitted"]
    )["Assignments"]
    assert [a["AssignmentId"] for a in assignments] == [assignment_id]
    assignment = assignments[0]
    assert assignment["WorkerId"] == "AWORKER1"
    assert assignment["AssignmentStatus"] == "Submitted"
    assert "QuestionFormAnswers" in assignment["Answer"]
    assert "<QuestionIdentifier>answer</QuestionIdentifier>" in assignment["Answer"]
    assert "<FreeText>total &lt;12.00&gt; &amp; tax</FreeText>" in assignment["Answer"]
    assert assignment["AutoApprovalTime"] > assignment["SubmitTime"]
    assert client.get_hit(HITId=hit["HITId"])["HIT"]["HITStatus"] == "Reviewable"
    reviewable = client.list_reviewable_hits(HITTypeId=hit["HITTypeId"])["HITs"]
    assert [h["HITId"] for h in reviewable] == [hit["HITId"]]
    got = client.get_assignment(AssignmentId=assignment_id)
    assert got["HIT"]["HITId"] == hit["HITId"]


def test_crowd_form_answers_arrive_as_task_answers_json(mturk_local):
    client = mturk_local.client
    hit = new_hit(client)
    worker = Worker(mturk_local.url, "AWORKER1")
    worker.sign_in()
    assignment_id = worker.accept(hit["HITId"])
    answers = json.dumps([{"label": "cat", "sure": {"on": True}}])
    assert worker.submit(assignment_id, [("taskAnswers", answers)])[0] == 200
    answer = client.get_assignment(AssignmentId=assignment_id)["Assignment"]["Answer"]
    assert "<QuestionIdentifier>taskAnswers</QuestionIdentifier>" in answer
    assert "&quot;" not in answer and '"label"' in answer


def test_approve_and_reject_move_money_and_states(mturk_local):
    client = mturk_local.client
    start = balance(client)
    hit = new_hit(client, MaxAssignments=2)
    first = submitted(mturk_local, hit["HITId"], "AWORKER1")
    second = submitted(mturk_local, hit["HITId"], "AWORKER2")

    client.approve_assignment(AssignmentId=first, RequesterFeedback="thanks")
    assert balance(client) == start - Decimal("0.60")  # 0.50 reward + 20% fee
    with pytest.raises(client.exceptions.RequestError) as error:
        client.approve_assignment(AssignmentId=first)
    assert turk_code(error) == "AWS.MechanicalTurk.InvalidAssignmentState"

    client.reject_assignment(AssignmentId=second, RequesterFeedback="blank answer")
    assert balance(client) == start - Decimal("0.60")  # rejected work costs nothing
    rejected = client.get_assignment(AssignmentId=second)["Assignment"]
    assert rejected["AssignmentStatus"] == "Rejected"
    assert rejected["RequesterFeedback"] == "blank answer"
    with pytest.raises(client.exceptions.RequestError):
        client.reject_assignment(AssignmentId=second, RequesterFeedback="again")
    client.approve_assignment(AssignmentId=second, OverrideRejection=True)
    assert balance(client) == start - Decimal("1.20")


def test_ten_or_more_assignments_pay_forty_percent(mturk_local):
    client = mturk_local.client
    start = balance(client)
    hit = new_hit(client, MaxAssignments=10)
    client.approve_assignment(AssignmentId=submitted(mturk_local, hit["HITId"]))
    assert balance(client) == start - Decimal("0.70")


def test_auto_approval_pays_at_auto_approval_time(mturk_local):
    client = mturk_local.client
    start = balance(client)
    hit = new_hit(client, hit_type(client, AutoApprovalDelayInSeconds=0))
    assignment_id = submitted(mturk_local, hit["HITId"])
    time.sleep(0.05)
    assignment = client.get_assignment(AssignmentId=assignment_id)["Assignment"]
    assert assignment["AssignmentStatus"] == "Approved"
    assert balance(client) == start - Decimal("0.60")


def test_bonus_once_per_token_and_listed(mturk_local):
    client = mturk_local.client
    hit = new_hit(client)
    assignment_id = submitted(mturk_local, hit["HITId"])
    start = balance(client)
    bonus = {
        "WorkerId": "AWORKER1",
        "BonusAmount": "1.00",
        "AssignmentId": assignment_id,
        "Reason": "great work",
        "UniqueRequestToken": "bonus-1",
    }
    client.send_bonus(**bonus)
    with pytest.raises(client.exceptions.RequestError):
        client.send_bonus(**bonus)
    assert balance(client) == start - Decimal("1.20")
    with pytest.raises(client.exceptions.RequestError):
        client.send_bonus(**{**bonus, "WorkerId": "AOTHER", "UniqueRequestToken": "bonus-2"})
    payments = client.list_bonus_payments(HITId=hit["HITId"])["BonusPayments"]
    assert [(p["WorkerId"], p["BonusAmount"], p["Reason"]) for p in payments] == [
        ("AWORKER1", "1.00", "great work")
    ]
    assert client.list_bonus_payments(AssignmentId=assignment_id)["NumResults"] == 1


def test_not_enough_funds_refuses_and_charges_nothing(mturk_local):
    client = client_for(mturk_local.url, new_requester(mturk_local.app, "poor", "0.10"))
    hit = new_hit(client)
    assignment_id = submitted(mturk_local, hit["HITId"])
    with pytest.raises(client.exceptions.RequestError) as error:
        client.approve_assignment(AssignmentId=assignment_id)
    assert turk_code(error) == "AWS.MechanicalTurk.InsufficientFunds"
    assert balance(client) == Decimal("0.10")
    status = client.get_assignment(AssignmentId=assignment_id)["Assignment"]["AssignmentStatus"]
    assert status == "Submitted"
    client.close()


def test_expire_then_delete(mturk_local):
    client = mturk_local.client
    hit = new_hit(client)
    with pytest.raises(client.exceptions.RequestError) as error:
        client.delete_hit(HITId=hit["HITId"])
    assert turk_code(error) == "AWS.MechanicalTurk.InvalidHITState"
    client.update_expiration_for_hit(HITId=hit["HITId"], ExpireAt=datetime(2015, 1, 1))
    expired = client.get_hit(HITId=hit["HITId"])["HIT"]
    assert expired["HITStatus"] == "Reviewable"
    assert expired["Expiration"] <= datetime.now(UTC) + timedelta(seconds=1)
    client.delete_hit(HITId=hit["HITId"])
    assert client.get_hit(HITId=hit["HITId"])["HIT"]["HITStatus"] == "Disposed"
    assert client.list_hits()["NumResults"] == 0


def test_a_hit_with_work_awaiting_review_cannot_be_deleted(mturk_local):
    client = mturk_local.client
    hit = new_hit(client)
    assignment_id = submitted(mturk_local, hit["HITId"])
    with pytest.raises(client.exceptions.RequestError):
        client.delete_hit(HITId=hit["HITId"])
    client.approve_assignment(AssignmentId=assignment_id)
    client.delete_hit(HITId=hit["HITId"])


def test_extending_expiration_reopens_a_hit(mturk_local):
    client = mturk_local.client
    hit = new_hit(client)
    client.update_expiration_for_hit(HITId=hit["HITId"], ExpireAt=datetime(2015, 1, 1))
    later = datetime.now(UTC) + timedelta(hours=2)
    client.update_expiration_for_hit(HITId=hit["HITId"], ExpireAt=later)
    assert client.get_hit(HITId=hit["HITId"])["HIT"]["HITStatus"] == "Assignable"


def test_review_status_round_trip(mturk_local):
    client = mturk_local.client
    hit = new_hit(client)
    submitted(mturk_local, hit["HITId"])
    client.update_hit_review_status(HITId=hit["HITId"])
    assert client.get_hit(HITId=hit["HITId"])["HIT"]["HITStatus"] == "Reviewing"
    assert client.list_reviewable_hits(Status="Reviewing")["NumResults"] == 1
    client.update_hit_review_status(HITId=hit["HITId"], Revert=True)
    assert client.get_hit(HITId=hit["HITId"])["HIT"]["HITStatus"] == "Reviewable"


def test_additional_assignments(mturk_local):
    client = mturk_local.client
    hit = new_hit(client)
    submitted(mturk_local, hit["HITId"])
    assert client.get_hit(HITId=hit["HITId"])["HIT"]["HITStatus"] == "Reviewable"
    client.create_additional_assignments_for_hit(
        HITId=hit["HITId"], NumberOfAdditionalAssignments=2
    )
    again = client.get_hit(HITId=hit["HITId"])["HIT"]
    assert (again["HITStatus"], again["MaxAssignments"]) == ("Assignable", 3)
    with pytest.raises(client.exceptions.RequestError):
        client.create_additional_assignments_for_hit(
            HITId=hit["HITId"], NumberOfAdditionalAssignments=7
        )


def test_worker_blocks(mturk_local):
    client = mturk_local.client
    client.create_worker_block(WorkerId="ABAD", Reason="spam")
    assert client.list_worker_blocks()["WorkerBlocks"] == [{"WorkerId": "ABAD", "Reason": "spam"}]
    hit = new_hit(client)
    worker = Worker(mturk_local.url, "ABAD")
    worker.sign_in()
    status, _, page = worker.request(f"/worker/hits/{hit['HITId']}/accept", [])
    assert status == 409 and "blocked" in page
    client.delete_worker_block(WorkerId="ABAD")
    assert client.list_worker_blocks()["NumResults"] == 0
    assert worker.accept(hit["HITId"])


def test_notify_workers_reaches_only_workers_who_worked_for_the_requester(mturk_local):
    client = mturk_local.client
    hit = new_hit(client)
    worker = Worker(mturk_local.url, "AW1")
    worker.sign_in()
    worker.accept(hit["HITId"])
    Worker(mturk_local.url, "ASTRANGER1")
    result = client.notify_workers(
        Subject="New work", MessageText="Receipts today", WorkerIds=["AW1", "ASTRANGER1"]
    )
    [failure] = result["NotifyWorkersFailureStatuses"]
    assert (failure["WorkerId"], failure["NotifyWorkersFailureCode"]) == (
        "ASTRANGER1",
        "HardFailure",
    )
    assert "Receipts today" in worker.request("/worker")[2]
    assert "Receipts today" not in Worker(mturk_local.url, "ASTRANGER1", create=False).sign_in()


def test_notification_settings(mturk_local):
    client = mturk_local.client
    type_id = hit_type(client)
    with pytest.raises(client.exceptions.RequestError):
        client.update_notification_settings(HITTypeId=type_id, Active=True)
    client.update_notification_settings(
        HITTypeId=type_id,
        Notification={
            "Destination": "arn:aws:sns:us-east-1:123456789012:hitblocks",
            "Transport": "SNS",
            "Version": "2006-05-05",
            "EventTypes": ["AssignmentSubmitted"],
        },
        Active=True,
    )
    client.update_notification_settings(HITTypeId=type_id, Active=False)


def test_returned_and_completed_work_cannot_be_submitted_expired_hits_finish(mturk_local):
    """As on MTurk, a HIT's expiry stops new accepts; work accepted before it can still be
    submitted until its own deadline."""
    client = mturk_local.client
    hit = new_hit(client, MaxAssignments=3)
    worker = Worker(mturk_local.url, "AWORKER1")
    worker.sign_in()
    returned = worker.accept(hit["HITId"])
    worker.give_back(returned)
    assert worker.submit(returned, [("answer", "x")])[0] == 409

    done = worker.accept(hit["HITId"])
    assert worker.submit(done, [("answer", "x")])[0] == 200
    status, page = worker.submit(done, [("answer", "again")])
    assert status == 409 and "already submitted" in page

    late = Worker(mturk_local.url, "AWORKER2")
    late.sign_in()
    assignment_id = late.accept(hit["HITId"])
    client.update_expiration_for_hit(HITId=hit["HITId"], ExpireAt=datetime(2015, 1, 1))
    assert client.get_hit(HITId=hit["HITId"])["HIT"]["HITStatus"] == "Unassignable"
    newcomer = Worker(mturk_local.url, "AWORKER3")
    newcomer.sign_in()
    status, _, page = newcomer.request(f"/worker/hits/{hit['HITId']}/accept", [])
    assert status == 409 and "no longer available" in page
    assert late.submit(assignment_id, [("answer", "x")])[0] == 200
    assert client.get_hit(HITId=hit["HITId"])["HIT"]["HITStatus"] == "Reviewable"
    assert worker.submit("NOSUCHASSIGNMENT", [("answer", "x")])[0] == 400
    assert client.list_assignments_for_hit(HITId=hit["HITId"])["NumResults"] == 2


def test_one_assignment_per_worker_per_hit(mturk_local):
    client = mturk_local.client
    hit = new_hit(client, MaxAssignments=2)
    worker = Worker(mturk_local.url, "AWORKER1")
    worker.sign_in()
    worker.accept(hit["HITId"])
    status, _, page = worker.request(f"/worker/hits/{hit['HITId']}/accept", [])
    assert status == 409 and "already" in page


def test_state_survives_a_restart(tmp_path):
    url_db = f"sqlite:///{tmp_path / 'persist.sqlite3'}"
    ids = []
    issued = None
    for _ in range(2):
        local_app = create_service_app(url_db)
        server = serve_in_thread(local_app, "127.0.0.1", 0, poll_interval=0.05)
        url = f"http://127.0.0.1:{server.server_port}"
        issued = issued or new_requester(local_app, "persistent")
        client = client_for(url, issued)
        if not ids:
            ids.append(new_hit(client)["HITId"])
        else:
            assert [h["HITId"] for h in client.list_hits()["HITs"]] == ids
        client.close()
        server.shutdown()
        server.server_close()
        local_app.extensions["mturk_local_store"].dispose()


def test_throttling_and_faults_are_retried_by_botocore(mturk_local):
    client = mturk_local.client  # max_attempts=3
    mturk_local.faults.queued += [("GetAccountBalance", "throttle"), ("GetAccountBalance", "fault")]
    assert client.get_account_balance()["AvailableBalance"] == "10000.00"
    assert mturk_local.faults.calls["GetAccountBalance"] == 3
    mturk_local.faults.queued += [("GetAccountBalance", "fault")] * 3
    with pytest.raises(client.exceptions.ServiceFault):
        client.get_account_balance()


def test_requests_must_be_signed_and_name_an_operation(mturk_local):
    import urllib.error
    import urllib.request

    def post(headers):
        request = urllib.request.Request(mturk_local.url + "/", data=b"{}", headers=headers)
        try:
            urllib.request.urlopen(request, timeout=5)
        except urllib.error.HTTPError as error:
            return error.code, json.load(error)["__type"]

    target = "MTurkRequesterServiceV20170117.GetAccountBalance"
    assert post({"X-Amz-Target": target}) == (403, "MissingAuthenticationTokenException")
    bogus = {"Authorization": "AWS4-HMAC-SHA256 Credential=x", "X-Amz-Date": "20260101T000000Z"}
    assert post({**bogus, "X-Amz-Target": target}) == (400, "IncompleteSignatureException")
    scope = "Credential=AKIAX/20260101/us-east-1/mturk-requester/aws4_request"
    parsed = {
        **bogus,
        "Authorization": f"AWS4-HMAC-SHA256 {scope}, SignedHeaders=host, Signature={'0' * 64}",
    }
    assert post({**parsed, "X-Amz-Target": "Nope.Op"}) == (400, "UnknownOperationException")
    assert post({**parsed, "X-Amz-Target": target}) == (400, "UnrecognizedClientException")


def test_concurrent_approvals_pay_once(mturk_local):
    import threading

    client = mturk_local.client
    hit = new_hit(client)
    assignment_id = submitted(mturk_local, hit["HITId"])
    start = balance(client)
    mturk_local.faults.latency = 0.05  # both requests in flight together
    outcomes: list[str] = []
    barrier = threading.Barrier(4)

    def approve():
        barrier.wait()
        try:
            client.approve_assignment(AssignmentId=assignment_id)
            outcomes.append("approved")
        except client.exceptions.RequestError as error:
            outcomes.append(error.response["TurkErrorCode"])

    threads = [threading.Thread(target=approve) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["AWS.MechanicalTurk.InvalidAssignmentState"] * 3 + ["approved"]
    assert balance(client) == start - Decimal("0.60")


# ---- NextToken pagination, as AWS pages -------------------------------------------------


def mephisto_walk(call, key, **params):
    """Every item of a listing, the way Mephisto reads it: ``NextToken`` is read from every
    non-empty page (a KeyError if it is missing), and an empty page ends the walk."""
    pages, items = [], []
    page = call(MaxResults=2, **params)
    while page[key]:
        pages.append(page["NumResults"])
        items += page[key]
        page = call(MaxResults=2, NextToken=page["NextToken"], **params)
    assert "NextToken" not in page and page["NumResults"] == 0
    return pages, items


def test_every_non_empty_page_carries_a_next_token_and_the_call_after_the_last_is_empty(
    mturk_local,
):
    client = mturk_local.client
    type_id = hit_type(client)
    hits = [new_hit(client, type_id)["HITId"] for _ in range(5)]
    pages, listed = mephisto_walk(client.list_hits, "HITs")
    assert pages == [2, 2, 1] and [h["HITId"] for h in listed] == hits

    for hit_id in hits[:4]:  # an exact multiple of MaxResults still ends with an empty page
        submitted(mturk_local, hit_id)
    pages, listed = mephisto_walk(client.list_reviewable_hits, "HITs", HITTypeId=type_id)
    assert pages == [2, 2] and [h["HITId"] for h in listed] == hits[:4]

    for worker in ("ABLOCK1", "ABLOCK2", "ABLOCK3"):
        client.create_worker_block(WorkerId=worker, Reason="spam")
    pages, listed = mephisto_walk(client.list_worker_blocks, "WorkerBlocks")
    assert pages == [2, 1] and [b["WorkerId"] for b in listed] == ["ABLOCK1", "ABLOCK2", "ABLOCK3"]


def test_assignments_and_bonuses_page_the_same_way(mturk_local):
    client = mturk_local.client
    hit = new_hit(client, MaxAssignments=3)
    done = [submitted(mturk_local, hit["HITId"], f"AWORKER{n}") for n in range(3)]
    pages, listed = mephisto_walk(
        client.list_assignments_for_hit, "Assignments", HITId=hit["HITId"]
    )
    assert pages == [2, 1] and [a["AssignmentId"] for a in listed] == done
    for n, assignment_id in enumerate(done):
        client.send_bonus(
            WorkerId=f"AWORKER{n}",
            BonusAmount="0.10",
            AssignmentId=assignment_id,
            Reason="thanks",
            UniqueRequestToken=f"bonus-{n}",
        )
    pages, listed = mephisto_walk(client.list_bonus_payments, "BonusPayments", HITId=hit["HITId"])
    assert pages == [2, 1] and [b["AssignmentId"] for b in listed] == done


def test_botocores_paginators_still_walk_every_page(mturk_local):
    client = mturk_local.client
    type_id = hit_type(client)
    hits = [new_hit(client, type_id)["HITId"] for _ in range(5)]
    paginator = client.get_paginator("list_hits")
    pages = list(paginator.paginate(PaginationConfig={"PageSize": 2}))
    assert [len(p["HITs"]) for p in pages] == [2, 2, 1, 0]
    assert [h["HITId"] for p in pages for h in p["HITs"]] == hits
    full = paginator.paginate(PaginationConfig={"PageSize": 2, "MaxItems": 3}).build_full_result()
    assert [h["HITId"] for h in full["HITs"]] == hits[:3]
    rest = paginator.paginate(PaginationConfig={"PageSize": 2, "StartingToken": full["NextToken"]})
    assert [h["HITId"] for p in rest for h in p["HITs"]] == hits[3:]


def test_a_garbage_forged_or_foreign_next_token_is_a_request_error(mturk_local):
    client = mturk_local.client
    type_id = hit_type(client)
    first = new_hit(client, type_id, MaxAssignments=2)
    second = new_hit(client, type_id, MaxAssignments=2)
    client.create_worker_block(WorkerId="ABLOCK1", Reason="spam")
    hits_token = client.list_hits(MaxResults=1)["NextToken"]
    blocks_token = client.list_worker_blocks(MaxResults=1)["NextToken"]
    submitted(mturk_local, first["HITId"])
    assignments_token = client.list_assignments_for_hit(HITId=first["HITId"], MaxResults=1)[
        "NextToken"
    ]
    other = client_for(mturk_local.url, new_requester(mturk_local.app, "other"))
    new_hit(other)
    foreign_token = other.list_hits(MaxResults=1)["NextToken"]
    forged = base64.urlsafe_b64encode(b"p1:0000000000000000:0").decode()
    bad_calls = [
        (client.list_hits, {"NextToken": "garbage"}),
        (client.list_hits, {"NextToken": "%%%not base64%%%"}),
        (client.list_hits, {"NextToken": base64.urlsafe_b64encode(b"\xff\xfe").decode()}),
        (client.list_hits, {"NextToken": forged}),
        (client.list_hits, {"NextToken": blocks_token}),  # another listing's token
        (client.list_worker_blocks, {"NextToken": hits_token}),
        (client.list_hits, {"NextToken": foreign_token}),  # another requester's token
        (other.list_hits, {"NextToken": hits_token}),
        (
            client.list_assignments_for_hit,
            {"HITId": second["HITId"], "NextToken": assignments_token},
        ),
    ]
    for call, params in bad_calls:
        with pytest.raises(ClientError) as error:
            call(**params)
        response = error.value.response
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
        assert response["Error"]["Code"] == "RequestError"
        assert turk_code(error) == "AWS.ParameterOutOfRange"
        assert "NextToken" in response["Error"]["Message"]
    assert client.list_hits(NextToken=hits_token)["HITs"][0]["HITId"] == second["HITId"]
    other.close()
