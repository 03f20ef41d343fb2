"""Requester accounts of the MTurk service: SigV4 as AWS checks it, each requester in its own
world (through real boto3 over HTTP), balances and their ledger, ``hitblocks requesters``,
and the credentials Hitblocks keeps for itself on the bundled service."""

from __future__ import annotations

import datetime
import json
import os
import re
import stat
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import boto3
import botocore.auth
import pytest
from botocore import UNSIGNED, xform_name
from botocore.config import Config
from botocore.exceptions import ClientError
from click.testing import CliRunner
from sqlalchemy import select

from app import create_app
from app.cli import main
from app.gateway import build_gateway, credentials_path
from mturk.client import Credentials, load_credentials_file
from mturk.questions import html_question
from mturk.service import create_service_app, local_store, serve_in_thread
from mturk.service.operations import OPERATIONS
from mturk.service.requesters import (
    LOCAL_REQUESTER,
    IssuedKey,
    RequesterError,
    ensure_local_credentials,
    ledger,
)
from mturk.service.store import Assignment, LedgerEntry, Requester
from mturk.service.wire import SERVICE_MODEL
from tests.helpers.requesters import client_for, new_requester
from tests.worker_site import Worker, complete

FORM = '<form method="post" action="/mturk/externalSubmit"><input name="answer"></form>'
MISSING = "3ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ"  # the shape of an id, of nothing


def error_of(call, **kwargs) -> ClientError:
    with pytest.raises(ClientError) as error:
        call(**kwargs)
    return error.value


def aws_error(error: ClientError) -> tuple[int, str]:
    return error.response["ResponseMetadata"]["HTTPStatusCode"], error.response["Error"]["Code"]


def new_hit(client, **overrides):
    hit_type = client.create_hit_type(
        Title="Transcribe", Description="Type the total", Reward="0.50",
        AssignmentDurationInSeconds=600, AutoApprovalDelayInSeconds=3600,
    )["HITTypeId"]  # fmt: skip
    params = {
        "HITTypeId": hit_type,
        "MaxAssignments": 2,
        "LifetimeInSeconds": 3600,
        "Question": html_question(FORM),
        **overrides,
    }
    return client.create_hit_with_hit_type(**params)["HIT"]


# ---- signatures -----------------------------------------------------------------------------


def test_the_right_key_works_and_a_wrong_secret_or_unknown_key_does_not(mturk_local):
    right = load_credentials_file(mturk_local.credentials_file)
    assert right is not None
    assert mturk_local.client.get_account_balance()["AvailableBalance"] == "10000.00"

    wrong_secret = IssuedKey("tests", right.access_key_id, "x" * 40)
    error = error_of(client_for(mturk_local.url, wrong_secret).get_account_balance)
    assert aws_error(error) == (400, "InvalidSignatureException")
    assert error.response["Error"]["Message"].startswith(
        "The request signature we calculated does not match the signature you provided."
    )

    unknown = IssuedKey("nobody", "AKIA" + "Z" * 16, right.secret_access_key)
    error = error_of(client_for(mturk_local.url, unknown).get_account_balance)
    assert aws_error(error) == (400, "UnrecognizedClientException")
    assert error.response["Error"]["Message"] == (
        "The security token included in the request is invalid."
    )


def test_unsigned_requests_are_refused(mturk_local):
    unsigned = boto3.session.Session().client(
        "mturk",
        endpoint_url=mturk_local.url,
        region_name="us-east-1",
        config=Config(signature_version=UNSIGNED, retries={"total_max_attempts": 1}),
    )
    error = error_of(unsigned.get_account_balance)
    assert aws_error(error) == (403, "MissingAuthenticationTokenException")


