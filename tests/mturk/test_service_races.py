"""Calls that race, and values botocore's validator lets through, answer as MTurk does: never
a server error, never a second payment."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from threading import Barrier
from typing import Any

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials
from botocore.exceptions import ClientError
from sqlalchemy import func, select

from mturk.questions import html_question
from mturk.service import create_service_app, local_store, serve_in_thread
from mturk.service.requesters import IssuedKey
from mturk.service.store import Assignment, Bonus, LedgerEntry, WorkerQualification
from tests.helpers.requesters import client_for, new_requester
from tests.worker_site import Worker

FORM = '<form method="post"><input name="total"><button>Submit</button></form>'


def _hit(client: Any) -> str:
    return client.create_hit(
        Title="Transcribe", Description="Type the total", Reward="0.50",
        AssignmentDurationInSeconds=600, LifetimeInSeconds=3600, MaxAssignments=1,
        Question=html_question(FORM),
    )["HIT"]["HITId"]  # fmt: skip


def signed_call(url: str, issued: IssuedKey, operation: str, body: bytes) -> tuple[int, Any]:
    """A correctly signed call whose body is written by hand (botocore would not send it)."""
    headers = {
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": f"MTurkRequesterServiceV20170117.{operation}",
    }
    aws_request = AWSRequest("POST", url + "/", data=body, headers=headers)
    credentials = BotoCredentials(issued.access_key_id, issued.secret_access_key)
    SigV4Auth(credentials, "mturk-requester", "us-east-1").add_auth(aws_request)
    prepared = urllib.request.Request(
        url + "/", data=body, headers=dict(aws_request.headers.items()), method="POST"
    )
    try:
        with urllib.request.urlopen(prepared, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.mark.parametrize(
    ("expire_at", "accepted"),
    [
        ("2099-01-01T00:00:00Z", True),
        ("1e400", False),
        ("-5", False),
        ("1e13", False),
        ("1" + "0" * 400, False),  # an integer too large for a float (revB)
        ('"not a date"', False),
        ('"2099-13-45"', False),
        ("true", False),
    ],
)
def test_expire_at_takes_a_time_and_refuses_anything_else(mturk_local, expire_at, accepted):
    issued = new_requester(mturk_local.app, "timekeeper")
    hit_id = _hit(client_for(mturk_local.url, issued))
    value = f'"{expire_at}"' if expire_at.startswith("2099") else expire_at
    body = f'{{"HITId": "{hit_id}", "ExpireAt": {value}}}'.encode()
    status, answer = signed_call(mturk_local.url, issued, "UpdateExpirationForHIT", body)
    if accepted:
        assert status == 200, answer
        got = client_for(mturk_local.url, issued).get_hit(HITId=hit_id)["HIT"]["Expiration"]
        assert got.year == 2099
    else:
        assert status == 400 and answer["__type"] in ("RequestError", "ValidationException")
        assert "ExpireAt" in (answer.get("Message") or answer.get("message")), answer


@pytest.mark.postgres
def test_concurrent_grants_and_same_token_bonuses_on_postgres(postgres_schema_url):
    """Eight AssociateQualificationWithWorker calls at once all succeed with one score; eight
    SendBonus calls with one UniqueRequestToken pay once, the others answer DuplicateRequest."""
    service = create_service_app(postgres_schema_url, sweep_interval=0, migrate=True)
    server = serve_in_thread(service, "127.0.0.1", 0, poll_interval=0.05)
    url = f"http://127.0.0.1:{server.server_port}"
    try:
        issued = new_requester(service, "alice", "100.00")
        clients = [client_for(url, issued) for _ in range(8)]
        type_id = clients[0].create_qualification_type(
            Name="Careful", Description="Careful workers", QualificationTypeStatus="Active"
        )["QualificationType"]["QualificationTypeId"]
        hit_id = _hit(clients[0])
        with local_store(service).transaction() as session:
            now = time.time()
            session.add(Assignment(id="B" * 30, hit_id=hit_id, worker_id="AWORKER1",
                                   status="Approved", deadline=now + 600, submit_time=now,
                                   approval_time=now))  # fmt: skip

        def together(call):
            barrier = Barrier(8)

            def run(client):
                barrier.wait()
                try:
                    call(client)
                    return "ok"
                except ClientError as error:
                    return error.response["Error"]["Code"]

            with ThreadPoolExecutor(8) as pool:
                return list(pool.map(run, clients))

        grants = together(
            lambda client: client.associate_qualification_with_worker(
                QualificationTypeId=type_id,
                WorkerId="AWORKER1",
                IntegerValue=7,
                SendNotification=False,
            )  # fmt: skip
        )
        assert grants == ["ok"] * 8
        bonuses = together(
            lambda client: client.send_bonus(
                WorkerId="AWORKER1",
                AssignmentId="B" * 30,
                BonusAmount="1.00",
                Reason="Thanks",
                UniqueRequestToken="bonus-1",
            )  # fmt: skip
        )
        assert bonuses.count("ok") == 1, bonuses
        assert set(bonuses) == {"ok", "RequestError"}
        with local_store(service).transaction() as session:
            count = func.count()
            assert session.scalar(select(count).select_from(WorkerQualification)) == 1
            assert session.scalar(select(func.count()).select_from(Bonus)) == 1
            kinds = session.scalars(select(LedgerEntry.kind)).all()
            assert kinds.count("bonus") == 1
        assert clients[0].get_account_balance()["AvailableBalance"] == "98.80"  # 1.00 + 20%
    finally:
        server.shutdown()
        server.server_close()
        local_store(service).dispose()


def test_expiry_can_be_extended_or_ended_now_never_shortened(mturk_local):
    """AWS: "You cannot shorten the expiration time so that you're not affecting Workers who
    have accepted your HIT. To expire a HIT immediately, provide the value 0 or set ExpireAt
    to a time in the past." """
    client = mturk_local.client
    hit_id = _hit(client)
    expiration = client.get_hit(HITId=hit_id)["HIT"]["Expiration"]
    with pytest.raises(ClientError) as shortened:
        client.update_expiration_for_hit(HITId=hit_id, ExpireAt=expiration - timedelta(minutes=5))
    assert shortened.value.response["TurkErrorCode"] == "AWS.MechanicalTurk.InvalidParameterValue"
    later = expiration + timedelta(hours=1)
    client.update_expiration_for_hit(HITId=hit_id, ExpireAt=later)
    assert client.get_hit(HITId=hit_id)["HIT"]["Expiration"] == later
    client.update_expiration_for_hit(HITId=hit_id, ExpireAt=0)
    assert client.get_hit(HITId=hit_id)["HIT"]["HITStatus"] == "Reviewable"


@pytest.mark.postgres
def test_an_answer_holding_nul_is_kept_on_postgres(mturk_postgres):
    """PostgreSQL's text cannot hold U+0000, nor can XML: the submission is kept with U+FFFD
    in its place, not refused with a server error (which would lose the worker's work)."""
    client = mturk_postgres.client
    hit_id = _hit(client)
    worker = Worker(mturk_postgres.url, "ANULWORKER1")
    worker.sign_in()
    assignment_id = worker.accept(hit_id)
    assert worker.submit(assignment_id, [("total", "12\x0000")])[0] == 200
    [assignment] = client.list_assignments_for_hit(HITId=hit_id)["Assignments"]
    assert "<FreeText>12\ufffd00</FreeText>" in assignment["Answer"]
