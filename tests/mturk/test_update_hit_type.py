"""UpdateHITTypeOfHIT through real boto3: the HIT takes the new HIT type's properties; the
Reward changes only while no assignment has been accepted; both ids must be the caller's."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from mturk.questions import html_question
from tests.helpers.requesters import client_for, new_requester
from tests.worker_site import Worker, complete

FORM = '<form method="post" action="/mturk/externalSubmit"><input name="answer"></form>'


def hit_type(client, title: str = "Transcribe", reward: str = "0.50", **kwargs: Any) -> str:
    return client.create_hit_type(
        Title=title,
        Description="Type the total",
        Reward=reward,
        AssignmentDurationInSeconds=600,
        AutoApprovalDelayInSeconds=3600,
        **kwargs,
    )["HITTypeId"]


def new_hit(client, type_id: str) -> str:
    return client.create_hit_with_hit_type(
        HITTypeId=type_id, MaxAssignments=2, LifetimeInSeconds=3600, Question=html_question(FORM)
    )["HIT"]["HITId"]


def turk_code(call, **kwargs: Any) -> str:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    response = caught.value.response
    return response.get("TurkErrorCode", response["Error"].get("TurkErrorCode"))


def test_the_hit_takes_the_new_types_properties_and_pays_its_reward(mturk_local):
    client = mturk_local.client
    old_type = hit_type(client)
    new_type = hit_type(client, title="Transcribe a receipt", reward="1.00", Keywords="receipt")
    hit_id = new_hit(client, old_type)

    response = client.update_hit_type_of_hit(HITId=hit_id, HITTypeId=new_type)
    assert set(response) == {"ResponseMetadata"}  # an empty answer, as on MTurk
    hit = client.get_hit(HITId=hit_id)["HIT"]
    assert (hit["HITTypeId"], hit["HITGroupId"]) == (new_type, new_type)
    assert (hit["Title"], hit["Reward"], hit["Keywords"]) == (
        "Transcribe a receipt",
        "1.00",
        "receipt",
    )
    listed = client.list_reviewable_hits(HITTypeId=new_type, Status="Reviewable")["HITs"]
    assert listed == []  # filters on the new type work; nothing reviewable yet
    before = client.get_account_balance()["AvailableBalance"]
    assignment_id = complete(mturk_local.url, hit_id, "ATYPE1", [("answer", "42")])
    client.approve_assignment(AssignmentId=assignment_id)
    # The new reward, and its 20% commission.
    assert client.get_account_balance()["AvailableBalance"] == f"{float(before) - 1.20:.2f}"


def test_the_reward_is_fixed_once_an_assignment_is_accepted_the_rest_is_not(mturk_local):
    client = mturk_local.client
    old_type = hit_type(client)
    hit_id = new_hit(client, old_type)
    worker = Worker(mturk_local.url, "ATYPE2")
    worker.sign_in()
    worker.accept(hit_id)

    dearer = hit_type(client, reward="0.75")
    code = turk_code(client.update_hit_type_of_hit, HITId=hit_id, HITTypeId=dearer)
    assert code == "AWS.MechanicalTurk.InvalidHITState"
    assert client.get_hit(HITId=hit_id)["HIT"]["HITTypeId"] == old_type

    retitled = hit_type(client, title="Transcribe (retitled)")
    client.update_hit_type_of_hit(HITId=hit_id, HITTypeId=retitled)
    assert client.get_hit(HITId=hit_id)["HIT"]["Title"] == "Transcribe (retitled)"


def test_both_ids_must_be_the_callers(mturk_local):
    client = mturk_local.client
    mine = hit_type(client)
    hit_id = new_hit(client, mine)
    other = client_for(mturk_local.url, new_requester(mturk_local.app, "other"))
    theirs = hit_type(other)
    their_hit = new_hit(other, theirs)

    code = turk_code(client.update_hit_type_of_hit, HITId=hit_id, HITTypeId=theirs)
    assert code == "AWS.MechanicalTurk.HITTypeDoesNotExist"
    code = turk_code(client.update_hit_type_of_hit, HITId=their_hit, HITTypeId=mine)
    assert code == "AWS.MechanicalTurk.HITDoesNotExist"
    assert other.get_hit(HITId=their_hit)["HIT"]["HITTypeId"] == theirs


def test_a_deleted_hit_keeps_its_type(mturk_local):
    client = mturk_local.client
    mine = hit_type(client)
    hit_id = new_hit(client, mine)
    client.update_expiration_for_hit(HITId=hit_id, ExpireAt=0)
    client.delete_hit(HITId=hit_id)
    code = turk_code(
        client.update_hit_type_of_hit, HITId=hit_id, HITTypeId=hit_type(client, title="Later")
    )
    assert code == "AWS.MechanicalTurk.InvalidHITState"


@pytest.mark.postgres
def test_the_reward_cannot_change_under_an_accept_in_progress_on_postgres(mturk_postgres):
    """An accept not yet committed when UpdateHITTypeOfHIT looks at the HIT (PostgreSQL): the
    call waits for it, then sees the assignment and keeps the reward the worker accepted
    (revB)."""
    import threading
    import time

    from mturk.service import events

    client = mturk_postgres.client
    old_type = hit_type(client)
    hit_id = new_hit(client, old_type)
    cheaper = hit_type(client, reward="0.01")
    worker = Worker(mturk_postgres.url, "ATYPE3")
    worker.sign_in()
    accepting = threading.Event()

    def slow_accept(_session: Any, event: events.Event) -> None:
        if event.type == events.ASSIGNMENT_ACCEPTED:
            accepting.set()
            time.sleep(1)  # the accept's transaction stays open meanwhile

    events.subscribe(slow_accept)
    try:
        thread = threading.Thread(target=worker.accept, args=(hit_id,))
        thread.start()
        assert accepting.wait(5)
        code = turk_code(client.update_hit_type_of_hit, HITId=hit_id, HITTypeId=cheaper)
        thread.join(10)
    finally:
        events._handlers.remove(slow_accept)
    assert code == "AWS.MechanicalTurk.InvalidHITState"
    assert client.get_hit(HITId=hit_id)["HIT"]["Reward"] == "0.50"