@pytest.mark.parametrize(
    ("minutes", "message"),
    [(-20, "Signature expired: "), (20, "Signature not yet current: ")],
)
def test_a_clock_off_by_more_than_fifteen_minutes_is_refused(
    mturk_local, monkeypatch, minutes, message
):
    client = mturk_local.client
    real = botocore.auth.get_current_datetime

    def skewed(remove_tzinfo: bool = True) -> datetime.datetime:
        return real(remove_tzinfo) + datetime.timedelta(minutes=minutes)

    monkeypatch.setattr(botocore.auth, "get_current_datetime", skewed)
    error = error_of(client.get_account_balance)
    assert aws_error(error) == (400, "InvalidSignatureException")
    assert error.response["Error"]["Message"].startswith(message)
    assert "15 min." in error.response["Error"]["Message"]

    def slightly(remove_tzinfo: bool = True) -> datetime.datetime:
        return real(remove_tzinfo) + datetime.timedelta(minutes=minutes // 2)

    monkeypatch.setattr(botocore.auth, "get_current_datetime", slightly)
    assert client.get_account_balance()["AvailableBalance"] == "10000.00"


def test_the_body_is_signed_too(mturk_local):
    client = mturk_local.client

    def tamper(request, **_):
        request.body = request.body.replace(b'"NOSUCHHIT0"', b'"NOSUCHHIT1"')

    client.meta.events.register_first("before-send.mturk.GetHIT", tamper)
    error = error_of(client.get_hit, HITId="NOSUCHHIT0")
    assert aws_error(error) == (400, "InvalidSignatureException")


def test_a_revoked_key_is_refused_and_another_key_of_the_requester_works(mturk_local, tmp_path):
    runner, env = cli(mturk_local, tmp_path)
    issued = new_requester(mturk_local.app, "rotating")
    client = client_for(mturk_local.url, issued)
    assert client.get_account_balance()
    created = runner.invoke(main, ["requesters", "keys", "create", "--name", "rotating"], env=env)
    assert created.exit_code == 0, created.output
    fresh = client_for(mturk_local.url, issued_from(created.output, "rotating"))
    revoked = runner.invoke(
        main, ["requesters", "keys", "revoke", "--access-key-id", issued.access_key_id], env=env
    )
    assert revoked.exit_code == 0, revoked.output
    assert aws_error(error_of(client.get_account_balance)) == (400, "UnrecognizedClientException")
    assert fresh.get_account_balance()["AvailableBalance"] == "10000.00"


# ---- tenancy ----------------------------------------------------------------------------------


@pytest.fixture
def two(mturk_local):
    """Requester A (the fixture's) with a HIT, a submitted assignment; requester B."""
    a = mturk_local.client
    hit = new_hit(a, MaxAssignments=1)
    assignment_id = complete(mturk_local.url, hit["HITId"], "AWORKER1", [("answer", "12")])
    b = client_for(mturk_local.url, new_requester(mturk_local.app, "other"))
    return a, b, hit, assignment_id


def calls_with_ids(hit_id: str, hit_type_id: str, assignment_id: str) -> dict[str, dict]:
    """Every implemented operation that names a HIT, HIT type or assignment."""
    return {
        "GetHIT": {"HITId": hit_id},
        "ListAssignmentsForHIT": {"HITId": hit_id},
        "UpdateExpirationForHIT": {"HITId": hit_id, "ExpireAt": datetime.datetime(2015, 1, 1)},
        "DeleteHIT": {"HITId": hit_id},
        "UpdateHITReviewStatus": {"HITId": hit_id},
        "CreateAdditionalAssignmentsForHIT": {"HITId": hit_id, "NumberOfAdditionalAssignments": 1},
        "ListBonusPayments": {"HITId": hit_id},
        "GetAssignment": {"AssignmentId": assignment_id},
        "ApproveAssignment": {"AssignmentId": assignment_id},
        "RejectAssignment": {"AssignmentId": assignment_id, "RequesterFeedback": "no"},
        "SendBonus": {
            "AssignmentId": assignment_id, "WorkerId": "AWORKER1", "BonusAmount": "500.00",
            "Reason": "me", "UniqueRequestToken": "steal",
        },
        "CreateHITWithHITType": {
            "HITTypeId": hit_type_id, "LifetimeInSeconds": 60, "Question": html_question(FORM),
        },
        "UpdateNotificationSettings": {"HITTypeId": hit_type_id, "Active": True},
        "ListReviewableHITs": {"HITTypeId": hit_type_id},
        "ListReviewPolicyResultsForHIT": {"HITId": hit_id},
        "UpdateHITTypeOfHIT": {"HITId": hit_id, "HITTypeId": hit_type_id},
        "GetFileUploadURL": {"AssignmentId": assignment_id, "QuestionIdentifier": "answer"},
    }  # fmt: skip


def operations_naming_objects() -> set[str]:
    """From botocore's model: the operations we serve whose input names one of the objects."""
    names = {"HITId", "HITTypeId", "AssignmentId"}
    return {
        op
        for op in OPERATIONS
        if names & set(SERVICE_MODEL.operation_model(op).input_shape.members)
    }


def outcome(client, operation: str, params: dict, ids: list[str]) -> tuple:
    """What a call answers, with ids and MTurk's timestamp suffix taken out of messages."""
    method = getattr(client, xform_name(operation))
    try:
        result = method(**params)
    except ClientError as error:
        message = error.response["Error"]["Message"]
        for value in ids:
            message = message.replace(value, "<id>")
        message = re.sub(r" \(\d+\)$", "", message)
        return ("error", *aws_error(error), error.response.get("TurkErrorCode"), message)
    result.pop("ResponseMetadata")
    return ("ok", result)


def test_another_requesters_ids_answer_exactly_as_missing_ones(two):
    a, b, hit, assignment_id = two
    ids = [hit["HITId"], hit["HITTypeId"], assignment_id, MISSING]
    theirs = calls_with_ids(hit["HITId"], hit["HITTypeId"], assignment_id)
    missing = calls_with_ids(MISSING, MISSING, MISSING)
    assert set(theirs) == operations_naming_objects()
    for operation in theirs:
        seen = outcome(b, operation, theirs[operation], ids)
        assert seen == outcome(b, operation, missing[operation], ids), operation
        assert seen[0] == "error" or seen[1].get("NumResults") == 0, (operation, seen)

    # Nothing of A's changed, and B paid nothing to anyone.
    after = a.get_hit(HITId=hit["HITId"])["HIT"]
    assert (after["HITStatus"], after["MaxAssignments"]) == ("Reviewable", 1)
    assert after["Expiration"] > datetime.datetime.now(datetime.UTC)
    assignment = a.get_assignment(AssignmentId=assignment_id)["Assignment"]
    assert assignment["AssignmentStatus"] == "Submitted"
    assert a.list_bonus_payments(HITId=hit["HITId"])["NumResults"] == 0
    assert a.get_account_balance()["AvailableBalance"] == "10000.00"
    assert b.get_account_balance()["AvailableBalance"] == "10000.00"


def test_each_requester_lists_only_its_own(two):
    a, b, hit, _ = two
    assert [h["HITId"] for h in a.list_hits()["HITs"]] == [hit["HITId"]]
    assert b.list_hits()["NumResults"] == 0
    assert a.list_reviewable_hits()["NumResults"] == 1
    assert b.list_reviewable_hits()["NumResults"] == 0

    b.create_worker_block(WorkerId="AWORKER1", Reason="theirs")
    assert a.list_worker_blocks()["NumResults"] == 0
    assert b.list_worker_blocks()["WorkerBlocks"] == [{"WorkerId": "AWORKER1", "Reason": "theirs"}]
    a.create_worker_block(WorkerId="AWORKER1", Reason="mine")
    b.delete_worker_block(WorkerId="AWORKER1")
    assert a.list_worker_blocks()["WorkerBlocks"] == [{"WorkerId": "AWORKER1", "Reason": "mine"}]


def test_hit_types_and_request_tokens_are_per_requester(two):
    a, b, hit, _ = two
    mine = new_hit(a, UniqueRequestToken="item-1")
    theirs = new_hit(b, UniqueRequestToken="item-1")  # the same token: another requester's
    assert theirs["HITTypeId"] != mine["HITTypeId"] == hit["HITTypeId"]
    with pytest.raises(a.exceptions.RequestError):
        new_hit(a, UniqueRequestToken="item-1")


def test_balances_are_separate_and_explained_by_the_ledger(mturk_local):
    a = mturk_local.client
    poor = new_requester(mturk_local.app, "poor", "5.00")
    b = client_for(mturk_local.url, poor)
    hit = new_hit(b)
    assignment_id = complete(mturk_local.url, hit["HITId"], "AWORKER1", [("answer", "1")])
    b.approve_assignment(AssignmentId=assignment_id)
    b.send_bonus(
        WorkerId="AWORKER1", BonusAmount="1.00", AssignmentId=assignment_id, Reason="thanks"
    )
    assert b.get_account_balance()["AvailableBalance"] == "3.20"  # 5 - 0.60 - 1.20
    assert a.get_account_balance()["AvailableBalance"] == "10000.00"
    with local_store(mturk_local.app).transaction() as session:
        entries = [(e.kind, e.amount_cents, e.fee_cents, e.balance_cents, e.reference)
                   for e in ledger(session, "poor")]  # fmt: skip
    assert entries == [
        ("funding", 500, 0, 500, None),
        ("reward", -60, 10, 440, assignment_id),
        ("bonus", -120, 20, 320, assignment_id),
    ]


# ---- hitblocks requesters ... --------------------------------------------------------------


def cli(mturk_local, tmp_path) -> tuple[CliRunner, dict[str, str]]:
    """The CLI on the service database of ``mturk_local``."""
    store = local_store(mturk_local.app)
    env = {
        "HITBLOCKS_DATABASE_URL": f"sqlite:///{tmp_path / 'api.sqlite3'}",
        "HITBLOCKS_MTURK_LOCAL_DATABASE_URL": str(store.engine.url),
    }
    return CliRunner(), env


def issued_from(output: str, name: str) -> IssuedKey:
    *_, key_line, secret_line = output.strip().splitlines()
    key = re.fullmatch(r"aws_access_key_id = (AKIA[A-Z0-9]{16})", key_line)
    secret = re.fullmatch(r"aws_secret_access_key = ([A-Za-z0-9+/]{40})", secret_line)
    assert key and secret, output
    return IssuedKey(name, key.group(1), secret.group(1))


def test_cli_creates_lists_and_funds_requesters(mturk_local, tmp_path):
    runner, env = cli(mturk_local, tmp_path)
    created = runner.invoke(
        main, ["requesters", "create", "--name", "acme", "--balance", "100.00"], env=env
    )
    assert created.exit_code == 0, created.output
    issued = issued_from(created.output, "acme")
    client = client_for(mturk_local.url, issued)
    assert client.get_account_balance()["AvailableBalance"] == "100.00"

    again = runner.invoke(main, ["requesters", "create", "--name", "acme"], env=env)
    assert again.exit_code != 0 and "already" in again.output

    funded = runner.invoke(
        main,
        ["requesters", "fund", "--access-key-id", issued.access_key_id, "--amount", "25.00"],
        env=env,
    )
    assert funded.exit_code == 0, funded.output
    assert client.get_account_balance()["AvailableBalance"] == "125.00"
    for bad in ("-5", "0.001", "lots"):
        refused = runner.invoke(
            main,
            ["requesters", "fund", "--access-key-id", issued.access_key_id, "--amount", bad],
            env=env,
        )
        assert refused.exit_code != 0, bad
    assert client.get_account_balance()["AvailableBalance"] == "125.00"

    listed = runner.invoke(main, ["requesters", "list"], env=env)
    assert listed.exit_code == 0, listed.output
    assert "acme" in listed.output and "125.00" in listed.output
    assert issued.access_key_id in listed.output
    assert issued.secret_access_key not in listed.output


# ---- Hitblocks' own requester on the bundled service ----------------------------------------


def test_local_credentials_are_created_once_private_and_kept(tmp_path):
    url = f"sqlite:///{tmp_path / 'service.sqlite3'}"
    path = str(tmp_path / "instance" / "mturk-local-credentials")
    issued = ensure_local_credentials(url, path, Decimal("25.00"))
    assert issued is not None
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_credentials_file(path) == issued.credentials
    assert ensure_local_credentials(url, path, Decimal("25.00")) is None  # kept

    # A new service database: a new key for a new requester, in the same file.
    other = f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
    again = ensure_local_credentials(other, path, Decimal("25.00"))
    assert again is not None and load_credentials_file(path) == again.credentials

    # A file Hitblocks did not write is never overwritten.
    mine = tmp_path / "credentials"
    mine.write_text("[default]\naws_access_key_id = AKIAMINE\naws_secret_access_key = s\n")
    with pytest.raises(RequesterError):
        ensure_local_credentials(url, str(mine), Decimal("25.00"))
    assert "AKIAMINE" in mine.read_text()


def test_the_gateway_signs_with_the_local_credentials(tmp_path):
    database = f"sqlite:///{tmp_path / 'service.sqlite3'}"
    service = create_service_app(database)
    server = serve_in_thread(service, "127.0.0.1", 0, poll_interval=0.05)
    try:
        app = create_app(
            {
                "DATABASE_URL": f"sqlite:///{tmp_path / 'api.sqlite3'}",
                "MTURK_ENDPOINT": "local",
                "MTURK_LOCAL_PORT": server.server_port,
                "MTURK_CREDENTIALS_FILE": "",
            }
        )
        assert credentials_path(app) == os.path.join(app.instance_path, "mturk-local-credentials")
        app.config["MTURK_CREDENTIALS_FILE"] = str(tmp_path / "mturk-local-credentials")
        ensure_local_credentials(database, credentials_path(app), Decimal("25.00"))
        client = build_gateway(app).client
        assert client.get_account_balance()["AvailableBalance"] == "25.00"
        with local_store(service).transaction() as session:
            names = session.scalars(select(Requester.name)).all()
        assert names == [LOCAL_REQUESTER]
        other = create_app({"MTURK_ENDPOINT": "sandbox", "MTURK_CREDENTIALS_FILE": ""})
        assert credentials_path(other) is None  # the standard AWS chain
    finally:
        server.shutdown()
        server.server_close()
        local_store(service).dispose()


def test_credentials_never_show_their_secret():
    assert "s3cret" not in repr(Credentials("AKIAX", "s3cret"))


def test_a_block_keeps_a_worker_from_that_requesters_hits_only(mturk_local):
    """CreateWorkerBlock is one requester's: the worker still sees and takes the others'."""
    blocker = client_for(mturk_local.url, new_requester(mturk_local.app, "blocker"))
    other = client_for(mturk_local.url, new_requester(mturk_local.app, "other"))
    blocked, open_one = new_hit(blocker), new_hit(other)
    blocked_hit, open_hit = blocked["HITId"], open_one["HITId"]
    blocker.create_worker_block(WorkerId="ABLOCKED01", Reason="careless")
    worker = Worker(mturk_local.url, "ABLOCKED01")
    listed = worker.sign_in()  # HIT groups: one HIT type each
    assert open_one["HITTypeId"] in listed and blocked["HITTypeId"] not in listed
    status, _, page = worker.request(f"/worker/hits/{blocked_hit}/accept", [])
    assert "You are blocked by this requester." in page
    assert blocker.list_assignments_for_hit(HITId=blocked_hit)["NumResults"] == 0
    worker.accept(open_hit)


@pytest.mark.postgres
def test_concurrent_approvals_on_postgres_pay_once(postgres_schema_url):
    """Eight ApproveAssignment calls at once (a retried call, two tools) on PostgreSQL, whose
    transactions are not serialized as SQLite's: one approves and charges, the rest refuse."""
    service = create_service_app(postgres_schema_url, sweep_interval=0, migrate=True)
    server = serve_in_thread(service, "127.0.0.1", 0, poll_interval=0.05)
    url = f"http://127.0.0.1:{server.server_port}"
    try:
        issued = new_requester(service, "alice", "100.00")
        clients = [client_for(url, issued) for _ in range(8)]
        hit_id = new_hit(clients[0], MaxAssignments=1)["HITId"]
        with local_store(service).transaction() as session:
            now = time.time()
            submitted = Assignment(id="A" * 30, hit_id=hit_id, worker_id="AWORKER1",
                                   status="Submitted", deadline=now + 600, submit_time=now,
                                   auto_approval_time=now + 9000)  # fmt: skip
            session.add(submitted)
        barrier = threading.Barrier(8)

        def approve(client):
            barrier.wait()
            try:
                client.approve_assignment(AssignmentId="A" * 30)
                return "approved"
            except ClientError as error:
                return error.response["Error"]["Code"]

        with ThreadPoolExecutor(8) as pool:
            outcomes = list(pool.map(approve, clients))
        assert outcomes.count("approved") == 1, outcomes
        assert clients[0].get_account_balance()["AvailableBalance"] == "99.40"  # 0.50 + 20%
        with local_store(service).transaction() as session:
            rewards = session.scalars(select(LedgerEntry).where(LedgerEntry.kind == "reward"))
            assert len(rewards.all()) == 1
    finally:
        server.shutdown()
        server.server_close()
        local_store(service).dispose()


@pytest.mark.parametrize("signature", ["é" * 64, "ABCDEF" + "0" * 58, "0" * 63])
def test_a_signature_that_is_not_hex_is_refused_not_a_server_error(mturk_local, signature):
    issued = new_requester(mturk_local.app, "mallory")
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    request = urllib.request.Request(
        mturk_local.url + "/",
        data=b"{}",
        headers={
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": "MTurkRequesterServiceV20170117.GetAccountBalance",
            "X-Amz-Date": stamp,
            "Authorization": (
                f"AWS4-HMAC-SHA256 Credential={issued.access_key_id}/{stamp[:8]}/us-east-1/"
                f"mturk-requester/aws4_request, SignedHeaders=host;x-amz-date, "
                f"Signature={signature}"
            )
            .encode()
            .decode("latin-1"),
        },
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 400
    assert json.loads(refused.value.read())["__type"] == "IncompleteSignatureException"
