"""The adapter against botocore's Stubber, which checks every call against the API model."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from botocore.stub import ANY, Stubber

from mturk.client import make_client, resolve_endpoint
from mturk.gateway import HitTypeSpec, MTurkGateway, MTurkRejected, MTurkUnavailable


@pytest.fixture
def stubbed():
    endpoint = resolve_endpoint("sandbox", "")
    client = make_client(endpoint, max_attempts=1)
    with Stubber(client) as stubber:
        yield MTurkGateway(client, endpoint), stubber
        stubber.assert_no_pending_responses()


def test_hit_type_in_pascal_case(stubbed):
    gateway, stubber = stubbed
    stubber.add_response(
        "create_hit_type",
        {"HITTypeId": "TYPE1"},
        {
            "Title": "t",
            "Description": "d",
            "Reward": "0.10",
            "AssignmentDurationInSeconds": 600,
            "AutoApprovalDelayInSeconds": 3600,
            "Keywords": "a, b",
            "QualificationRequirements": [
                {
                    "QualificationTypeId": "00000000000000000071",
                    "Comparator": "In",
                    "LocaleValues": [{"Country": "US"}, {"Country": "CA", "Subdivision": "ON"}],
                    "ActionsGuarded": "Accept",
                }
            ],
        },
    )
    spec = HitTypeSpec(
        title="t",
        description="d",
        reward=Decimal("0.1"),
        assignment_duration=600,
        auto_approval_delay=3600,
        keywords="a, b",
        qualification_requirements=[
            {
                "qualification_type_id": "00000000000000000071",
                "comparator": "In",
                "locale_values": [{"country": "US"}, {"country": "CA", "subdivision": "ON"}],
                "actions_guarded": "Accept",
            }
        ],
    )
    assert gateway.create_hit_type(spec) == "TYPE1"


def create_params(token="tok"):
    return {
        "HITTypeId": "TYPE1",
        "MaxAssignments": 2,
        "LifetimeInSeconds": 3600,
        "Question": "<q/>",
        "RequesterAnnotation": "hitblocks:item:1",
        "UniqueRequestToken": token,
    }


def create(gateway, token="tok"):
    return gateway.create_hit(
        hit_type_id="TYPE1",
        question="<q/>",
        max_assignments=2,
        lifetime=3600,
        annotation="hitblocks:item:1",
        token=token,
    )


def test_create_hit(stubbed):
    gateway, stubber = stubbed
    stubber.add_response("create_hit_with_hit_type", {"HIT": {"HITId": "HIT1"}}, create_params())
    created = create(gateway)
    assert (created.hit_id, created.recovered) == ("HIT1", False)


def test_a_repeated_token_recovers_the_existing_hit(stubbed):
    gateway, stubber = stubbed
    stubber.add_client_error(
        "create_hit_with_hit_type",
        service_error_code="RequestError",
        service_message="There is already a HIT which exists with the same UniqueRequestToken: "
        "HITId 3KTZHH2ONIDMNZ9N9MJAW6LHE1NM4J. (1700000000000)",
        http_status_code=400,
        response_meta={},
        modeled_fields={"TurkErrorCode": "AWS.MechanicalTurk.HitAlreadyExists"},
        expected_params=create_params(),
    )
    created = create(gateway)
    assert (created.hit_id, created.recovered) == ("3KTZHH2ONIDMNZ9N9MJAW6LHE1NM4J", True)


@pytest.mark.parametrize(
    ("code", "status", "turk_code", "expected"),
    [
        ("RequestError", 400, "AWS.ParameterOutOfRange", MTurkRejected),
        ("ServiceFault", 500, "AWS.ServiceFault", MTurkUnavailable),
        ("ThrottlingException", 400, None, MTurkUnavailable),
    ],
)
def test_aws_errors_become_ours_by_code(stubbed, code, status, turk_code, expected):
    gateway, stubber = stubbed
    stubber.add_client_error(
        "get_account_balance",
        service_error_code=code,
        service_message="no",
        http_status_code=status,
        modeled_fields={"TurkErrorCode": turk_code} if turk_code else None,
    )
    with pytest.raises(expected) as error:
        gateway.available_balance()
    assert error.value.code == (turk_code or code)


def test_balance_is_decimal(stubbed):
    gateway, stubber = stubbed
    stubber.add_response("get_account_balance", {"AvailableBalance": "12.34"}, {})
    assert gateway.available_balance() == Decimal("12.34")


def test_delete_refused_for_state_is_false(stubbed):
    gateway, stubber = stubbed
    stubber.add_response("update_expiration_for_hit", {}, {"HITId": "HIT1", "ExpireAt": ANY})
    stubber.add_client_error(
        "delete_hit",
        service_error_code="RequestError",
        http_status_code=400,
        modeled_fields={"TurkErrorCode": "AWS.MechanicalTurk.InvalidHITState"},
        expected_params={"HITId": "HIT1"},
    )
    gateway.expire_hit("HIT1")
    assert gateway.delete_hit("HIT1") is False


def test_endpoints():
    assert (
        resolve_endpoint("production", "").url == "https://mturk-requester.us-east-1.amazonaws.com"
    )
    sandbox = resolve_endpoint("sandbox", "")
    assert sandbox.preview_url("H", "G") == "https://workersandbox.mturk.com/projects/G/tasks"
    local = resolve_endpoint("local", "http://127.0.0.1:5001")
    assert local.preview_url("H", "G") == "http://127.0.0.1:5001/worker/hits/H"
    assert resolve_endpoint("https://mturk.example/", "").url == "https://mturk.example"
    with pytest.raises(ValueError):
        resolve_endpoint("moon", "")


def test_lists_follow_next_token_through_boto3s_paginator(stubbed):
    gateway, stubber = stubbed
    assignment = {
        "WorkerId": "W1",
        "HITId": "H1",
        "AssignmentStatus": "Submitted",
        "Answer": "<x/>",
    }
    full = [{**assignment, "AssignmentId": f"A{n}"} for n in range(100)]
    params = {"HITId": "H1", "AssignmentStatuses": ["Submitted"], "MaxResults": 100}
    stubber.add_response(
        "list_assignments_for_hit",
        {"Assignments": full, "NextToken": "page2", "NumResults": 100},
        params,
    )
    stubber.add_response(
        "list_assignments_for_hit",
        {"Assignments": [{**assignment, "AssignmentId": "LAST"}], "NextToken": "p3"},
        {**params, "NextToken": "page2"},
    )
    # No third call: a page shorter than asked is the last, though MTurk gives it a NextToken.
    found = gateway.assignments("H1", ["Submitted"])
    assert [a.assignment_id for a in found] == [f"A{n}" for n in range(100)] + ["LAST"]


def test_an_error_on_a_later_page_is_translated(stubbed):
    gateway, stubber = stubbed
    hit = {"HITStatus": "Reviewable", "Expiration": 0, "MaxAssignments": 1}
    full = [{**hit, "HITId": f"H{n}"} for n in range(100)]
    params = {"HITTypeId": "T1", "Status": "Reviewable", "MaxResults": 100}
    stubber.add_response("list_reviewable_hits", {"HITs": full, "NextToken": "p2"}, params)
    stubber.add_client_error("list_reviewable_hits", "ServiceFault", http_status_code=500)
    with pytest.raises(MTurkUnavailable):
        list(gateway.reviewable_hits("T1"))


def test_qualification_type_created_or_found_by_its_name(stubbed):
    gateway, stubber = stubbed
    created = {"QualificationTypeId": "QUAL1", "Name": "n"}
    params = {"Name": "n", "Description": "d", "QualificationTypeStatus": "Active"}
    stubber.add_response("create_qualification_type", {"QualificationType": created}, params)
    assert gateway.create_qualification_type("n", "d") == "QUAL1"
    # A retry after a lost answer: the name is taken (by us), so the type is looked up.
    stubber.add_client_error(
        "create_qualification_type", "RequestError", "already created", 400, params
    )
    stubber.add_response(
        "list_qualification_types",
        {
            "NumResults": 2,
            "QualificationTypes": [
                {"QualificationTypeId": "QUAL0", "Name": "n and more"},
                {"QualificationTypeId": "QUAL1", "Name": "n"},
            ],
        },
        {
            "Query": "n",
            "MustBeRequestable": False,
            "MustBeOwnedByCaller": True,
            "MaxResults": 100,
        },
    )
    assert gateway.create_qualification_type("n", "d") == "QUAL1"


def test_a_refused_qualification_type_not_found_by_name_is_an_error(stubbed):
    gateway, stubber = stubbed
    stubber.add_client_error("create_qualification_type", "RequestError", "bad name", 400)
    stubber.add_response("list_qualification_types", {"NumResults": 0, "QualificationTypes": []})
    with pytest.raises(MTurkRejected, match="bad name"):
        gateway.create_qualification_type("n", "d")


def test_grant_block_and_unblock_in_pascal_case(stubbed):
    gateway, stubber = stubbed
    stubber.add_response(
        "associate_qualification_with_worker",
        {},
        {
            "QualificationTypeId": "QUAL1",
            "WorkerId": "W1",
            "IntegerValue": 1,
            "SendNotification": False,
        },
    )
    stubber.add_response("create_worker_block", {}, {"WorkerId": "W1", "Reason": "spam"})
    stubber.add_response("delete_worker_block", {}, {"WorkerId": "W1", "Reason": "sorry"})
    stubber.add_client_error("create_worker_block", "ServiceFault", "down", 500)
    gateway.grant_qualification("QUAL1", "W1", 1)
    gateway.block_worker("W1", "spam")
    gateway.unblock_worker("W1", "sorry")
    with pytest.raises(MTurkUnavailable):
        gateway.block_worker("W1", "spam")


def test_notification_settings_send_a_hit_types_events_to_an_sqs_queue(stubbed):
    gateway, stubber = stubbed
    queue = "https://sqs.us-east-1.amazonaws.com/123456789012/hitblocks"
    stubber.add_response(
        "update_notification_settings",
        {},
        {
            "HITTypeId": "TYPE1",
            "Notification": {
                "Destination": queue,
                "Transport": "SQS",
                "Version": "2006-05-05",
                "EventTypes": ["AssignmentSubmitted", "HITReviewable"],
            },
            "Active": True,
        },
    )
    gateway.update_notification_settings("TYPE1", queue, ["AssignmentSubmitted", "HITReviewable"])
    stubber.add_client_error("update_notification_settings", "RequestError", "bad destination", 400)
    with pytest.raises(MTurkRejected):
        gateway.update_notification_settings("TYPE1", "nope", ["HITReviewable"])


def test_get_hit_answers_its_status_and_expiration(stubbed):
    gateway, stubber = stubbed
    expiration = datetime(2026, 12, 6, 20, 0, tzinfo=UTC)
    stubber.add_response(
        "get_hit",
        {
            "HIT": {
                "HITId": "HIT1",
                "HITStatus": "Assignable",
                "Expiration": expiration,
                "MaxAssignments": 3,
            }
        },
        {"HITId": "HIT1"},
    )
    hit = gateway.get_hit("HIT1")
    assert (hit.hit_id, hit.status, hit.expiration, hit.max_assignments) == (
        "HIT1",
        "Assignable",
        expiration,
        3,
    )
    stubber.add_client_error("get_hit", "RequestError", "no such HIT", 400)
    with pytest.raises(MTurkRejected):
        gateway.get_hit("HIT2")
