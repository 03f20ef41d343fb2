"""The poller and review, against the local MTurk service over boto3, with workers
submitting through the worker site."""

from __future__ import annotations

import textwrap
import time
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from app.extensions import db
from app.gateway import mturk_gateway
from app.models import Bonus, Response
from app.services.polling import poll_once
from tests.test_errors import assert_error
from tests.worker_site import complete, run_killed_script


def setup_items(client, auth, make_hitblock, count=1, **hitblock_fields):
    hitblock = make_hitblock(cost_per_item=0.10, **hitblock_fields)
    rows = [{"image_url": f"https://example.org/{n}.jpg"} for n in range(count)]
    client.post(f"/v1/hitblocks/{hitblock['id']}/items/batch", json=rows, headers=auth)
    client.post(f"/v1/hitblocks/{hitblock['id']}/post", headers=auth)
    items = client.get(f"/v1/hitblocks/{hitblock['id']}/items?limit=100", headers=auth).json
    return hitblock, sorted(items["data"], key=lambda item: item["id"])


def work(publishing, hit_id, worker_id="AWORKER1", answer="12.00"):
    return complete(publishing.url, hit_id, worker_id, [("transcription", answer)])


def poll(app, **options):
    with app.app_context():
        options.setdefault("retry_bonuses_after", timedelta(0))
        return poll_once(db.session, mturk_gateway(), **options)


def balance(publishing) -> Decimal:
    return Decimal(publishing.client.get_account_balance()["AvailableBalance"])


def responses_of(client, auth, item):
    return client.get(f"/v1/item/{item['id']}", headers=auth).json["responses"]


def test_a_poll_cycle_brings_submitted_work_back_as_responses(
    app, client, auth, make_hitblock, publishing, mturk_calls
):
    hitblock, (item,) = setup_items(client, auth, make_hitblock)
    assignment_id = work(publishing, item["hit_id"], answer="total 12.00")
    mturk_calls.clear()
    report = poll(app)
    assert report.new_responses == 1 and report.errors == []
    [response] = responses_of(client, auth, item)
    assert response["object"] == "response"
    assert response["data"] == {"transcription": "total 12.00"}
    assert response["approved"] is None
    assert response["status"] == "submitted"
    assert response["worker_id"] == "AWORKER1"
    assert response["assignment_id"] == assignment_id
    assert isinstance(response["submitted"], int)
    assert client.get(f"/v1/item/{item['id']}", headers=auth).json["status"] == "completed"
    hitblock_now = client.get(f"/v1/hitblocks/{hitblock['id']}", headers=auth).json
    assert hitblock_now["status"] == "completed"
    assert hitblock_now["num_items_completed"] == 1
    assert publishing.client.get_hit(HITId=item["hit_id"])["HIT"]["HITStatus"] == "Reviewing"
    assert mturk_calls == {
        "ListReviewableHITs": 1,
        "ListAssignmentsForHIT": 1,
        "UpdateHITReviewStatus": 1,
    }

    mturk_calls.clear()
    again = poll(app)
    assert again.new_responses == 0
    assert sum(mturk_calls.values()) == 0  # nothing published is left to look at
    assert len(responses_of(client, auth, item)) == 1


def test_a_completed_hitblock_reopens_when_new_items_are_published(
    app, client, auth, make_hitblock, publishing
):
    hitblock, (item,) = setup_items(client, auth, make_hitblock)
    work(publishing, item["hit_id"])
    poll(app)
    path = f"/v1/hitblocks/{hitblock['id']}"
    assert client.get(path, headers=auth).json["status"] == "completed"
    more = client.post(f"{path}/items", json={"image_url": "https://example.org/x.jpg"},
                       headers=auth)  # fmt: skip
    assert more.status_code == 200
    client.post(f"/v1/item/{more.json['id']}/post", headers=auth)
    assert client.get(path, headers=auth).json["status"] == "in_progress"


