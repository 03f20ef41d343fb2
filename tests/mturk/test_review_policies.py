"""MTurk's review policies through real boto3: ScoreMyKnownAnswers on each submitted
assignment, SimplePlurality when a HIT becomes reviewable; their approvals (paid once),
rejections and extensions; ListReviewPolicyResultsForHIT's shape, filters and pages; and
CreateHIT refusing policies MTurk refuses."""

from __future__ import annotations

import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from mturk.questions import html_question
from mturk.service import review
from tests.helpers.requesters import client_for, new_requester
from tests.worker_site import complete

FORM = (
    '<form method="post" action="/mturk/externalSubmit">'
    '<input name="q0"><input name="q1"><input name="q2"></form>'
)
KNOWN = "ScoreMyKnownAnswers/2011-09-01"
PLURALITY = "SimplePlurality/2011-09-01"


def policy(name: str, **parameters: Any) -> dict[str, Any]:
    """A review policy as boto3 takes it: a dict value is an answer key (MapEntries), a list
    several Values, anything else one Value."""
    listed = []
    for key, value in parameters.items():
        if isinstance(value, dict):
            entries = [
                {"Key": question, "Values": answers if isinstance(answers, list) else [answers]}
                for question, answers in value.items()
            ]
            listed.append({"Key": key, "MapEntries": entries})
        else:
            values = value if isinstance(value, list) else [str(value)]
            listed.append({"Key": key, "Values": values})
    return {"PolicyName": name, "Parameters": listed}


def new_hit(client, max_assignments: int = 1, lifetime: int = 3600, **policies: Any) -> str:
    return client.create_hit(
        Title="Label the picture",
        Description="Say what it shows",
        Reward="0.50",
        AssignmentDurationInSeconds=600,
        LifetimeInSeconds=lifetime,
        MaxAssignments=max_assignments,
        Question=html_question(FORM),
        **policies,
    )["HIT"]["HITId"]


def listing(client, hit_id: str, **kwargs: Any) -> dict[str, Any]:
    return client.list_review_policy_results_for_hit(HITId=hit_id, MaxResults=100, **kwargs)


def results(report: dict[str, Any]) -> list[tuple[str, str | None, str, str]]:
    return [
        (r["SubjectId"], r.get("QuestionId"), r["Key"], r["Value"]) for r in report["ReviewResults"]
    ]


def actions(report: dict[str, Any]) -> list[tuple[str, str, str, str | None]]:
    return [
        (a["ActionName"], a["TargetId"], a["Status"], a.get("ErrorCode"))
        for a in report["ReviewActions"]
    ]


def status_of(client, assignment_id: str) -> dict[str, Any]:
    return client.get_assignment(AssignmentId=assignment_id)["Assignment"]


