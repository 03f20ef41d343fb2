"""Qualification types and workers' scores through real boto3, MTurk's system types, and the
enforcement of a HIT's QualificationRequirements on the worker site and at externalSubmit."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.exceptions import ClientError
from sqlalchemy import select

from mturk.questions import html_question
from mturk.service import local_store
from mturk.service.qualifications import (
    LOCALE,
    MASTERS,
    NUMBER_APPROVED,
    PERCENT_APPROVED,
    Score,
    guards,
    meets,
    set_profile_value,
)
from mturk.service.store import Assignment, WorkerMessage
from tests.helpers.requesters import client_for, new_requester
from tests.worker_site import Worker

FORM = '<form method="post" action="/mturk/externalSubmit"><input name="answer"></form>'
# Mephisto's QUALIFICATION_TYPE_EXISTS_MESSAGE, which it looks for in AWS's error message.
MEPHISTO_EXISTS = "You have already created a QualificationType with this name."
MISSING = "3ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ"


def turk_code(error: ClientError) -> str:
    response = error.response
    return response.get("TurkErrorCode", response["Error"].get("TurkErrorCode"))


def turk_error(call, *args, **kwargs) -> tuple[str, str]:
    """(TurkErrorCode, message) of a call MTurk refuses."""
    with pytest.raises(ClientError) as caught:
        call(*args, **kwargs)
    return turk_code(caught.value), caught.value.response["Error"]["Message"]


def new_type(client, name: str = "Knows receipts", **kwargs) -> str:
    return client.create_qualification_type(
        Name=name,
        Description="Passed our receipt screening",
        QualificationTypeStatus="Active",
        **kwargs,
    )["QualificationType"]["QualificationTypeId"]


def guarded_hit(client, requirements: list[dict]) -> str:
    return client.create_hit(
        Title="Transcribe a receipt",
        Description="Type the total",
        Reward="0.50",
        AssignmentDurationInSeconds=600,
        LifetimeInSeconds=3600,
        MaxAssignments=3,
        Question=html_question(FORM),
        QualificationRequirements=requirements,
    )["HIT"]["HITId"]


def try_accept(worker: Worker, hit_id: str) -> tuple[int, str]:
    status, _, page = worker.request(f"/worker/hits/{hit_id}/accept", [])
    return status, page


# ---- comparators (pure) -----------------------------------------------------------------


def req(comparator: str, *integers: int, locales: list[dict] | None = None) -> dict:
    body: dict = {"QualificationTypeId": "X", "Comparator": comparator}
    if integers:
        body["IntegerValues"] = list(integers)
    if locales:
        body["LocaleValues"] = locales
    return body


@pytest.mark.parametrize(
    ("requirement", "score", "expected"),
    [
        (req("LessThan", 5), Score(4), True),
        (req("LessThan", 5), Score(5), False),
        (req("LessThanOrEqualTo", 5), Score(5), True),
        (req("LessThanOrEqualTo", 5), Score(6), False),
        (req("GreaterThan", 5), Score(6), True),
        (req("GreaterThan", 5), Score(5), False),
        (req("GreaterThanOrEqualTo", 95), Score(95), True),
        (req("GreaterThanOrEqualTo", 95), Score(94), False),
        (req("EqualTo", 1), Score(1), True),
        (req("EqualTo", 1), Score(2), False),
        (req("NotEqualTo", 1), Score(2), True),
        (req("NotEqualTo", 1), Score(1), False),
        (req("In", 1, 3), Score(3), True),
        (req("In", 1, 3), Score(2), False),
        (req("NotIn", 1, 3), Score(2), True),
        (req("NotIn", 1, 3), Score(1), False),
        (req("Exists"), Score(0), True),
        (req("Exists"), None, False),
        (req("DoesNotExist"), None, True),
        (req("DoesNotExist"), Score(0), False),
        # Without the qualification only DoesNotExist is met.
        (req("NotEqualTo", 1), None, False),
        (req("NotIn", 1), None, False),
        (req("LessThan", 5), None, False),
        (req("EqualTo", locales=[{"Country": "US"}]), Score(country="US"), True),
        (req("EqualTo", locales=[{"Country": "US"}]), Score(country="GB"), False),
        (
            req("In", locales=[{"Country": "US", "Subdivision": "WA"}, {"Country": "CA"}]),
            Score(country="US", subdivision="WA"),
            True,
        ),
        (
            req("In", locales=[{"Country": "US", "Subdivision": "WA"}]),
            Score(country="US", subdivision="NY"),
            False,
        ),
        (req("NotIn", locales=[{"Country": "US"}]), Score(country="GB"), True),
        (req("NotIn", locales=[{"Country": "US"}]), Score(country="US"), False),
        (req("NotEqualTo", locales=[{"Country": "US"}]), None, False),
        (req("EqualTo", locales=[{"Country": "US"}]), Score(1), False),
        (req("GreaterThan", 1), Score(country="US"), False),
    ],
)
def test_each_comparator_over_integers_and_locales(requirement, score, expected):
    assert meets(requirement, score) is expected


def test_actions_guarded_nest_and_default_to_accept():
    accept_only = {"Comparator": "Exists"}
    assert guards(accept_only, "Accept") and not guards(accept_only, "PreviewAndAccept")
    preview = {"ActionsGuarded": "PreviewAndAccept"}
    assert guards(preview, "Accept") and guards(preview, "PreviewAndAccept")
    assert not guards(preview, "DiscoverPreviewAndAccept")
    assert guards({"RequiredToPreview": True}, "PreviewAndAccept")
    discover = {"ActionsGuarded": "DiscoverPreviewAndAccept"}
    assert all(guards(discover, a) for a in ("Accept", "PreviewAndAccept"))


# ---- operations through boto3 -----------------------------------------------------------


def test_a_qualification_type_is_created_read_updated_listed_and_deleted(mturk_local):
    client = mturk_local.client
    created = client.create_qualification_type(
        Name="Knows receipts",
        Description="Passed our receipt screening",
        Keywords="receipts, screening",
        QualificationTypeStatus="Active",
        AutoGranted=True,
        AutoGrantedValue=7,
    )["QualificationType"]
    type_id = created["QualificationTypeId"]
    assert len(type_id) == 30 and type_id.isalnum() and type_id.isupper()
    assert created["Name"] == "Knows receipts"
    assert created["Keywords"] == "receipts, screening"
    assert (created["QualificationTypeStatus"], created["IsRequestable"]) == ("Active", True)
    assert (created["AutoGranted"], created["AutoGrantedValue"]) == (True, 7)

    got = client.get_qualification_type(QualificationTypeId=type_id)["QualificationType"]
    assert got["Description"] == "Passed our receipt screening"
    updated = client.update_qualification_type(
        QualificationTypeId=type_id,
        Description="Screened again",
        QualificationTypeStatus="Inactive",
        AutoGranted=False,
    )["QualificationType"]
    assert updated["Description"] == "Screened again"
    assert updated["QualificationTypeStatus"] == "Inactive"
    assert updated["AutoGranted"] is False and "AutoGrantedValue" not in updated

    other = new_type(client, "Speaks Welsh")
    mine = client.list_qualification_types(MustBeRequestable=True, MustBeOwnedByCaller=True)
    assert [t["QualificationTypeId"] for t in mine["QualificationTypes"]] == [type_id, other]
    found = client.list_qualification_types(MustBeRequestable=False, Query="welsh")
    assert [t["QualificationTypeId"] for t in found["QualificationTypes"]] == [other]

    client.delete_qualification_type(QualificationTypeId=type_id)
    code, _ = turk_error(client.get_qualification_type, QualificationTypeId=type_id)
    assert code == "AWS.MechanicalTurk.QualificationTypeDoesNotExist"


def test_a_second_type_of_the_same_name_is_refused_with_awss_message(mturk_local):
    """Mephisto and Dallinger find-or-create: they create, and on this message list by name."""
    client = mturk_local.client
    type_id = new_type(client)
    code, message = turk_error(
        client.create_qualification_type,
        Name="Knows receipts",
        Description="again",
        QualificationTypeStatus="Active",
    )
    assert code == "AWS.MechanicalTurk.QualificationTypeAlreadyExists"
    assert MEPHISTO_EXISTS in message
    # Dallinger looks for its own part of the message in str() of boto3's exception.
    with pytest.raises(ClientError) as caught:
        client.create_qualification_type(
            Name="Knows receipts", Description="again", QualificationTypeStatus="Active"
        )
    assert "already created a QualificationType with this name" in str(caught.value)
    assert "must be unique among all of the QualificationTypes created by the same user" in message
    found = client.list_qualification_types(
        Query="Knows receipts", MustBeRequestable=True, MustBeOwnedByCaller=True
    )["QualificationTypes"]
    assert [t["QualificationTypeId"] for t in found if t["Name"] == "Knows receipts"] == [type_id]


def test_scores_are_granted_read_listed_and_revoked(mturk_local):
    client = mturk_local.client
    type_id = new_type(client)
    client.associate_qualification_with_worker(
        QualificationTypeId=type_id, WorkerId="AWORKER1", IntegerValue=80, SendNotification=True
    )
    client.associate_qualification_with_worker(
        QualificationTypeId=type_id, WorkerId="AWORKER2", SendNotification=False
    )
    with local_store(mturk_local.app).transaction() as session:
        told = session.execute(select(WorkerMessage.worker_id, WorkerMessage.subject)).all()
        assert [tuple(row) for row in told] == [
            ("AWORKER1", "Qualification granted: Knows receipts")
        ]
    score = client.get_qualification_score(QualificationTypeId=type_id, WorkerId="AWORKER1")
    qualification = score["Qualification"]
    assert (qualification["IntegerValue"], qualification["Status"]) == (80, "Granted")
    assert qualification["WorkerId"] == "AWORKER1" and "GrantTime" in qualification
    listed = client.list_workers_with_qualification_type(QualificationTypeId=type_id)
    assert [(q["WorkerId"], q["IntegerValue"]) for q in listed["Qualifications"]] == [
        ("AWORKER1", 80),
        ("AWORKER2", 1),
    ]

    client.disassociate_qualification_from_worker(
        QualificationTypeId=type_id, WorkerId="AWORKER1", Reason="Left the panel"
    )
    revoked = client.get_qualification_score(QualificationTypeId=type_id, WorkerId="AWORKER1")
    assert revoked["Qualification"]["Status"] == "Revoked"
    still = client.list_workers_with_qualification_type(QualificationTypeId=type_id)
    assert [q["WorkerId"] for q in still["Qualifications"]] == ["AWORKER2"]
    code, _ = turk_error(
        client.disassociate_qualification_from_worker,
        QualificationTypeId=type_id,
        WorkerId="AWORKER1",
    )
    assert code == "AWS.MechanicalTurk.QualificationDoesNotExist"
    code, _ = turk_error(
        client.get_qualification_score, QualificationTypeId=type_id, WorkerId="ANOBODY1"
    )
    assert code == "AWS.MechanicalTurk.QualificationDoesNotExist"


def test_list_pages_carry_a_next_token_until_an_empty_page(mturk_local):
    client = mturk_local.client
    type_id = new_type(client)
    for n in range(3):
        client.associate_qualification_with_worker(
            QualificationTypeId=type_id, WorkerId=f"AWORKER{n}"
        )
    first = client.list_workers_with_qualification_type(QualificationTypeId=type_id, MaxResults=2)
    second = client.list_workers_with_qualification_type(
        QualificationTypeId=type_id, MaxResults=2, NextToken=first["NextToken"]
    )
    assert [q["WorkerId"] for q in first["Qualifications"] + second["Qualifications"]] == [
        "AWORKER0",
        "AWORKER1",
        "AWORKER2",
    ]
    last = client.list_workers_with_qualification_type(
        QualificationTypeId=type_id, MaxResults=2, NextToken=second["NextToken"]
    )
    assert last["Qualifications"] == [] and "NextToken" not in last


def test_another_requesters_type_answers_as_a_missing_one(mturk_local):
    client = mturk_local.client
    type_id = new_type(client)
    other = client_for(mturk_local.url, new_requester(mturk_local.app, "other lab"))
    # The same name is free for another requester.
    theirs = new_type(other)
    assert theirs != type_id
    calls = [
        (other.get_qualification_type, {}),
        (other.update_qualification_type, {"Description": "mine now"}),
        (other.delete_qualification_type, {}),
        (other.associate_qualification_with_worker, {"WorkerId": "AWORKER1"}),
        (other.disassociate_qualification_from_worker, {"WorkerId": "AWORKER1"}),
        (other.get_qualification_score, {"WorkerId": "AWORKER1"}),
        (other.list_workers_with_qualification_type, {}),
    ]
    for call, kwargs in calls:
        for candidate in (type_id, MISSING):
            code, message = turk_error(call, QualificationTypeId=candidate, **kwargs)
            assert code == "AWS.MechanicalTurk.QualificationTypeDoesNotExist", call
            # As AWS does, the service appends a timestamp to the message.
            assert message.startswith(f"QualificationType {candidate} does not exist. (")
    listed = other.list_qualification_types(MustBeRequestable=False)["QualificationTypes"]
    assert type_id not in {t["QualificationTypeId"] for t in listed}
    code, _ = turk_error(
        other.create_hit_type,
        Title="t",
        Description="d",
        Reward="0.10",
        AssignmentDurationInSeconds=60,
        QualificationRequirements=[
            {"QualificationTypeId": type_id, "Comparator": "Exists", "ActionsGuarded": "Accept"}
        ],
    )
    assert code == "AWS.MechanicalTurk.QualificationTypeDoesNotExist"
    assert client.get_qualification_type(QualificationTypeId=type_id)["QualificationType"]


def test_system_types_keep_their_ids_and_are_listed_unless_owned_by_caller(mturk_local):
    client = mturk_local.client
    listed = client.list_qualification_types(MustBeRequestable=False, MaxResults=100)
    ids = {t["QualificationTypeId"] for t in listed["QualificationTypes"]}
    assert {PERCENT_APPROVED, NUMBER_APPROVED, LOCALE, "00000000000000000060", MASTERS} <= ids
    assert "2F1KVCNHMVHV8E9PBUB2A4J79LU20F" in ids
    masters = client.get_qualification_type(QualificationTypeId=MASTERS)["QualificationType"]
    assert (masters["Name"], masters["IsRequestable"]) == ("Masters", False)
    owned = client.list_qualification_types(MustBeRequestable=False, MustBeOwnedByCaller=True)
    assert owned["QualificationTypes"] == []
    requestable = client.list_qualification_types(MustBeRequestable=True)
    assert requestable["QualificationTypes"] == []


def test_requirements_need_the_values_their_comparator_takes(mturk_local):
    for requirement in (
        {"QualificationTypeId": PERCENT_APPROVED, "Comparator": "GreaterThan"},
        {"QualificationTypeId": LOCALE, "Comparator": "Exists", "IntegerValues": [1]},
        {"QualificationTypeId": PERCENT_APPROVED, "Comparator": "EqualTo", "IntegerValues": [1, 2]},
    ):
        code, _ = turk_error(guarded_hit, mturk_local.client, [requirement])
        assert code == "AWS.MechanicalTurk.InvalidParameterValue", requirement


# ---- enforcement on the worker site -----------------------------------------------------


def test_an_unqualified_worker_is_refused_and_a_granted_one_accepts(mturk_local):
    client = mturk_local.client
    type_id = new_type(client)
    hit_id = guarded_hit(
        client,
        [
            {
                "QualificationTypeId": type_id,
                "Comparator": "GreaterThanOrEqualTo",
                "IntegerValues": [50],
                "ActionsGuarded": "Accept",
            }
        ],
    )
    worker = Worker(mturk_local.url, "AWORKER1")
    worker.sign_in()
    status, page = try_accept(worker, hit_id)
    assert status == 409
    assert "qualification requirements" in page and "Knows receipts" in page
    client.associate_qualification_with_worker(
        QualificationTypeId=type_id, WorkerId="AWORKER1", IntegerValue=49
    )
    assert try_accept(worker, hit_id)[0] == 409  # a score below the bar
    client.associate_qualification_with_worker(
        QualificationTypeId=type_id, WorkerId="AWORKER1", IntegerValue=50
    )
    assignment_id = worker.accept(hit_id)
    assert worker.submit(assignment_id, [("answer", "12.00")])[0] == 200


def test_external_submit_refuses_a_worker_whose_qualification_was_revoked(mturk_local):
    client = mturk_local.client
    type_id = new_type(client)
    hit_id = guarded_hit(client, [{"QualificationTypeId": type_id, "Comparator": "Exists"}])
    client.associate_qualification_with_worker(QualificationTypeId=type_id, WorkerId="AWORKER1")
    worker = Worker(mturk_local.url, "AWORKER1")
    worker.sign_in()
    assignment_id = worker.accept(hit_id)
    client.disassociate_qualification_from_worker(QualificationTypeId=type_id, WorkerId="AWORKER1")
    status, page = worker.submit(assignment_id, [("answer", "12.00")])
    assert status == 403 and "qualification requirements" in page
    with local_store(mturk_local.app).transaction() as session:
        assignment = session.scalars(select(Assignment).where(Assignment.id == assignment_id)).one()
        assert (assignment.status, assignment.answer) == ("Accepted", None)


def test_an_auto_granted_type_admits_every_worker_while_active(mturk_local):
    client = mturk_local.client
    type_id = new_type(client, AutoGranted=True, AutoGrantedValue=3)
    hit_id = guarded_hit(
        client, [{"QualificationTypeId": type_id, "Comparator": "EqualTo", "IntegerValues": [3]}]
    )
    worker = Worker(mturk_local.url, "AWORKER1")
    worker.sign_in()
    client.update_qualification_type(
        QualificationTypeId=type_id, QualificationTypeStatus="Inactive"
    )
    assert try_accept(worker, hit_id)[0] == 409
    client.update_qualification_type(QualificationTypeId=type_id, QualificationTypeStatus="Active")
    worker.accept(hit_id)


def test_a_new_worker_meets_psiturks_default_requirements(mturk_local):
    """psiTurk asks for >= 95% approved; a worker with no decided work has 100."""
    client = mturk_local.client
    hit_id = guarded_hit(
        client,
        [
            {
                "QualificationTypeId": PERCENT_APPROVED,
                "Comparator": "GreaterThanOrEqualTo",
                "IntegerValues": [95],
                "RequiredToPreview": True,
            },
            {
                "QualificationTypeId": NUMBER_APPROVED,
                "Comparator": "GreaterThanOrEqualTo",
                "IntegerValues": [0],
            },
        ],
    )
    worker = Worker(mturk_local.url, "AWORKER1")
    worker.sign_in()
    worker.accept(hit_id)


def test_system_types_are_computed_from_the_workers_record(mturk_local):
    client = mturk_local.client
    first = guarded_hit(client, [])
    worker = Worker(mturk_local.url, "AWORKER1")
    worker.sign_in()
    done = worker.accept(first)
    assert worker.submit(done, [("answer", "1")])[0] == 200
    client.reject_assignment(AssignmentId=done, RequesterFeedback="wrong")

    strict = guarded_hit(
        client,
        [
            {
                "QualificationTypeId": PERCENT_APPROVED,
                "Comparator": "GreaterThanOrEqualTo",
                "IntegerValues": [95],
            }
        ],
    )
    status, page = try_accept(worker, strict)
    assert status == 409 and "Worker_PercentAssignmentsApproved" in page
    experienced = guarded_hit(
        client,
        [
            {
                "QualificationTypeId": NUMBER_APPROVED,
                "Comparator": "GreaterThan",
                "IntegerValues": [0],
            }
        ],
    )
    assert try_accept(worker, experienced)[0] == 409

    us_masters = guarded_hit(
        client,
        [
            {"QualificationTypeId": MASTERS, "Comparator": "Exists"},
            {
                "QualificationTypeId": LOCALE,
                "Comparator": "In",
                "LocaleValues": [{"Country": "US"}, {"Country": "CA"}],
            },
        ],
    )
    assert try_accept(worker, us_masters)[0] == 409  # no locale, not a Master
    with local_store(mturk_local.app).transaction() as session:
        set_profile_value(session, "AWORKER1", LOCALE, Score(country="CA"))
        set_profile_value(session, "AWORKER1", MASTERS, Score(1))
    worker.accept(us_masters)


def test_guarded_preview_and_discovery_are_refused_and_hidden(mturk_local):
    client = mturk_local.client
    type_id = new_type(client)

    def hit(guarded: str) -> str:
        requirement = {"QualificationTypeId": type_id, "Comparator": "Exists"}
        return guarded_hit(client, [{**requirement, "ActionsGuarded": guarded}])

    accept_only, preview, discover = (
        hit("Accept"),
        hit("PreviewAndAccept"),
        hit("DiscoverPreviewAndAccept"),
    )
    group = {  # the list shows HIT groups: one HIT type each
        hit_id: client.get_hit(HITId=hit_id)["HIT"]["HITTypeId"]
        for hit_id in (accept_only, preview, discover)
    }
    worker = Worker(mturk_local.url, "AWORKER1")
    listing = worker.sign_in()
    assert group[accept_only] in listing and group[preview] in listing
    assert group[discover] not in listing
    assert worker.request(f"/worker/hits/{accept_only}")[0] == 200
    for hidden in (preview, discover):
        status, _, page = worker.request(f"/worker/hits/{hidden}")
        assert status == 403 and "Knows receipts Exists" in page
        assert try_accept(worker, hidden)[0] == 403

    client.associate_qualification_with_worker(QualificationTypeId=type_id, WorkerId="AWORKER1")
    _, _, listing = worker.request("/worker")
    assert group[discover] in listing
    assert worker.request(f"/worker/hits/{preview}")[0] == 200
    worker.accept(discover)


def test_hits_for_a_qualification_type_are_the_callers_hits_requiring_it(mturk_local):
    client = mturk_local.client
    type_id = new_type(client)
    requiring = [
        guarded_hit(client, [{"QualificationTypeId": type_id, "Comparator": "Exists"}])
        for _ in range(3)
    ]
    guarded_hit(client, [])
    percent = guarded_hit(
        client,
        [
            {
                "QualificationTypeId": PERCENT_APPROVED,
                "Comparator": "GreaterThan",
                "IntegerValues": [90],
            }
        ],
    )
    first = client.list_hits_for_qualification_type(QualificationTypeId=type_id, MaxResults=2)
    rest = client.list_hits_for_qualification_type(
        QualificationTypeId=type_id, MaxResults=2, NextToken=first["NextToken"]
    )
    assert [h["HITId"] for h in first["HITs"] + rest["HITs"]] == requiring
    system = client.list_hits_for_qualification_type(QualificationTypeId=PERCENT_APPROVED)
    assert [h["HITId"] for h in system["HITs"]] == [percent]
    other = client_for(mturk_local.url, new_requester(mturk_local.app, "other lab"))
    code, _ = turk_error(other.list_hits_for_qualification_type, QualificationTypeId=type_id)
    assert code == "AWS.MechanicalTurk.QualificationTypeDoesNotExist"
    assert (
        other.list_hits_for_qualification_type(QualificationTypeId=PERCENT_APPROVED)["HITs"] == []
    )


def test_a_foreign_or_forged_next_token_is_refused(mturk_local):
    client = mturk_local.client
    type_id, other_type = new_type(client), new_type(client, "Speaks Welsh")
    client.associate_qualification_with_worker(QualificationTypeId=type_id, WorkerId="AWORKER1")
    client.associate_qualification_with_worker(QualificationTypeId=other_type, WorkerId="AWORKER1")
    token = client.list_workers_with_qualification_type(QualificationTypeId=type_id)["NextToken"]
    types_token = client.list_qualification_types(MustBeRequestable=True)["NextToken"]
    for call, kwargs, bad in [
        (client.list_workers_with_qualification_type, {"QualificationTypeId": other_type}, token),
        (client.list_qualification_types, {"MustBeRequestable": True}, token),
        (client.list_qualification_types, {"MustBeRequestable": False}, types_token),
        (client.list_qualification_types, {"MustBeRequestable": True}, "garbage"),
    ]:
        code, _ = turk_error(call, NextToken=bad, **kwargs)
        assert code == "AWS.ParameterOutOfRange"


def test_of_concurrent_creates_of_one_name_one_wins(mturk_local):
    issued = new_requester(mturk_local.app, "racing lab")
    clients = [client_for(mturk_local.url, issued) for _ in range(6)]

    def create(client) -> str:
        try:
            return new_type(client, "Raced")
        except ClientError as error:
            assert turk_code(error) == "AWS.MechanicalTurk.QualificationTypeAlreadyExists"
            return error.response["Error"]["Code"]

    with ThreadPoolExecutor(max_workers=6) as pool:
        outcomes = list(pool.map(create, clients))
    assert sorted(outcomes, key=len)[:5] == ["RequestError"] * 5, outcomes
    assert [len(o) for o in outcomes].count(30) == 1, outcomes  # one QualificationTypeId