def test_work_submitted_before_an_item_was_deleted_is_still_collected(
    app, client, auth, make_hitblock, publishing
):
    hitblock, (item,) = setup_items(client, auth, make_hitblock, workers_per_item=2)
    work(publishing, item["hit_id"])  # submitted, never polled
    assert client.delete(f"/v1/item/{item['id']}", headers=auth).status_code == 200
    listed = client.get(f"/v1/hitblocks/{hitblock['id']}/responses", headers=auth).json["data"]
    assert [r["worker_id"] for r in listed] == ["AWORKER1"]  # stored by the deletion itself
    hit = publishing.client.get_hit(HITId=item["hit_id"])["HIT"]
    assert hit["HITStatus"] == "Reviewable"  # expired; not deleted while work awaits review
    assert poll(app).new_responses == 0
    hit = publishing.client.get_hit(HITId=item["hit_id"])["HIT"]
    assert hit["HITStatus"] == "Reviewing"  # the poller is done with it
    assert assert_error(client.get(f"/v1/item/{item['id']}", headers=auth), 404)


def test_idle_hits_cost_no_call_each(app, client, auth, make_hitblock, publishing, mturk_calls):
    _, items = setup_items(client, auth, make_hitblock, count=30)
    work(publishing, items[3]["hit_id"])
    mturk_calls.clear()
    report = poll(app)
    assert report.new_responses == 1
    assert mturk_calls == {
        "ListReviewableHITs": 1,
        "ListAssignmentsForHIT": 1,
        "UpdateHITReviewStatus": 1,
    }


def test_several_workers_per_item_surface_before_the_last_one(
    app, client, auth, make_hitblock, publishing
):
    _, (item,) = setup_items(client, auth, make_hitblock, workers_per_item=3)
    work(publishing, item["hit_id"], "AWORKER1")
    work(publishing, item["hit_id"], "AWORKER2")
    assert poll(app).new_responses == 2
    assert len(responses_of(client, auth, item)) == 2
    assert client.get(f"/v1/item/{item['id']}", headers=auth).json["status"] == "published"
    work(publishing, item["hit_id"], "AWORKER3")
    assert poll(app).new_responses == 1
    assert client.get(f"/v1/item/{item['id']}", headers=auth).json["status"] == "completed"


def test_partial_checks_are_bounded_per_cycle(
    app, client, auth, make_hitblock, publishing, mturk_calls
):
    setup_items(client, auth, make_hitblock, count=12, workers_per_item=2)
    mturk_calls.clear()
    poll(app, partial_budget=5)
    assert mturk_calls["ListAssignmentsForHIT"] == 5
    mturk_calls.clear()
    poll(app, partial_budget=5)
    assert mturk_calls["ListAssignmentsForHIT"] == 5  # the next five, in rotation


def test_a_hit_that_expires_short_leaves_its_item_expired(
    app, client, auth, make_hitblock, publishing
):
    hitblock, (item,) = setup_items(client, auth, make_hitblock, workers_per_item=2)
    work(publishing, item["hit_id"])
    publishing.client.update_expiration_for_hit(HITId=item["hit_id"], ExpireAt=datetime(2015, 1, 1))
    poll(app)
    body = client.get(f"/v1/item/{item['id']}", headers=auth).json
    assert body["status"] == "expired"
    assert len(body["responses"]) == 1
    assert client.get(f"/v1/hitblocks/{hitblock['id']}", headers=auth).json["status"] == "completed"


def test_auto_approved_work_is_synced_and_charged(app, client, auth, make_hitblock, publishing):
    start = balance(publishing)
    hitblock, (item,) = setup_items(
        client, auth, make_hitblock, workers_per_item=2, auto_approval_delay_in_seconds=1
    )
    work(publishing, item["hit_id"])
    poll(app)
    [response] = responses_of(client, auth, item)
    assert response["status"] == "submitted"
    time.sleep(1.2)
    report = poll(app)
    assert report.auto_approved == 1
    [response] = responses_of(client, auth, item)
    assert (response["status"], response["approved"], response["cost"]) == ("approved", True, 0.12)
    spent = client.get(f"/v1/hitblocks/{hitblock['id']}", headers=auth).json["total_spent"]
    assert Decimal(str(spent)) == start - balance(publishing) == Decimal("0.12")