def turk_error(call, **kwargs: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    response = caught.value.response
    code = response.get("TurkErrorCode", response["Error"].get("TurkErrorCode"))
    return code, response["Error"]["Message"]


# ---- ScoreMyKnownAnswers/2011-09-01 -----------------------------------------------------------


def test_known_answers_approve_with_the_policys_feedback_and_pay_once(mturk_local):
    client = mturk_local.client
    before = client.get_account_balance()["AvailableBalance"]
    hit_id = new_hit(
        client,
        AssignmentReviewPolicy=policy(
            KNOWN,
            AnswerKey={"q1": "cat", "q2": "dog"},
            ApproveIfKnownAnswerScoreIsAtLeast=100,
            ApproveReason="All known answers right",
        ),
    )
    # Whitespace around an answer does not count, as on MTurk.
    assignment_id = complete(mturk_local.url, hit_id, "AKNOWN1", [("q1", "  cat "), ("q2", "dog")])

    assignment = status_of(client, assignment_id)
    assert assignment["AssignmentStatus"] == "Approved"
    assert assignment["RequesterFeedback"] == "All known answers right"
    assert client.get_account_balance()["AvailableBalance"] == f"{float(before) - 0.60:.2f}"
    report = listing(client, hit_id)
    assert report["HITId"] == hit_id
    assert report["AssignmentReviewPolicy"] == {"PolicyName": KNOWN}
    assert "HITReviewPolicy" not in report
    assert results(report["AssignmentReviewReport"]) == [
        (assignment_id, "q1", "KnownAnswerCorrect", "1"),
        (assignment_id, "q2", "KnownAnswerCorrect", "1"),
        (assignment_id, None, "KnownAnswerScore", "100"),
    ]
    [action] = report["AssignmentReviewReport"]["ReviewActions"]
    assert action["ActionName"] == "Approve" and action["Status"] == "Succeeded"
    assert action["TargetType"] == "Assignment" and action["TargetId"] == assignment_id
    assert action["Result"] == "Approved" and action["CompleteTime"]
    assert {r["SubjectType"] for r in report["AssignmentReviewReport"]["ReviewResults"]} == {
        "Assignment"
    }
    assert report["HITReviewReport"] == {"ReviewResults": [], "ReviewActions": []}
    # Approving by hand after the policy did: refused, and paid once.
    code, _ = turk_error(client.approve_assignment, AssignmentId=assignment_id)
    assert code == "AWS.MechanicalTurk.InvalidAssignmentState"


def test_known_answers_reject_and_extend_up_to_the_policys_maximum(mturk_local):
    client = mturk_local.client
    hit_id = new_hit(
        client,
        lifetime=600,
        AssignmentReviewPolicy=policy(
            KNOWN,
            AnswerKey={"q1": "cat", "q2": "dog"},
            ApproveIfKnownAnswerScoreIsAtLeast=100,
            RejectIfKnownAnswerScoreIsLessThan=51,
            RejectReason="Known answers wrong",
            ExtendIfKnownAnswerScoreIsLessThan=100,
            ExtendMaximumAssignments=2,
            ExtendMinimumTimeInSeconds=7200,
        ),
    )
    start = time.time()
    # "Cat" is not "cat": answers are compared exactly, as on MTurk.
    first = complete(mturk_local.url, hit_id, "AKNOWN2", [("q1", "Cat"), ("q2", "dog")])
    assert status_of(client, first)["AssignmentStatus"] == "Rejected"
    assert status_of(client, first)["RequesterFeedback"] == "Known answers wrong"
    hit = client.get_hit(HITId=hit_id)["HIT"]
    assert hit["MaxAssignments"] == 2 and hit["HITStatus"] == "Assignable"
    assert hit["Expiration"].timestamp() >= start + 7200 - 5

    second = complete(mturk_local.url, hit_id, "AKNOWN3", [("q1", "cow"), ("q2", "cow")])
    assert status_of(client, second)["AssignmentStatus"] == "Rejected"
    hit = client.get_hit(HITId=hit_id)["HIT"]
    assert hit["MaxAssignments"] == 2 and hit["HITStatus"] == "Reviewable"

    report = listing(client, hit_id)["AssignmentReviewReport"]
    assert (first, None, "KnownAnswerScore", "50") in results(report)
    assert (second, None, "KnownAnswerScore", "0") in results(report)
    assert actions(report) == [
        ("Reject", first, "Succeeded", None),
        ("Extend", hit_id, "Succeeded", None),
        ("Reject", second, "Succeeded", None),
        ("Extend", hit_id, "Succeeded", None),  # at its maximum: nothing to do, as on MTurk
    ]
    assert report["ReviewActions"][1]["Result"] == "Extended to 2 assignments"
    assert report["ReviewActions"][3]["Result"].startswith("Not extended")


def test_a_checkbox_group_is_compared_as_a_set_of_values(mturk_local):
    client = mturk_local.client
    hit_id = new_hit(
        client,
        AssignmentReviewPolicy=policy(
            KNOWN, AnswerKey={"q1": ["red", "blue"]}, ApproveIfKnownAnswerScoreIsAtLeast=100
        ),
    )
    # Two checked boxes of one name: MTurk records them as one FreeText, "blue|red".
    assignment_id = complete(mturk_local.url, hit_id, "AKNOWN4", [("q1", "blue"), ("q1", "red")])
    assert status_of(client, assignment_id)["AssignmentStatus"] == "Approved"


def test_an_action_mturk_refuses_is_a_failed_action_and_the_submit_still_counts(mturk_local):
    poor = client_for(mturk_local.url, new_requester(mturk_local.app, "poor", "0.00"))
    hit_id = new_hit(
        poor,
        AssignmentReviewPolicy=policy(
            KNOWN, AnswerKey={"q1": "cat"}, ApproveIfKnownAnswerScoreIsAtLeast=0
        ),
    )
    assignment_id = complete(mturk_local.url, hit_id, "AKNOWN5", [("q1", "cat")])

    assert status_of(poor, assignment_id)["AssignmentStatus"] == "Submitted"
    assert poor.get_account_balance()["AvailableBalance"] == "0.00"
    [action] = listing(poor, hit_id)["AssignmentReviewReport"]["ReviewActions"]
    assert (action["ActionName"], action["Status"]) == ("Approve", "Failed")
    assert action["ErrorCode"] == "AWS.MechanicalTurk.InsufficientFunds"


def test_a_policy_that_breaks_is_a_failed_action_never_a_failed_submit(mturk_local, monkeypatch):
    def broken(*args: Any) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(review, "review_assignment", broken)
    client = mturk_local.client
    hit_id = new_hit(
        client,
        AssignmentReviewPolicy=policy(
            KNOWN, AnswerKey={"q1": "cat"}, ApproveIfKnownAnswerScoreIsAtLeast=0
        ),
    )
    assignment_id = complete(mturk_local.url, hit_id, "AKNOWN6", [("q1", "cat")])

    assert status_of(client, assignment_id)["AssignmentStatus"] == "Submitted"
    report = listing(client, hit_id)["AssignmentReviewReport"]
    assert report["ReviewResults"] == []
    assert actions(report) == [("Review", assignment_id, "Failed", "ServiceFault")]


# ---- SimplePlurality/2011-09-01 ---------------------------------------------------------------


def test_plurality_approves_the_agreeing_and_rejects_the_disagreeing(mturk_local):
    client = mturk_local.client
    hit_id = new_hit(
        client,
        max_assignments=3,
        HITReviewPolicy=policy(
            PLURALITY,
            QuestionIds="q1,q2",
            QuestionAgreementThreshold=60,
            ApproveIfWorkerAgreementScoreIsAtLeast=100,
            RejectIfWorkerAgreementScoreIsLessThan=50,
            RejectReason="You disagreed with the others",
        ),
    )
    first = complete(mturk_local.url, hit_id, "APLUR1", [("q1", "cat"), ("q2", "red")])
    second = complete(mturk_local.url, hit_id, "APLUR2", [("q1", "cat"), ("q2", "red")])
    assert listing(client, hit_id)["HITReviewReport"]["ReviewResults"] == []  # not reviewable
    third = complete(mturk_local.url, hit_id, "APLUR3", [("q1", "dog"), ("q2", "blue")])

    assert status_of(client, first)["AssignmentStatus"] == "Approved"
    assert status_of(client, second)["AssignmentStatus"] == "Approved"
    rejected = status_of(client, third)
    assert rejected["AssignmentStatus"] == "Rejected"
    assert rejected["RequesterFeedback"] == "You disagreed with the others"
    report = listing(client, hit_id)
    assert report["HITReviewPolicy"] == {"PolicyName": PLURALITY}
    found = results(report["HITReviewReport"])
    assert (hit_id, "q1", "AgreedAnswer", "cat") in found
    assert (hit_id, "q1", "AnswerAgreementScore", "66") in found
    assert (hit_id, "q2", "PluralityAnswer", "red") in found
    assert (hit_id, "q2", "AgreedAnswerFound", "true") in found
    assert (hit_id, None, "HitAgreementScore", "100") in found
    assert (first, None, "WorkerAgreementScore", "100") in found
    assert (third, None, "WorkerAgreementScore", "0") in found
    assert (third, "q1", "AgreedWithPlurality", "0") in found
    assert (third, None, "PluralityAnswersIncorrect", "2") in found
    assert actions(report["HITReviewReport"]) == [
        ("Approve", first, "Succeeded", None),
        ("Approve", second, "Succeeded", None),
        ("Reject", third, "Succeeded", None),
    ]
    # The results of one evaluation share an ActionId.
    assert len({r["ActionId"] for r in report["HITReviewReport"]["ReviewResults"]}) == 1
    assert client.get_hit(HITId=hit_id)["HIT"]["HITStatus"] == "Reviewable"


def test_plurality_rejects_only_below_its_threshold_and_approves_only_if_asked(mturk_local):
    client = mturk_local.client
    hit_id = new_hit(
        client,
        max_assignments=3,
        HITReviewPolicy=policy(
            PLURALITY,
            QuestionIds=["q1", "q2"],
            QuestionAgreementThreshold=60,
            RejectIfWorkerAgreementScoreIsLessThan=50,
            RejectReason="You disagreed with the others",
        ),
    )
    ids = [
        complete(mturk_local.url, hit_id, worker, answers)
        for worker, answers in [
            ("APLUR4", [("q1", "cat"), ("q2", "red")]),
            ("APLUR5", [("q1", "cat"), ("q2", "red")]),
            ("APLUR6", [("q1", "dog"), ("q2", "red")]),  # agrees on one of two: 50
        ]
    ]
    # 50 is not less than 50; and with no approval threshold nobody is approved: all stay
    # Submitted, for the requester to decide.
    statuses = [status_of(client, assignment_id)["AssignmentStatus"] for assignment_id in ids]
    assert statuses == ["Submitted", "Submitted", "Submitted"]
    report = listing(client, hit_id)["HITReviewReport"]
    assert (ids[2], None, "WorkerAgreementScore", "50") in results(report)
    assert report["ReviewActions"] == []


def test_plurality_extends_a_hit_without_agreement_until_its_maximum(mturk_local):
    client = mturk_local.client
    hit_id = new_hit(
        client,
        max_assignments=2,
        HITReviewPolicy=policy(
            PLURALITY,
            QuestionIDs="q1",  # AWS's docs spell it both ways
            QuestionAgreementThreshold=60,
            ExtendIfHITAgreementScoreIsLessThan=100,
            ExtendMaximumAssignments=3,
            ExtendMinimumTimeInSeconds=3600,
        ),
    )
    complete(mturk_local.url, hit_id, "APLUR7", [("q1", "cat")])
    complete(mturk_local.url, hit_id, "APLUR8", [("q1", "dog")])  # a tie: nothing agreed
    hit = client.get_hit(HITId=hit_id)["HIT"]
    assert (hit["MaxAssignments"], hit["HITStatus"]) == (3, "Assignable")
    report = listing(client, hit_id)["HITReviewReport"]
    assert (hit_id, "q1", "AgreedAnswerFound", "false") in results(report)
    assert (hit_id, None, "HitAgreementScore", "0") in results(report)
    assert actions(report) == [("Extend", hit_id, "Succeeded", None)]

    complete(mturk_local.url, hit_id, "APLUR9", [("q1", "cat")])  # reviewable again: rerun
    hit = client.get_hit(HITId=hit_id)["HIT"]
    assert (hit["MaxAssignments"], hit["HITStatus"]) == (3, "Reviewable")
    report = listing(client, hit_id)["HITReviewReport"]
    assert (hit_id, "q1", "AgreedAnswer", "cat") in results(report)
    assert (hit_id, None, "HitAgreementScore", "100") in results(report)
    assert len(report["ReviewActions"]) == 1


def test_both_levels_together_plurality_leaves_out_low_known_answer_scores(mturk_local):
    client = mturk_local.client
    hit_id = new_hit(
        client,
        max_assignments=3,
        AssignmentReviewPolicy=policy(
            KNOWN,
            AnswerKey={"q0": "7"},
            RejectIfKnownAnswerScoreIsLessThan=100,
            RejectReason="Check question wrong",
        ),
        HITReviewPolicy=policy(
            PLURALITY,
            QuestionIds="q1",
            QuestionAgreementThreshold=100,
            DisregardAssignmentIfKnownAnswerScoreIsLessThan=100,
            DisregardAssignmentIfRejected="T",
            ApproveIfWorkerAgreementScoreIsAtLeast=100,
        ),
    )
    good = [
        complete(mturk_local.url, hit_id, worker, [("q0", "7"), ("q1", "cat")])
        for worker in ("APLUR10", "APLUR11")
    ]
    bad = complete(mturk_local.url, hit_id, "APLUR12", [("q0", "8"), ("q1", "dog")])

    assert [status_of(client, a)["AssignmentStatus"] for a in [*good, bad]] == [
        "Approved",
        "Approved",
        "Rejected",
    ]
    hit_level = results(listing(client, hit_id)["HITReviewReport"])
    assert (hit_id, "q1", "AnswerAgreementScore", "100") in hit_level
    assert not [row for row in hit_level if row[0] == bad]
    assert listing(client, hit_id, PolicyLevels=["HIT"]).keys() >= {"HITReviewPolicy"}


# ---- ListReviewPolicyResultsForHIT ---------------------------------------------------------


@pytest.fixture
def reviewed(mturk_local) -> str:
    """A HIT both levels of policies reviewed: two workers, two questions."""
    client = mturk_local.client
    hit_id = new_hit(
        client,
        max_assignments=2,
        AssignmentReviewPolicy=policy(
            KNOWN, AnswerKey={"q0": "7"}, ApproveIfKnownAnswerScoreIsAtLeast=100
        ),
        HITReviewPolicy=policy(PLURALITY, QuestionIds="q1,q2", QuestionAgreementThreshold=50),
    )
    for worker in ("ALIST1", "ALIST2"):
        complete(mturk_local.url, hit_id, worker, [("q0", "7"), ("q1", "a"), ("q2", "b")])
    return hit_id


def test_policy_levels_and_retrieve_flags_filter_the_answer(mturk_local, reviewed):
    client = mturk_local.client
    both = listing(client, reviewed)
    assert both["AssignmentReviewReport"]["ReviewResults"]
    assert both["HITReviewReport"]["ReviewResults"]

    only_assignments = listing(client, reviewed, PolicyLevels=["Assignment"])
    assert "HITReviewReport" not in only_assignments and "HITReviewPolicy" not in only_assignments
    assert only_assignments["AssignmentReviewReport"] == both["AssignmentReviewReport"]

    no_actions = listing(client, reviewed, RetrieveActions=False)
    assert "ReviewActions" not in no_actions["AssignmentReviewReport"]
    assert (
        no_actions["HITReviewReport"]["ReviewResults"] == both["HITReviewReport"]["ReviewResults"]
    )

    no_results = listing(client, reviewed, RetrieveResults=False, PolicyLevels=["HIT"])
    assert no_results["HITReviewReport"] == {"ReviewActions": []}


def test_results_come_in_pages_each_with_a_token_until_an_empty_one(mturk_local, reviewed):
    client = mturk_local.client
    whole = listing(client, reviewed)
    seen: dict[str, list] = {"results": [], "actions": []}
    token, pages = None, 0
    while True:
        extra = {"NextToken": token} if token else {}
        page = client.list_review_policy_results_for_hit(HITId=reviewed, MaxResults=3, **extra)
        rows = [
            (report, kind)
            for report in ("AssignmentReviewReport", "HITReviewReport")
            for kind in ("ReviewResults", "ReviewActions")
            for _ in page[report][kind]
        ]
        if not rows:
            assert "NextToken" not in page
            break
        assert (
            len(page["AssignmentReviewReport"]["ReviewResults"])
            + len(page["HITReviewReport"]["ReviewResults"])
            <= 3
        )
        for report in ("AssignmentReviewReport", "HITReviewReport"):
            seen["results"] += page[report]["ReviewResults"]
            seen["actions"] += page[report]["ReviewActions"]
        token, pages = page["NextToken"], pages + 1
    assert pages > 2
    everything = [
        *whole["AssignmentReviewReport"]["ReviewResults"],
        *whole["HITReviewReport"]["ReviewResults"],
    ]
    assert sorted(map(str, seen["results"])) == sorted(map(str, everything))
    assert len(seen["actions"]) == 2  # the two approvals

    # A token names its listing: another HIT's, another filter's, or garbage is refused.
    first = client.list_review_policy_results_for_hit(HITId=reviewed, MaxResults=1)
    other = new_hit(client)
    for call in (
        {"HITId": other, "NextToken": first["NextToken"]},
        {"HITId": reviewed, "NextToken": first["NextToken"], "PolicyLevels": ["HIT"]},
        {"HITId": reviewed, "NextToken": "not-a-token"},
    ):
        code, _ = turk_error(client.list_review_policy_results_for_hit, **call)
        assert code == "AWS.ParameterOutOfRange"


def test_another_requesters_hit_answers_as_a_missing_one(mturk_local, reviewed):
    other = client_for(mturk_local.url, new_requester(mturk_local.app, "other"))
    code, _ = turk_error(other.list_review_policy_results_for_hit, HITId=reviewed)
    assert code == "AWS.MechanicalTurk.HITDoesNotExist"


def test_a_hit_without_policies_has_empty_reports(mturk_local):
    client = mturk_local.client
    hit_id = new_hit(client)
    report = listing(client, hit_id)
    assert "AssignmentReviewPolicy" not in report and "NextToken" not in report
    assert report["AssignmentReviewReport"] == {"ReviewResults": [], "ReviewActions": []}


# ---- CreateHIT refuses what MTurk refuses -----------------------------------------------------


INVALID = "AWS.MechanicalTurk.InvalidParameterValue"
MISSING = "AWS.MissingParameters"


@pytest.mark.parametrize(
    ("slot", "given", "code", "words"),
    [
        ("AssignmentReviewPolicy", policy("ScoreMyKnownAnswers/2020", AnswerKey={"q": "a"}),
         INVALID, "PolicyName"),
        ("AssignmentReviewPolicy", policy(PLURALITY, QuestionIds="q"), INVALID, "PolicyName"),
        ("HITReviewPolicy", policy(KNOWN, AnswerKey={"q": "a"}), INVALID, "PolicyName"),
        ("AssignmentReviewPolicy", policy(KNOWN, AnswerKey={"q": "a"}, Bogus=1), INVALID,
         "Bogus"),
        ("AssignmentReviewPolicy", policy(KNOWN, ApproveIfKnownAnswerScoreIsAtLeast=90),
         MISSING, "AnswerKey"),
        ("AssignmentReviewPolicy",
         policy(KNOWN, AnswerKey={"q": "a"}, ApproveIfKnownAnswerScoreIsAtLeast=102), INVALID,
         "ApproveIfKnownAnswerScoreIsAtLeast"),
        ("AssignmentReviewPolicy",
         policy(KNOWN, AnswerKey={"q": "a"}, ExtendMaximumAssignments=26), INVALID,
         "ExtendMaximumAssignments"),
        ("AssignmentReviewPolicy",
         policy(KNOWN, AnswerKey={"q": "a"}, ExtendMinimumTimeInSeconds=60), INVALID,
         "ExtendMinimumTimeInSeconds"),
        ("AssignmentReviewPolicy", policy(KNOWN, AnswerKey="a"), INVALID, "MapEntries"),
        ("HITReviewPolicy", policy(PLURALITY, QuestionAgreementThreshold=50), MISSING,
         "QuestionIds"),
        ("HITReviewPolicy", policy(PLURALITY, QuestionIds="q1"), MISSING,
         "QuestionAgreementThreshold"),
        ("HITReviewPolicy",
         policy(PLURALITY, QuestionIds="q1", QuestionAgreementThreshold="most"), INVALID,
         "QuestionAgreementThreshold"),
        ("HITReviewPolicy",
         policy(PLURALITY, QuestionIds=",".join(f"q{i}" for i in range(16)),
                QuestionAgreementThreshold=50), INVALID, "15"),
        ("HITReviewPolicy",
         policy(PLURALITY, QuestionIds="q1", QuestionAgreementThreshold=50,
                ExtendIfHITAgreementScoreIsLessThan=50), MISSING, "ExtendMaximumAssignments"),
        ("HITReviewPolicy",
         policy(PLURALITY, QuestionIds="q1", QuestionAgreementThreshold=50,
                DisregardAssignmentIfRejected="maybe"), INVALID, "T or F"),
    ],
)  # fmt: skip
def test_create_hit_refuses_policies_mturk_refuses(mturk_local, slot, given, code, words):
    client = mturk_local.client
    found, message = turk_error(
        client.create_hit,
        Title="Label the picture",
        Description="Say what it shows",
        Reward="0.50",
        AssignmentDurationInSeconds=600,
        LifetimeInSeconds=3600,
        Question=html_question(FORM),
        **{slot: given},
    )
    assert (found, words in message) == (code, True), message
    assert client.list_hits()["HITs"] == []


def test_plurality_reads_the_known_answer_scores_in_one_query(mturk_local):
    """DisregardAssignmentIfKnownAnswerScoreIsLessThan: the scores of all the HIT's
    assignments are read at once, not once per assignment (revB)."""
    from sqlalchemy import event

    from mturk.service import local_store

    client = mturk_local.client
    hit_id = new_hit(
        client,
        max_assignments=4,
        AssignmentReviewPolicy=policy(KNOWN, AnswerKey={"q0": "7"}),
        HITReviewPolicy=policy(
            PLURALITY,
            QuestionIds="q1",
            QuestionAgreementThreshold=50,
            DisregardAssignmentIfKnownAnswerScoreIsLessThan=100,
        ),
    )
    for n, known in enumerate(["7", "7", "8"]):
        complete(mturk_local.url, hit_id, f"ASCORE{n}", [("q0", known), ("q1", "cat")])
    reads: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().startswith("SELECT") and "FROM review_results" in statement:
            reads.append(statement)

    engine = local_store(mturk_local.app).engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        complete(mturk_local.url, hit_id, "ASCORE3", [("q0", "7"), ("q1", "dog")])
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(reads) == 1, reads
    hit_level = results(listing(client, hit_id)["HITReviewReport"])
    assert (hit_id, "q1", "AnswerAgreementScore", "66") in hit_level  # 2 of the 3 counted
