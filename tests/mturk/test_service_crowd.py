"""CreateHIT refuses an HTMLQuestion that loads crowd-html-elements.js and uses a crowd
element the marketplace's stand-in does not provide, naming it (real boto3 against the
service)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from mturk.questions import EXTERNAL_QUESTION_NS, html_question
from tests.helpers.mturk_samples import IMAGE_CLASSIFIER_TEMPLATE, SENTIMENT_TEMPLATE

LOADS = '<script src="https://assets.crowd.aws/crowd-html-elements.js"></script>'
HIT = {
    "Title": "Label the picture",
    "Description": "Pick what the picture shows.",
    "Reward": "0.05",
    "AssignmentDurationInSeconds": 600,
    "LifetimeInSeconds": 3600,
    "MaxAssignments": 1,
}


def refusal(call: Any, **params: Any) -> dict[str, Any]:
    with pytest.raises(ClientError) as error:
        call(**params)
    return error.value.response  # type: ignore[no-any-return]


def test_an_unknown_crowd_element_is_refused_by_name(mturk_local):
    client = mturk_local.client
    page = (
        LOADS + "<crowd-form><crowd-bounding-box name='box' src='x.png' labels=\"['car']\">"
        "</crowd-bounding-box><crowd-slider name='s'></crowd-slider>"
        "<crowd-input name='note'></crowd-input></crowd-form>"
    )
    response = refusal(client.create_hit, Question=html_question(page), **HIT)
    assert response["Error"]["Code"] == "RequestError"
    assert response["TurkErrorCode"] == "AWS.MechanicalTurk.InvalidParameterValue"
    message = response["Error"]["Message"]
    assert "<crowd-bounding-box>, <crowd-slider>" in message
    assert "<crowd-input>" not in message.split("Supported:")[0]
    assert client.list_hits()["HITs"] == []

    type_id = client.create_hit_type(
        **{k: HIT[k] for k in ("Title", "Description", "Reward", "AssignmentDurationInSeconds")}
    )["HITTypeId"]
    response = refusal(
        client.create_hit_with_hit_type,
        HITTypeId=type_id,
        LifetimeInSeconds=3600,
        Question=html_question(page),
    )
    assert response["TurkErrorCode"] == "AWS.MechanicalTurk.InvalidParameterValue"
    assert "<crowd-bounding-box>" in response["Error"]["Message"]


def test_mturks_crowd_samples_and_pages_of_their_own_are_accepted(mturk_local):
    client = mturk_local.client
    own_elements = "<crowd-widget>drawn by the page's own script</crowd-widget><form></form>"
    for page in (
        SENTIMENT_TEMPLATE.replace("${text}", "What a lovely day."),
        IMAGE_CLASSIFIER_TEMPLATE.replace("${image_url}", "https://example.org/cat.jpg"),
        own_elements,  # does not load MTurk's script: its crowd-* elements are its own
    ):
        client.create_hit(Question=html_question(page), **HIT)
    external = (
        f'<ExternalQuestion xmlns="{EXTERNAL_QUESTION_NS}">'
        "<ExternalURL>https://example.org/task?crowd-slider=1</ExternalURL>"
        "<FrameHeight>600</FrameHeight></ExternalQuestion>"
    )
    client.create_hit(Question=external, **HIT)
    assert len(client.list_hits()["HITs"]) == 4


def test_malformed_markup_is_checked_not_a_500(mturk_local):
    """``<![`` made html.parser raise AssertionError: CreateHIT answered 500 (review revA)."""
    page = LOADS + "<p>1 <![ 2</p><crowd-form><crowd-slider name='s'></crowd-slider></crowd-form>"
    response = refusal(mturk_local.client.create_hit, Question=html_question(page), **HIT)
    assert response["TurkErrorCode"] == "AWS.MechanicalTurk.InvalidParameterValue"
    assert "<crowd-slider>" in response["Error"]["Message"]
    fine = LOADS + "<p>1 <![ 2</p><crowd-form><crowd-input name='a'></crowd-input></crowd-form>"
    mturk_local.client.create_hit(Question=html_question(fine), **HIT)