def test_approve_and_reject_reach_mturk_and_repeats_change_nothing(
    app, client, auth, make_hitblock, publishing, mturk_calls
):
    start = balance(publishing)
    hitblock, items = setup_items(client, auth, make_hitblock, count=2)
    first = work(publishing, items[0]["hit_id"])
    second = work(publishing, items[1]["hit_id"], "AWORKER2")
    poll(app)
    good = responses_of(client, auth, items[0])[0]
    bad = responses_of(client, auth, items[1])[0]

    approved = client.post(f"/v1/responses/{good['id']}/approve", json={"feedback": "thanks"},
                           headers=auth)  # fmt: skip
    assert approved.status_code == 200, approved.json
    assert approved.json["approved"] is True and approved.json["cost"] == 0.12
    assert (
        publishing.client.get_assignment(AssignmentId=first)["Assignment"]["AssignmentStatus"]
        == "Approved"
    )
    mturk_calls.clear()
    again = client.post(f"/v1/response/{good['id']}/approve", headers=auth)
    assert again.status_code == 200 and again.json["status"] == "approved"
    assert sum(mturk_calls.values()) == 0

    assert_error(client.post(f"/v1/responses/{bad['id']}/reject", json={}, headers=auth), 400,
                 param="feedback")  # fmt: skip
    rejected = client.post(f"/v1/responses/{bad['id']}/reject", json={"feedback": "empty"},
                           headers=auth)  # fmt: skip
    assert rejected.status_code == 200 and rejected.json["approved"] is False
    mturk = publishing.client.get_assignment(AssignmentId=second)["Assignment"]
    assert (mturk["AssignmentStatus"], mturk["RequesterFeedback"]) == ("Rejected", "empty")
    conflict = client.post(f"/v1/responses/{bad['id']}/approve", headers=auth)
    assert_error(conflict, 409)

    spent = Decimal(
        str(client.get(f"/v1/hitblocks/{hitblock['id']}", headers=auth).json["total_spent"])
    )
    assert spent == start - balance(publishing) == Decimal("0.12")
    assert client.get(f"/v1/item/{items[0]['id']}", headers=auth).json["cost"] == 0.12
    assert client.get(f"/v1/item/{items[1]['id']}", headers=auth).json["cost"] == 0


def test_mturks_state_wins_when_it_auto_approved_first(
    app, client, auth, make_hitblock, publishing
):
    _, (item,) = setup_items(client, auth, make_hitblock, auto_approval_delay_in_seconds=1)
    work(publishing, item["hit_id"])
    poll(app)
    response = responses_of(client, auth, item)[0]
    time.sleep(1.2)  # MTurk auto-approves; we have not polled since
    conflict = client.post(f"/v1/responses/{response['id']}/reject", json={"feedback": "no"},
                           headers=auth)  # fmt: skip
    assert_error(conflict, 409)
    now = client.get(f"/v1/responses/{response['id']}", headers=auth).json
    assert (now["status"], now["cost"]) == ("approved", 0.12)


def test_bulk_review_of_a_hitblock_reports_each_outcome(
    app, client, auth, make_hitblock, publishing
):
    hitblock, items = setup_items(client, auth, make_hitblock, count=3)
    for n, item in enumerate(items):
        work(publishing, item["hit_id"], f"AWORKER{n}")
    poll(app)
    listed = client.get(f"/v1/hitblocks/{hitblock['id']}/responses?status=submitted", headers=auth)
    assert len(listed.json["data"]) == 3
    result = client.post(f"/v1/hitblocks/{hitblock['id']}/responses/approve", headers=auth).json
    assert result["object"] == "review_result"
    assert sorted(r["status"] for r in result["results"]) == ["approved"] * 3
    assert all(r["error"] is None for r in result["results"])
    assert client.get(f"/v1/hitblock/{hitblock['id']}/responses?status=submitted",
                      headers=auth).json["data"] == []  # fmt: skip
    again = client.post(f"/v1/hitblocks/{hitblock['id']}/responses/approve", headers=auth).json
    assert again["results"] == []


def test_bulk_reject_of_an_item_needs_feedback(app, client, auth, make_hitblock, publishing):
    _, (item,) = setup_items(client, auth, make_hitblock, workers_per_item=2)
    work(publishing, item["hit_id"], "AWORKER1")
    work(publishing, item["hit_id"], "AWORKER2")
    poll(app)
    path = f"/v1/item/{item['id']}/responses/reject"
    assert_error(client.post(path, json={}, headers=auth), 400, param="feedback")
    result = client.post(path, json={"feedback": "blank"}, headers=auth).json
    assert [r["status"] for r in result["results"]] == ["rejected", "rejected"]


