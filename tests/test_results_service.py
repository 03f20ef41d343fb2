"""Results on their own, with a fake gateway: the MTurk-format CSV and JSON Lines exports
(columns, notation, formula escaping, chunked reading) and review by upload (every rule of
MTurk's Approve / Reject columns, every row reported, nothing done for a bad file)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import flask_migrate
import pytest
from sqlalchemy import event, select

from app import create_app
from app.domain import InvalidInput, NotFound
from app.extensions import db
from app.models import Hitblock, Item, Response
from app.services import results
from app.services.accounts import create_key
from mturk.gateway import MTurkUnavailable
from tests.helpers.fake_gateway import ReviewGateway

ACCEPTED = datetime(2026, 12, 6, 18, 0, 0, tzinfo=UTC)  # 10:00 in Seattle (PST)
SUBMITTED = ACCEPTED + timedelta(seconds=95)
PLAIN = (
    "<form><img src='${image_url}'><textarea name='transcription'></textarea>"
    "<input type=checkbox name=flags value=a><input type=checkbox name=flags value=b>"
    "<button>Submit</button></form>"
)
CROWD = "<crowd-form><crowd-input name='total'></crowd-input></crowd-form>"


def add_results(
    session: Any,
    account_id: int,
    answers: list[dict[str, Any]],
    template: str = PLAIN,
    params: dict[str, Any] | None = None,
    **fields: Any,
) -> Hitblock:
    """A published hitblock with one item per answer, each answered once (AssignmentIds
    ``ASG<n>``, workers ``W<n>``), submitted at ``SUBMITTED``."""
    hitblock = Hitblock(
        account_id=account_id,
        type="html",
        title="Receipts",
        description="Type the total",
        keywords="receipt, total",
        cost_per_item=Decimal("0.10"),
        workers_per_item=1,
        template=template,
        lifetime_in_seconds=86400,
        assignment_duration_in_seconds=600,
        auto_approval_delay_in_seconds=259200,
        qualification_requirements=[],
        hit_type_id="TYPE0000000000000001",
        status="in_progress",
        **fields,
    )
    session.add(hitblock)
    session.flush()
    number = session.scalar(select(Response.id).order_by(Response.id.desc()).limit(1)) or 0
    for data in answers:
        number += 1
        item = Item(
            hitblock=hitblock,
            type="html",
            params=params if params is not None else {"image_url": f"https://e.org/{number}.jpg"},
            status="completed",
            hit_id=f"HIT{number:017d}",
            published=ACCEPTED - timedelta(hours=1),
            unique_request_token=f"tok{number}",
        )
        session.add(item)
        session.flush()
        session.add(
            Response(
                item_id=item.id,
                assignment_id=f"ASG{number}",
                worker_id=f"W{number}",
                data=data,
                accepted=ACCEPTED,
                submitted=SUBMITTED,
                auto_approval_due=SUBMITTED + timedelta(days=3),
            )
        )
    session.commit()
    return hitblock


def exported(session, account_id, hitblock_id, **options) -> list[dict[str, str]]:
    text = "".join(results.export_csv(session, account_id, hitblock_id, **options))
    return list(csv.DictReader(io.StringIO(text, newline="")))


def header_of(session, account_id, hitblock_id) -> list[str]:
    text = "".join(results.export_csv(session, account_id, hitblock_id))
    return next(csv.reader(io.StringIO(text, newline="")))


# ---- export ------------------------------------------------------------------------------


def test_the_csv_has_mturks_columns_in_order_then_inputs_answers_approve_reject(
    session, account_id
):
    hitblock = add_results(
        session,
        account_id,
        [{"transcription": "12.00", "flags": ["a", "b"]}, {"transcription": "3", "note": "x"}],
    )
    header = header_of(session, account_id, hitblock.id)
    assert header[:27] == list(results.MTURK_COLUMNS)
    assert header[27:] == [
        "Input.image_url",
        "Answer.flags",
        "Answer.note",
        "Answer.transcription",
        "Approve",
        "Reject",
    ]
    first, second = exported(session, account_id, hitblock.id)
    assert first["Answer.flags"] == "a|b"  # MTurk's FreeText of a checkbox group
    assert first["Answer.note"] == "" and second["Answer.note"] == "x"
    assert first["Approve"] == first["Reject"] == ""


def test_values_are_written_in_mturks_notation(session, account_id):
    hitblock = add_results(session, account_id, [{"transcription": "12.00"}])
    [row] = exported(session, account_id, hitblock.id)
    response = session.scalars(select(Response)).one()
    item = session.scalars(select(Item)).one()
    assert row["HITId"] == item.hit_id
    assert row["HITTypeId"] == "TYPE0000000000000001"
    assert (row["Title"], row["Description"], row["Keywords"]) == (
        "Receipts",
        "Type the total",
        "receipt, total",
    )
    assert row["Reward"] == "$0.10"
    assert row["CreationTime"] == "Sun Dec 06 09:00:00 PST 2026"
    assert row["Expiration"] == "Mon Dec 07 09:00:00 PST 2026"  # published + lifetime
    assert row["MaxAssignments"] == "1"
    assert row["RequesterAnnotation"] == f"hitblocks:item:{item.id}:tok{response.id}"
    assert row["AssignmentDurationInSeconds"] == "600"
    assert row["AutoApprovalDelayInSeconds"] == "259200"
    assert row["NumberOfSimilarHITs"] == row["LifetimeInSeconds"] == ""
    assert (row["AssignmentId"], row["WorkerId"]) == (response.assignment_id, "W1")
    assert row["AssignmentStatus"] == "Submitted"
    assert row["AcceptTime"] == "Sun Dec 06 10:00:00 PST 2026"
    assert row["SubmitTime"] == "Sun Dec 06 10:01:35 PST 2026"
    assert row["AutoApprovalTime"] == "Wed Dec 09 10:01:35 PST 2026"
    assert row["ApprovalTime"] == row["RejectionTime"] == row["RequesterFeedback"] == ""
    assert row["WorkTimeInSeconds"] == "95"
    assert row["LifetimeApprovalRate"] == "0% (0/0)"


def test_summer_times_are_pdt():
    assert results.mturk_time(datetime(2026, 7, 4, 19, 5, 6, tzinfo=UTC)) == (
        "Sat Jul 04 12:05:06 PDT 2026"
    )
    assert results.mturk_time(None) == ""


def test_reviewed_responses_show_status_times_feedback_and_approval_rates(session, account_id):
    hitblock = add_results(session, account_id, [{"t": "1"}, {"t": "2"}, {"t": "3"}])
    approved, rejected, _ = session.scalars(select(Response).order_by(Response.id)).all()
    reviewed = SUBMITTED + timedelta(hours=2)
    approved.status, approved.reviewed, approved.feedback = "approved", reviewed, "thanks"
    rejected.status, rejected.reviewed, rejected.feedback = "rejected", reviewed, "blank"
    rejected.worker_id = approved.worker_id  # one worker: 1 of 2 approved
    session.commit()
    rows = exported(session, account_id, hitblock.id)
    assert [r["AssignmentStatus"] for r in rows] == ["Approved", "Rejected", "Submitted"]
    assert rows[0]["ApprovalTime"] == "Sun Dec 06 12:01:35 PST 2026"
    assert rows[0]["RejectionTime"] == "" and rows[1]["ApprovalTime"] == ""
    assert rows[1]["RejectionTime"] == "Sun Dec 06 12:01:35 PST 2026"
    assert [r["RequesterFeedback"] for r in rows] == ["thanks", "blank", ""]
    assert rows[0]["LifetimeApprovalRate"] == rows[1]["LifetimeApprovalRate"] == "50% (1/2)"
    assert rows[2]["LifetimeApprovalRate"] == "0% (0/0)"


def test_crowd_form_answers_are_one_task_answers_column_as_mturk_had_them(session, account_id):
    hitblock = add_results(
        session, account_id, [{"total": "12.00", "sure": {"on": True}}], template=CROWD
    )
    [row] = exported(session, account_id, hitblock.id)
    assert [name for name in row if name.startswith("Answer.")] == ["Answer.taskAnswers"]
    assert json.loads(row["Answer.taskAnswers"]) == [{"total": "12.00", "sure": {"on": True}}]


def test_a_flattening_crowd_form_has_a_column_per_field():
    flatten = "<crowd-form answer-format='flatten-objects'><crowd-input name=a></crowd-form>"
    assert results.answers_as_task_answers(CROWD)
    assert not results.answers_as_task_answers(flatten)
    assert not results.answers_as_task_answers(PLAIN)


def test_items_without_responses_and_other_hitblocks_have_no_rows(session, account_id):
    hitblock = add_results(session, account_id, [{"t": "1"}])
    session.add(Item(hitblock_id=hitblock.id, type="html", params={"image_url": "u"}))
    other = add_results(session, account_id, [{"t": "2"}])
    session.commit()
    assert [r["Answer.t"] for r in exported(session, account_id, hitblock.id)] == ["1"]
    assert [r["Answer.t"] for r in exported(session, account_id, other.id)] == ["2"]


def test_an_empty_hitblock_exports_its_header(session, account_id):
    hitblock = add_results(session, account_id, [])
    assert header_of(session, account_id, hitblock.id)[-2:] == ["Approve", "Reject"]
    assert list(results.export_jsonl(session, account_id, hitblock.id)) == []


def test_another_accounts_hitblock_is_not_found_before_any_text(session, account_id):
    hitblock = add_results(session, account_id, [{"t": "1"}])
    other = create_key(session, "globex").account_id
    for export in (results.export_csv, results.export_jsonl):
        with pytest.raises(NotFound):
            export(session, other, hitblock.id)  # raised by the call, not by iterating


@pytest.mark.parametrize(
    ("answer", "written"),
    [
        ('=HYPERLINK("http://evil","x")', '\'=HYPERLINK("http://evil","x")'),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("-5", "-5"),  # numbers stay numbers
        ("+1.5e3", "+1.5e3"),
        ("12.00", "12.00"),
        ("a=b", "a=b"),
    ],
)
def test_cells_a_spreadsheet_would_run_are_escaped_unless_asked_not_to(
    session, account_id, answer, written
):
    hitblock = add_results(session, account_id, [{"t": answer}])
    [row] = exported(session, account_id, hitblock.id)
    assert row["Answer.t"] == written
    [raw] = exported(session, account_id, hitblock.id, escape_formulas=False)
    assert raw["Answer.t"] == answer
    [line] = results.export_jsonl(session, account_id, hitblock.id)
    assert json.loads(line)["answer"] == {"t": answer}


def test_inputs_keep_strings_and_write_other_values_as_json(session, account_id):
    hitblock = add_results(
        session, account_id, [{"t": "1"}], params={"n": 3, "tags": ["a", "b"], "s": "x,y",
                                                   "f": "@x"},
    )  # fmt: skip
    [row] = exported(session, account_id, hitblock.id)
    assert (row["Input.n"], row["Input.tags"], row["Input.s"]) == ("3", '["a","b"]', "x,y")
    assert row["Input.f"] == "'@x"  # inputs may come from anywhere too


def test_jsonl_has_one_object_per_response_with_input_and_answer(session, account_id):
    hitblock = add_results(session, account_id, [{"t": "1", "flags": ["a"]}, {"t": "2"}])
    lines = "".join(results.export_jsonl(session, account_id, hitblock.id)).splitlines()
    first = json.loads(lines[0])
    assert len(lines) == 2
    assert first["object"] == "result"
    assert first["assignment_id"] == "ASG1" and first["worker_id"] == "W1"
    assert first["input"] == {"image_url": "https://e.org/1.jpg"}
    assert first["answer"] == {"t": "1", "flags": ["a"]}
    assert first["status"] == "submitted" and first["cost"] == 0.0
    assert first["submitted"] == int(SUBMITTED.timestamp())
    assert first["work_time_in_seconds"] == 95


def test_rows_are_read_in_chunks_so_statements_grow_with_chunks_not_rows(app, session, account_id):
    hitblock = add_results(session, account_id, [{"t": str(n)} for n in range(25)])
    engine = session.get_bind()
    seen: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        chunks = results.export_csv(session, account_id, hitblock.id, chunk=10)
        before_rows = len(seen)  # the hitblock, looked up before any text
        text = "".join(chunks)
        csv_statements = len(seen) - before_rows
        seen.clear()
        lines = "".join(results.export_jsonl(session, account_id, hitblock.id, chunk=10))
        jsonl_statements = len(seen)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert text.count("\r\n") == 26 and lines.count("\n") == 25
    # Input keys, answer keys, approval rates, then 3 chunks of 10 (the last one short).
    assert csv_statements == 3 + 3
    assert jsonl_statements == 1 + 3
    assert sum(1 for s in seen if "LIMIT" in s) == 3


# ---- upload ------------------------------------------------------------------------------


def upload(session, gateway, account_id, hitblock_id, rows, header=None, **options):
    header = header or ["AssignmentId", "Approve", "Reject"]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return results.review_from_csv(
        session, gateway, account_id, hitblock_id, io.StringIO(out.getvalue(), newline=""), 2,
        **options,
    )  # fmt: skip


def statuses(session) -> list[str]:
    return list(session.scalars(select(Response.status).order_by(Response.id)))


def test_approve_reject_and_skip_rows_reach_mturk_and_every_row_is_reported(session, account_id):
    hitblock = add_results(session, account_id, [{"t": "1"}, {"t": "2"}, {"t": "3"}])
    gateway = ReviewGateway()
    result = upload(
        session,
        gateway,
        account_id,
        hitblock.id,
        [["ASG1", "x", ""], ["ASG2", "", "The total is missing."], ["ASG3", "", ""]],
    )
    assert (result.approved, result.rejected, result.skipped, result.failed) == (1, 1, 1, 0)
    assert [(r.row, r.assignment_id, r.action, r.status) for r in result.rows] == [
        (2, "ASG1", "approve", "approved"),
        (3, "ASG2", "reject", "rejected"),
        (4, "ASG3", "skip", "submitted"),
    ]
    assert [r.response for r in result.rows] == list(
        session.scalars(select(Response.id).order_by(Response.id))
    )
    assert sorted(gateway.decisions) == [
        ("ASG1", "Approved", None),
        ("ASG2", "Rejected", "The total is missing."),
    ]
    assert statuses(session) == ["approved", "rejected", "submitted"]
    feedback = session.scalars(select(Response.feedback).order_by(Response.id)).all()
    assert feedback == [None, "The total is missing.", None]


def test_a_repeat_upload_changes_nothing_and_calls_mturk_for_nothing(session, account_id):
    hitblock = add_results(session, account_id, [{"t": "1"}, {"t": "2"}])
    gateway = ReviewGateway()
    rows = [["ASG1", "x", ""], ["ASG2", "", "no"]]
    upload(session, gateway, account_id, hitblock.id, rows)
    gateway.calls.clear()
    again = upload(session, gateway, account_id, hitblock.id, rows)
    assert gateway.calls == []
    assert [(r.status, r.error) for r in again.rows] == [("approved", None), ("rejected", None)]
    assert (again.approved, again.rejected, again.failed) == (1, 1, 0)


def test_row_errors_are_reported_and_the_other_rows_done(session, account_id):
    hitblock = add_results(session, account_id, [{"t": "1"}, {"t": "2"}, {"t": "3"}])
    elsewhere = add_results(session, account_id, [{"t": "4"}])  # ASG4: another hitblock's
    del elsewhere
    gateway = ReviewGateway()
    result = upload(
        session,
        gateway,
        account_id,
        hitblock.id,
        [
            ["ASG1", "x", "and no"],  # both
            ["", "x", ""],  # no AssignmentId
            ["ASG4", "x", ""],  # another hitblock's
            ["NOSUCH", "x", ""],
            ["ASG2", "", "r" * 1025],  # feedback too long
            ["ASG3", "x", ""],
            ["ASG3", "", "changed my mind"],  # a second decision on ASG3
        ],
    )
    codes = [(r.row, r.error.code if r.error else None) for r in result.rows]
    assert codes == [
        (2, "approve_and_reject"),
        (3, "assignment_id_missing"),
        (4, "assignment_not_found"),
        (5, "assignment_not_found"),
        (6, "feedback_too_long"),
        (7, None),
        (8, "duplicate_assignment"),
    ]
    assert result.rows[2].response is None and result.rows[2].status is None
    assert (result.approved, result.failed) == (1, 6)
    assert gateway.decisions == [("ASG3", "Approved", None)]
    assert statuses(session) == ["submitted", "submitted", "approved", "submitted"]


def test_mturks_own_state_wins_and_its_errors_are_row_errors(session, account_id):
    hitblock = add_results(session, account_id, [{"t": "1"}, {"t": "2"}, {"t": "3"}])
    gateway = ReviewGateway()
    gateway.states["ASG1"] = "Approved"  # auto-approved on MTurk, not polled yet
    gateway.fail["ASG2"] = MTurkUnavailable("down", "ServiceUnavailable")
    result = upload(
        session, gateway, account_id, hitblock.id,
        [["ASG1", "", "bad"], ["ASG2", "x", ""], ["ASG3", "x", ""]],
    )  # fmt: skip
    first, second, third = result.rows
    assert (first.status, first.error.code) == ("approved", "response_already_reviewed")
    assert (second.status, second.error.code) == ("submitted", "ServiceUnavailable")
    assert (third.status, third.error) == ("approved", None)
    assert statuses(session) == ["approved", "submitted", "approved"]


def test_an_already_reviewed_response_asked_otherwise_is_an_error_without_a_call(
    session, account_id
):
    hitblock = add_results(session, account_id, [{"t": "1"}])
    session.scalars(select(Response)).one().status = "approved"
    session.commit()
    gateway = ReviewGateway()
    [row] = upload(session, gateway, account_id, hitblock.id, [["ASG1", "", "no"]]).rows
    assert row.error.code == "response_already_reviewed" and gateway.calls == []


def test_only_the_three_columns_are_needed_and_extra_columns_are_ignored(session, account_id):
    hitblock = add_results(session, account_id, [{"t": "1"}])
    gateway = ReviewGateway()
    result = upload(
        session, gateway, account_id, hitblock.id, [["x", "ASG1", "anything"]],
        header=["Approve", "AssignmentId", "Notes"],
    )  # fmt: skip
    assert [(r.action, r.status) for r in result.rows] == [("approve", "approved")]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("HITId,Approve,Reject\r\nH1,x,\r\n", "no AssignmentId column"),
        ("AssignmentId,Notes\r\nASG1,x\r\n", "neither an Approve nor a Reject"),
        ("AssignmentId,Approve,Approve\r\nASG1,x,\r\n", "more than once"),
        ('AssignmentId,Approve\r\n"ASG1,x\r\n', "not readable as CSV"),  # quote left open
        ('AssignmentId,Approve\r\n"ASG1"x,x\r\n', "not readable as CSV"),
        ('{"AssignmentId": 1}', "no AssignmentId column"),
    ],
)
def test_a_bad_file_is_refused_and_nothing_is_done(session, account_id, text, message):
    hitblock = add_results(session, account_id, [{"t": "1"}])
    gateway = ReviewGateway()
    with pytest.raises(InvalidInput) as raised:
        results.review_from_csv(
            session, gateway, account_id, hitblock.id, io.StringIO(text, newline=""), 2
        )
    assert message in raised.value.message and raised.value.param == "file"
    assert gateway.calls == [] and statuses(session) == ["submitted"]


def test_a_file_that_is_not_utf8_is_refused(session, account_id):
    hitblock = add_results(session, account_id, [{"t": "1"}])
    raw = io.TextIOWrapper(io.BytesIO("AssignmentId,Reject\r\nASG1,trop payé\r\n".encode(
        "latin-1")), encoding="utf-8-sig", newline="")  # fmt: skip
    with pytest.raises(InvalidInput, match="UTF-8"):
        results.review_from_csv(session, ReviewGateway(), account_id, hitblock.id, raw, 2)


def test_too_many_decisions_are_refused_before_any_call(session, account_id):
    hitblock = add_results(session, account_id, [{"t": "1"}, {"t": "2"}, {"t": "3"}])
    gateway = ReviewGateway()
    rows = [["ASG1", "x", ""], ["ASG2", "x", ""], ["ASG3", "", ""]]
    with pytest.raises(InvalidInput) as raised:
        upload(session, gateway, account_id, hitblock.id, rows, max_decisions=1)
    assert raised.value.code == "results_upload_too_large" and gateway.calls == []
    assert upload(session, gateway, account_id, hitblock.id, rows, max_decisions=2).approved == 2


def test_another_accounts_hitblock_cannot_be_reviewed_by_upload(session, account_id):
    hitblock = add_results(session, account_id, [{"t": "1"}])
    other = create_key(session, "globex").account_id
    with pytest.raises(NotFound):
        upload(session, ReviewGateway(), other, hitblock.id, [["ASG1", "x", ""]])
    # Nor by naming its AssignmentIds in an upload to one's own hitblock.
    own = add_results(session, other, [{"t": "2"}])
    [row] = upload(session, ReviewGateway(), other, own.id, [["ASG1", "x", ""]]).rows
    assert row.error.code == "assignment_not_found" and statuses(session)[0] == "submitted"


def test_the_export_round_trips_through_the_upload(session, account_id):
    hitblock = add_results(session, account_id, [{"t": "1"}, {"t": "2"}, {"t": "3"}])
    text = "".join(results.export_csv(session, account_id, hitblock.id))
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    rows[0]["Approve"] = "x"
    rows[1]["Reject"] = "Unreadable."
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    gateway = ReviewGateway()
    result = results.review_from_csv(
        session, gateway, account_id, hitblock.id, io.StringIO(out.getvalue(), newline=""), 2
    )
    assert (result.approved, result.rejected, result.skipped) == (1, 1, 1)
    after = exported(session, account_id, hitblock.id)
    assert [r["AssignmentStatus"] for r in after] == ["Approved", "Rejected", "Submitted"]
    assert after[1]["RequesterFeedback"] == "Unreadable."


@pytest.mark.postgres
def test_the_export_and_upload_on_postgresql(postgres_schema_url):
    """The column union is listed by PostgreSQL's own JSON functions there."""
    app = create_app({"DATABASE_URL": postgres_schema_url, "TESTING": True})
    with app.app_context():
        flask_migrate.upgrade()
        session = db.session
        account_id = create_key(session, "acme").account_id
        hitblock = add_results(session, account_id, [{"t": "1", "flags": ["a"]}, {"u": "2"}])
        header = header_of(session, account_id, hitblock.id)
        assert header[27:] == ["Input.image_url", "Answer.flags", "Answer.t", "Answer.u",
                               "Approve", "Reject"]  # fmt: skip
        result = upload(session, ReviewGateway(), account_id, hitblock.id, [["ASG1", "x", ""]])
        assert result.approved == 1
        rows = exported(session, account_id, hitblock.id)
        assert [r["AssignmentStatus"] for r in rows] == ["Approved", "Submitted"]
        assert rows[0]["LifetimeApprovalRate"] == "100% (1/1)"
        session.remove()
        db.engine.dispose()