def test_bonus_is_paid_once_and_counted(app, client, auth, make_hitblock, publishing):
    start = balance(publishing)
    hitblock, (item,) = setup_items(client, auth, make_hitblock)
    work(publishing, item["hit_id"])
    poll(app)
    response = responses_of(client, auth, item)[0]
    assert_error(client.post(f"/v1/responses/{response['id']}/bonus", json={"amount": 1},
                             headers=auth), 400, param="reason")  # fmt: skip
    paid = client.post(f"/v1/responses/{response['id']}/bonus",
                       json={"amount": "1.50", "reason": "careful work"}, headers=auth)  # fmt: skip
    assert paid.status_code == 200, paid.json
    assert (paid.json["status"], paid.json["amount"], paid.json["cost"]) == ("paid", 1.5, 1.8)
    payments = publishing.client.list_bonus_payments(HITId=item["hit_id"])["BonusPayments"]
    assert [(p["BonusAmount"], p["Reason"]) for p in payments] == [("1.50", "careful work")]
    poll(app)  # nothing pending to retry
    assert publishing.client.list_bonus_payments(HITId=item["hit_id"])["NumResults"] == 1
    spent = client.get(f"/v1/hitblocks/{hitblock['id']}", headers=auth).json["total_spent"]
    assert Decimal(str(spent)) == start - balance(publishing) == Decimal("1.80")


def test_a_bonus_left_pending_by_an_outage_is_paid_once_by_the_poller(
    app, client, auth, make_hitblock, publishing
):
    _, (item,) = setup_items(client, auth, make_hitblock)
    work(publishing, item["hit_id"])
    poll(app)
    response = responses_of(client, auth, item)[0]
    publishing.faults.queued += [("SendBonus", "fault")] * 3
    body = {"amount": "0.50", "reason": "thanks"}
    failed = client.post(f"/v1/responses/{response['id']}/bonus", json=body, headers=auth)
    assert_error(failed, 503, "api_error")
    with app.app_context():
        assert db.session.scalar(select(Bonus.status)) == "pending"
    assert poll(app).bonuses_paid == 1
    assert poll(app).bonuses_paid == 0
    assert publishing.client.list_bonus_payments(HITId=item["hit_id"])["NumResults"] == 1


def test_hostile_and_malformed_answers_are_kept_raw_and_flagged(
    app, client, auth, make_hitblock, publishing
):
    from mturk.service.lifecycle import refresh_status
    from mturk.service.store import HIT, Assignment

    _, items = setup_items(client, auth, make_hitblock, count=3)
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]><QuestionFormAnswers>'
        "&lol2;</QuestionFormAnswers>"
    )
    store = publishing.app.extensions["mturk_local_store"]
    now = time.time()
    with store.transaction() as session:
        for item, answer in zip(items[:2], [bomb, "not xml at all"], strict=True):
            session.add(
                Assignment(
                    hit_id=item["hit_id"], worker_id="AEVIL", status="Submitted",
                    deadline=now + 60, submit_time=now, auto_approval_time=now + 3600,
                    answer=answer,
                )
            )  # fmt: skip
            session.flush()
            hit = session.scalars(select(HIT).where(HIT.id == item["hit_id"])).one()
            refresh_status(session, hit)
    work(publishing, items[2]["hit_id"])
    report = poll(app)
    assert report.new_responses == 3 and report.errors == []
    for item, raw in zip(items[:2], [bomb, "not xml at all"], strict=True):
        [response] = responses_of(client, auth, item)
        assert response["data"] == {} and response["answer_error"]
        with app.app_context():
            assert db.session.get(Response, response["id"]).answer_xml == raw
    assert responses_of(client, auth, items[2])[0]["data"] == {"transcription": "12.00"}


def test_throttling_and_faults_are_retried_without_loss(
    app, client, auth, make_hitblock, publishing
):
    _, items = setup_items(client, auth, make_hitblock, count=3)
    for n, item in enumerate(items):
        work(publishing, item["hit_id"], f"AWORKER{n}")
    publishing.faults.queued += [
        ("ListReviewableHITs", "throttle"),
        ("ListAssignmentsForHIT", "fault"),
        ("ListAssignmentsForHIT", "throttle"),
    ]
    report = poll(app)
    assert report.new_responses == 3 and report.errors == []


def test_an_outage_mid_cycle_loses_nothing(app, client, auth, make_hitblock, publishing):
    _, items = setup_items(client, auth, make_hitblock, count=2)
    for n, item in enumerate(items):
        work(publishing, item["hit_id"], f"AWORKER{n}")
    publishing.faults.queued += [("ListAssignmentsForHIT", "fault")] * 3
    first = poll(app, concurrency=1)  # one HIT after the other: the first takes every fault
    assert first.new_responses == 1 and len(first.errors) == 1
    assert poll(app).new_responses == 1
    assert all(len(responses_of(client, auth, item)) == 1 for item in items)


KILL_SCRIPT = textwrap.dedent(
    """
    import os, sys
    from app import create_app
    from app.extensions import db
    from app.gateway import mturk_gateway
    from app.services.polling import poll_once

    app = create_app({"DATABASE_URL": sys.argv[1], "MTURK_ENDPOINT": sys.argv[2]})
    with app.app_context():
        gateway = mturk_gateway()
        gateway.mark_reviewing = lambda hit_id: os._exit(86)  # killed mid-cycle
        poll_once(db.session, gateway)
    os._exit(1)
    """
)


def test_a_poller_killed_mid_cycle_loses_and_duplicates_nothing(
    app, client, auth, make_hitblock, publishing
):
    _, items = setup_items(client, auth, make_hitblock, count=3)
    for n, item in enumerate(items):
        work(publishing, item["hit_id"], f"AWORKER{n}")
    killed = run_killed_script(KILL_SCRIPT, app.config["SQLALCHEMY_DATABASE_URI"], publishing.url)
    assert killed.returncode == 86, killed.stderr
    with app.app_context():
        # The batch of three HITs was committed, then the kill came before any HIT was
        # moved to Reviewing: the next cycles find them Reviewable again and store nothing twice.
        assert db.session.scalar(select(func.count(Response.id))) == 3
    poll(app)
    poll(app)
    with app.app_context():
        assignments = db.session.scalars(select(Response.assignment_id)).all()
    assert len(assignments) == len(set(assignments)) == 3


def test_poll_once_command(app, client, auth, make_hitblock, publishing, monkeypatch):
    from app.cli import main

    _, (item,) = setup_items(client, auth, make_hitblock)
    work(publishing, item["hit_id"])
    monkeypatch.setattr("app.cli.create_app", lambda: app)
    result = CliRunner().invoke(main, ["poll", "--once"])
    assert result.exit_code == 0, result.output
    assert '"new_responses": 1' in result.output


def test_another_accounts_responses_are_404(app, client, auth, other_auth, make_hitblock,
                                             publishing):  # fmt: skip
    hitblock, (item,) = setup_items(client, auth, make_hitblock)
    work(publishing, item["hit_id"])
    poll(app)
    response = responses_of(client, auth, item)[0]
    for path in (f"/v1/responses/{response['id']}", f"/v1/hitblocks/{hitblock['id']}/responses"):
        assert_error(client.get(path, headers=other_auth), 404)
    assert_error(client.post(f"/v1/responses/{response['id']}/approve", headers=other_auth), 404)
    assert client.get(f"/v1/responses/{response['id']}", headers=auth).json["status"] == "submitted"


@pytest.mark.parametrize("holder_expires_in", [timedelta(minutes=5), timedelta(minutes=-1)])
def test_the_poller_lease_admits_one_holder_at_a_time(app, holder_expires_in):
    from app.jobs import acquire_lease, release_lease

    with app.app_context():
        assert acquire_lease(db.session, "poller", holder_expires_in, "host-a")
        second = acquire_lease(db.session, "poller", timedelta(minutes=5), "host-b")
        assert second is (holder_expires_in < timedelta(0))  # only an expired lease is taken
        release_lease(db.session, "poller", "host-a")
        release_lease(db.session, "poller", "host-b")
        assert acquire_lease(db.session, "poller", timedelta(minutes=5), "host-c")


def test_run_poll_cycle_skips_while_another_process_holds_the_lease(app, publishing):
    from app.jobs import acquire_lease, run_poll_cycle

    with app.app_context():
        acquire_lease(db.session, "poller", timedelta(minutes=5), "elsewhere")
    assert run_poll_cycle(app) is None
