"""Results: a hitblock's responses exported in MTurk's batch results format (CSV) or as JSON
Lines, streamed; and that CSV uploaded back with ``Approve`` / ``Reject`` filled in to review
in bulk, as MTurk's requester site did.

Exports read the responses in keyset chunks of ``CHUNK`` rows and hand out text chunk by
chunk, so 100,000 responses take the memory of one chunk. The CSV's ``Input.*`` and
``Answer.*`` columns are known before the first row is written: the database lists the
distinct keys (JSON functions of SQLite and PostgreSQL), so that pass costs memory per
distinct key, not per row.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Row, case, func, select, true, tuple_

from app.domain import InvalidInput
from app.models import Hitblock, Item, Response
from app.services import DbSession
from app.services.hitblocks import find_hitblock
from app.services.publishing import annotation
from app.services.responses import Decision, review_many
from mturk.gateway import MTurkError, MTurkGateway
from mturk.html_tags import start_tags

CHUNK = 1000  # rows read per statement
LOOKUP_CHUNK = 500  # AssignmentIds per IN (...) when an upload is matched to responses
MAX_UPLOAD_ROWS = 100_000
MAX_FEEDBACK = 1024  # MTurk's limit on RequesterFeedback

MTURK_COLUMNS = (
    "HITId",
    "HITTypeId",
    "Title",
    "Description",
    "Keywords",
    "Reward",
    "CreationTime",
    "MaxAssignments",
    "RequesterAnnotation",
    "AssignmentDurationInSeconds",
    "AutoApprovalDelayInSeconds",
    "Expiration",
    "NumberOfSimilarHITs",
    "LifetimeInSeconds",
    "AssignmentId",
    "WorkerId",
    "AssignmentStatus",
    "AcceptTime",
    "SubmitTime",
    "AutoApprovalTime",
    "ApprovalTime",
    "RejectionTime",
    "RequesterFeedback",
    "WorkTimeInSeconds",
    "LifetimeApprovalRate",
    "Last30DaysApprovalRate",
    "Last7DaysApprovalRate",
)
ASSIGNMENT_ID, APPROVE, REJECT = "AssignmentId", "Approve", "Reject"
ASSIGNMENT_STATUS = {"submitted": "Submitted", "approved": "Approved", "rejected": "Rejected"}
NO_RATE = "0% (0/0)"  # what MTurk wrote for a worker with no reviewed work

# OWASP's CSV injection advice: a cell starting with one of these is a formula to a
# spreadsheet. Numbers ("-5", "+1.5") are left alone: a spreadsheet reads them as numbers.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\Z")

# MTurk wrote its times in Seattle's time zone, English names whatever the locale.
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


# ---- export --------------------------------------------------------------------------------


def export_csv(
    session: DbSession,
    account_id: int,
    hitblock_id: int,
    *,
    escape_formulas: bool = True,
    chunk: int = CHUNK,
) -> Iterator[str]:
    """The hitblock's responses as MTurk's batch results CSV, one row per response (items
    without a response have no row: there is no assignment to show or review), in chunks of
    text. The hitblock is looked up now (``NotFound`` before any text); the rows as read.

    ``escape_formulas`` writes a cell that a spreadsheet would run as a formula (``=``, ``+``,
    ``-``, ``@``, tab, CR first; numbers excepted) with a ``'`` in front: answers are written
    by untrusted workers and this file is made to be opened in a spreadsheet.
    """
    hitblock = find_hitblock(session, account_id, hitblock_id)
    return _csv_chunks(session, hitblock, escape_formulas, chunk)


def export_jsonl(
    session: DbSession, account_id: int, hitblock_id: int, *, chunk: int = CHUNK
) -> Iterator[str]:
    """The hitblock's responses as JSON Lines, one object per response with its item's input
    and the answer exactly as stored (times as Unix seconds, like the API's objects)."""
    hitblock = find_hitblock(session, account_id, hitblock_id)
    return _jsonl_chunks(session, hitblock, chunk)


def _csv_chunks(
    session: DbSession, hitblock: Hitblock, escape_formulas: bool, chunk: int
) -> Iterator[str]:
    inputs = _distinct_keys(session, hitblock.id, Item.params)
    task_answers = answers_as_task_answers(hitblock.template)
    answers = ["taskAnswers"] if task_answers else _distinct_keys(session, hitblock.id, None)
    rates = _approval_rates(session, hitblock)
    escape = _escape if escape_formulas else _as_is
    fixed = _hitblock_cells(hitblock, escape)
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL)  # as MTurk's file: every cell quoted
    header = [
        *MTURK_COLUMNS,
        *(f"Input.{key}" for key in inputs),
        *(f"Answer.{key}" for key in answers),
        APPROVE,
        REJECT,
    ]
    writer.writerow(header)  # every name starts with a letter: nothing to escape
    for rows in _chunks(session, hitblock.id, chunk):
        for row in rows:
            # Escaped: the cells of people's text. MTurk's ids, times and numbers need not be.
            writer.writerow(
                [
                    *_mturk_cells(row, hitblock, fixed, rates, escape),
                    *(escape(_input_cell(row.params.get(key))) for key in inputs),
                    *(escape(cell) for cell in _answer_cells(row, answers, task_answers)),
                    "",
                    "",
                ]
            )
        yield _drain(buffer)
    if buffer.tell():  # the header alone: no response yet
        yield _drain(buffer)


def _jsonl_chunks(session: DbSession, hitblock: Hitblock, chunk: int) -> Iterator[str]:
    for rows in _chunks(session, hitblock.id, chunk):
        yield "".join(
            json.dumps(_result_object(row, hitblock), ensure_ascii=False) + "\n" for row in rows
        )


def _drain(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text


def _chunks(session: DbSession, hitblock_id: int, chunk: int) -> Iterator[list[Row[Any]]]:
    """The hitblock's responses with their items, by item then response (a HIT's
    assignments together, as in MTurk's file), ``chunk`` at a time. Keyset: each statement
    starts after the last (item, response) of the one before, walking the items' (hitblock,
    id) index, so a chunk costs the same at the end as at the start. Columns, not ORM
    objects, so the session keeps nothing between chunks."""
    after = (0, 0)
    while True:
        rows = list(
            session.execute(
                select(
                    Response.id,
                    Response.assignment_id,
                    Response.worker_id,
                    Response.status,
                    Response.data,
                    Response.answer_error,
                    Response.accepted,
                    Response.submitted,
                    Response.auto_approval_due,
                    Response.reviewed,
                    Response.feedback,
                    Response.cost,
                    Item.id.label("item_id"),
                    Item.params,
                    Item.hit_id,
                    Item.published,
                    Item.expires,
                    Item.unique_request_token,
                )
                .join(Item, Item.id == Response.item_id)
                .where(
                    Item.hitblock_id == hitblock_id,
                    tuple_(Item.id, Response.id) > tuple_(*after),
                )
                .order_by(Item.id, Response.id)
                .limit(chunk)
            )
        )
        if rows:
            yield rows
        if len(rows) < chunk:
            return
        after = (rows[-1].item_id, rows[-1].id)


def _distinct_keys(session: DbSession, hitblock_id: int, column: Any) -> list[str]:
    """The sorted union of the top-level keys of the items' ``params`` (``column``) or, for
    None, of the responses' ``data``, over the hitblock's responses; listed by the database."""
    source = Response.data if column is None else column
    if session.get_bind().dialect.name == "postgresql":
        each = func.jsonb_object_keys(source).table_valued("key").render_derived()
    else:
        each = func.json_each(source).table_valued("key")
    keys = session.scalars(
        select(each.c.key)
        .distinct()
        .select_from(Response)
        .join(Item, Item.id == Response.item_id)
        .join(each, true())
        .where(Item.hitblock_id == hitblock_id)
    )
    return sorted(str(name) for name in keys)


@lru_cache(maxsize=256)
def answers_as_task_answers(template: str) -> bool:
    """Whether the template's answers reach MTurk as one ``taskAnswers`` JSON array: a
    ``<crowd-form>`` without ``answer-format="flatten-objects"``. MTurk's CSV showed those in
    one ``Answer.taskAnswers`` column; a flattening crowd-form's fields have their own."""
    for tag, attributes in start_tags(template):
        if tag == "crowd-form":
            return (attributes.get("answer-format") or "").strip().lower() != "flatten-objects"
    return False


def _approval_rates(session: DbSession, hitblock: Hitblock) -> dict[str, tuple[str, str, str]]:
    """Each of this hitblock's workers' approval rate on the account's work (all its
    hitblocks): lifetime, and for work submitted in the last 30 and 7 days, as MTurk wrote
    them ("75% (3/4)"). One statement; memory per worker."""
    now = datetime.now(UTC)
    reviewed = Response.status.in_(("approved", "rejected"))
    approved = Response.status == "approved"

    def counts(since: datetime | None) -> tuple[Any, Any]:
        if since is None:
            return func.sum(case((approved, 1), else_=0)), func.count(Response.id)
        recent = Response.submitted >= since
        return (
            func.sum(case((approved & recent, 1), else_=0)),
            func.sum(case((recent, 1), else_=0)),
        )

    workers = (
        select(Response.worker_id)
        .join(Item, Item.id == Response.item_id)
        .where(Item.hitblock_id == hitblock.id)
    )
    rows = session.execute(
        select(
            Response.worker_id,
            *counts(None),
            *counts(now - timedelta(days=30)),
            *counts(now - timedelta(days=7)),
        )
        .join(Item, Item.id == Response.item_id)
        .join(Hitblock, Hitblock.id == Item.hitblock_id)
        .where(
            Hitblock.account_id == hitblock.account_id,
            reviewed,
            Response.worker_id.in_(workers),
        )
        .group_by(Response.worker_id)
    )
    return {
        worker: (_rate(a1, t1), _rate(a30, t30), _rate(a7, t7))
        for worker, a1, t1, a30, t30, a7, t7 in rows
    }


def _rate(approved: int | None, total: int | None) -> str:
    if not total:
        return NO_RATE
    percent = (200 * (approved or 0) + total) // (2 * total)  # rounded half up
    return f"{percent}% ({approved or 0}/{total})"


def _hitblock_cells(hitblock: Hitblock, escape: Callable[[str], str]) -> dict[str, str]:
    return {
        "HITTypeId": hitblock.hit_type_id or "",
        "Title": escape(hitblock.title),
        "Description": escape(hitblock.description),
        "Keywords": escape(hitblock.keywords),
        "Reward": f"${hitblock.cost_per_item:.2f}",
        "MaxAssignments": str(hitblock.workers_per_item),
        "AssignmentDurationInSeconds": str(hitblock.assignment_duration_in_seconds),
        "AutoApprovalDelayInSeconds": str(hitblock.auto_approval_delay_in_seconds),
    }


def _mturk_cells(
    row: Row[Any],
    hitblock: Hitblock,
    fixed: dict[str, str],
    rates: dict[str, tuple[str, str, str]],
    escape: Callable[[str], str],
) -> list[str]:
    """The 27 columns MTurk wrote before the inputs, in its order and its notation."""
    expiration = row.expires or (
        row.published + timedelta(seconds=hitblock.lifetime_in_seconds) if row.published else None
    )
    lifetime, last30, last7 = rates.get(row.worker_id, (NO_RATE, NO_RATE, NO_RATE))
    return [
        row.hit_id or "",
        fixed["HITTypeId"],
        fixed["Title"],
        fixed["Description"],
        fixed["Keywords"],
        fixed["Reward"],
        mturk_time(row.published),
        fixed["MaxAssignments"],
        annotation(row.item_id, row.unique_request_token) if row.unique_request_token else "",
        fixed["AssignmentDurationInSeconds"],
        fixed["AutoApprovalDelayInSeconds"],
        mturk_time(expiration),
        "",  # NumberOfSimilarHITs: MTurk left it empty
        "",  # LifetimeInSeconds: so did it this
        row.assignment_id,
        row.worker_id,
        ASSIGNMENT_STATUS.get(row.status, row.status),
        mturk_time(row.accepted),
        mturk_time(row.submitted),
        mturk_time(row.auto_approval_due),
        mturk_time(row.reviewed) if row.status == "approved" else "",
        mturk_time(row.reviewed) if row.status == "rejected" else "",
        escape(row.feedback or ""),
        _work_time(row),
        lifetime,
        last30,
        last7,
    ]


def _work_time(row: Row[Any]) -> str:
    if row.accepted is None or row.submitted is None:
        return ""
    return str(max(0, int((row.submitted - row.accepted).total_seconds())))


def _input_cell(value: Any) -> str:
    """An item's value as text: a string as it is, anything else as JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return _json(value)


def _answer_cells(row: Row[Any], answers: list[str], task_answers: bool) -> list[str]:
    data: dict[str, Any] = row.data or {}
    if task_answers:
        if "taskAnswers" in data:  # could not be unpacked: kept as MTurk sent it
            return [_input_cell(data["taskAnswers"])]
        return ["" if not data and row.answer_error else _json([data])]
    return [_answer_cell(data.get(key)) for key in answers]


def _answer_cell(value: Any) -> str:
    """An answer field as MTurk's CSV had it: several values of a form field joined by ``|``
    (the FreeText MTurk recorded); other structures as JSON."""
    if isinstance(value, list) and all(isinstance(part, str) for part in value):
        return "|".join(value)
    return _input_cell(value)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _escape(cell: str) -> str:
    if cell.startswith(FORMULA_START) and not _NUMBER.match(cell):
        return "'" + cell
    return cell


def _as_is(cell: str) -> str:
    return cell


@lru_cache(maxsize=1)
def _seattle() -> ZoneInfo | None:
    try:
        return ZoneInfo("America/Los_Angeles")
    except ZoneInfoNotFoundError:  # no time zone database on this host: UTC is written
        return None


def mturk_time(moment: datetime | None) -> str:
    """A time as MTurk's CSV wrote it: ``Sun Dec 06 10:00:00 PST 2026`` (US Pacific time; in
    UTC, marked so, on a host without a time zone database)."""
    return "" if moment is None else _mturk_time(moment)


@lru_cache(maxsize=4096)  # a HIT's creation and expiration repeat on each of its rows
def _mturk_time(moment: datetime) -> str:
    zone = _seattle()
    local = moment.astimezone(zone) if zone else moment.astimezone(UTC)
    name = local.tzname() if zone else "UTC"
    return (
        f"{_DAYS[local.weekday()]} {_MONTHS[local.month - 1]} {local.day:02d} "
        f"{local.hour:02d}:{local.minute:02d}:{local.second:02d} {name} {local.year}"
    )


def _unix(moment: datetime | None) -> int | None:
    return None if moment is None else int(moment.timestamp())


def _result_object(row: Row[Any], hitblock: Hitblock) -> dict[str, Any]:
    accepted, submitted = row.accepted, row.submitted
    return {
        "object": "result",
        "response": row.id,
        "item": row.item_id,
        "hit_id": row.hit_id,
        "hit_type_id": hitblock.hit_type_id,
        "assignment_id": row.assignment_id,
        "worker_id": row.worker_id,
        "status": row.status,
        "input": row.params,
        "answer": row.data,
        "answer_error": row.answer_error,
        "feedback": row.feedback,
        "cost": float(row.cost if row.cost is not None else Decimal("0.00")),
        "currency": hitblock.currency,
        "accepted": _unix(accepted),
        "submitted": _unix(submitted),
        "auto_approval_due": _unix(row.auto_approval_due),
        "reviewed": _unix(row.reviewed),
        "work_time_in_seconds": (
            max(0, int((submitted - accepted).total_seconds())) if accepted and submitted else None
        ),
    }


# ---- upload ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RowError:
    """Why one row of an upload was not acted on, in the API's terms."""

    code: str
    message: str
    param: str | None = None


@dataclass(frozen=True)
class UploadRow:
    row: int  # as a spreadsheet numbers it: the header is row 1
    assignment_id: str | None
    response: int | None
    action: str  # approve, reject or skip
    status: str | None  # the response's status after the upload; None without a response
    error: RowError | MTurkError | None


@dataclass(frozen=True)
class UploadResult:
    hitblock: int
    rows: list[UploadRow]
    approved: int
    rejected: int
    skipped: int
    failed: int
    object: str = "results_upload"


@dataclass(frozen=True)
class _Line:
    row: int
    assignment_id: str
    action: str
    feedback: str | None
    error: RowError | None


def review_from_csv(
    session: DbSession,
    gateway: MTurkGateway,
    account_id: int,
    hitblock_id: int,
    text_stream: Iterable[str],
    concurrency: int = 8,
    *,
    max_decisions: int = 10_000,
) -> UploadResult:
    """Review the responses a results CSV decides on, as MTurk's requester site did: a filled
    ``Approve`` cell approves, a filled ``Reject`` cell rejects with its text as the feedback,
    both is an error, neither skips the row. The whole file is read and checked first (no
    ``AssignmentId`` column, not CSV, too many rows: ``InvalidInput``, nothing done); then
    each decision goes to MTurk, and what MTurk confirms is recorded. Every row is reported.
    An AssignmentId that is not one of this hitblock's responses is that row's error, told
    the same way whether it exists elsewhere or not. Uploading the same file again is
    harmless: rows already so decided report their status, with no MTurk call."""
    find_hitblock(session, account_id, hitblock_id)
    lines = _read_upload(text_stream)
    decisions = sum(1 for line in lines if line.action != "skip" and line.error is None)
    if decisions > max_decisions:
        raise InvalidInput(
            f"The file decides on {decisions} rows; one upload may decide on at most "
            f"{max_decisions}. Split it, or leave rows with neither Approve nor Reject.",
            param="file",
            code="results_upload_too_large",
        )
    found = _responses_by_assignment(
        session, hitblock_id, {line.assignment_id for line in lines if line.assignment_id}
    )
    outcomes: dict[int, UploadRow] = {}
    to_ask: list[_Job] = []
    for line in lines:
        planned = _plan(line, found.get(line.assignment_id), hitblock_id)
        if isinstance(planned, UploadRow):
            outcomes[line.row] = planned
        else:
            to_ask.append(planned)

    reviewed = review_many(
        session,
        gateway,
        account_id,
        [job[1] for job in to_ask],
        [job[2] for job in to_ask],
        concurrency,
    )
    for (line, response_id, decision), outcome in zip(to_ask, reviewed, strict=True):
        error: RowError | MTurkError | None
        if isinstance(outcome.error, MTurkError) or outcome.error is None:
            error = outcome.error
        else:  # MTurk's state differs (or a response gone since): the row says which
            error = _already_reviewed(response_id, outcome.status, decision)
        outcomes[line.row] = UploadRow(
            line.row, line.assignment_id, response_id, line.action, outcome.status, error
        )
    rows = [outcomes[line.row] for line in lines]
    done = [row for row in rows if row.error is None]
    return UploadResult(
        hitblock=hitblock_id,
        rows=rows,
        approved=sum(1 for row in done if row.action == "approve"),
        rejected=sum(1 for row in done if row.action == "reject"),
        skipped=sum(1 for row in done if row.action == "skip"),
        failed=len(rows) - len(done),
    )


_STATUS_OF = {"approve": "approved", "reject": "rejected"}
_Job = tuple[_Line, int, Decision]  # a row for MTurk: its response, the decision


def _plan(line: _Line, found: tuple[int, str] | None, hitblock_id: int) -> UploadRow | _Job:
    """The row's outcome when MTurk need not be asked (skipped, in error, already so
    decided), or the job of asking MTurk."""
    response_id, status = found or (None, None)
    if line.error is None and line.action != "skip":
        if response_id is None:
            missing = RowError(
                "assignment_not_found",
                f"No response of hitblock {hitblock_id} has AssignmentId {line.assignment_id!r}.",
                ASSIGNMENT_ID,
            )
            line = _with_error(line, missing)
        else:
            decision = Decision(_STATUS_OF[line.action], line.feedback)
            if status == "submitted":
                return line, response_id, decision
            if status != decision.status:
                line = _with_error(line, _already_reviewed(response_id, status, decision))
    return UploadRow(
        line.row, line.assignment_id or None, response_id, line.action, status, line.error
    )


def _with_error(line: _Line, error: RowError) -> _Line:
    return _Line(line.row, line.assignment_id, line.action, line.feedback, error)


def _already_reviewed(response_id: int, status: str | None, decision: Decision) -> RowError:
    return RowError(
        "response_already_reviewed",
        f"Response {response_id} is {status} on MTurk and cannot be {decision.status}.",
    )


def _invalid_file(message: str) -> InvalidInput:
    return InvalidInput(message, param="file", code="results_upload_invalid")


def _read_upload(text_stream: Iterable[str]) -> list[_Line]:
    """Each data row's AssignmentId and decision (only these are kept: memory per row is a
    few strings), checked on its own; the file as a whole is refused with ``InvalidInput``."""
    reader = csv.reader(text_stream, strict=True)
    try:
        header = next(reader, None)
        if header is None:
            raise _invalid_file("The file is empty: upload the results CSV, header included.")
        names = [name.strip().lstrip("\ufeff") for name in header]
        columns = {}
        for wanted in (ASSIGNMENT_ID, APPROVE, REJECT):
            if names.count(wanted) > 1:
                raise _invalid_file(f"The header names the {wanted} column more than once.")
            if wanted in names:
                columns[wanted] = names.index(wanted)
        if ASSIGNMENT_ID not in columns:
            raise _invalid_file(
                "The file has no AssignmentId column: upload the results CSV as it was "
                "downloaded, with Approve and Reject filled in."
            )
        if APPROVE not in columns and REJECT not in columns:
            raise _invalid_file("The file has neither an Approve nor a Reject column.")
        lines: list[_Line] = []
        for number, values in enumerate(reader, start=2):
            if not any(value.strip() for value in values):
                continue  # a blank line: nothing to report
            if len(lines) == MAX_UPLOAD_ROWS:
                raise InvalidInput(
                    f"The file has more than {MAX_UPLOAD_ROWS} rows.",
                    param="file",
                    code="results_upload_too_large",
                )
            lines.append(_line(number, values, columns))
    except csv.Error as error:
        raise _invalid_file(f"The file is not readable as CSV: {error}.") from None
    except UnicodeDecodeError:
        raise _invalid_file("The file must be UTF-8 encoded (in Excel: CSV UTF-8).") from None
    return _flag_repeats(lines)


def _line(number: int, values: list[str], columns: dict[str, int]) -> _Line:
    def cell(name: str) -> str:
        index = columns.get(name)
        return values[index].strip() if index is not None and index < len(values) else ""

    assignment_id, approve, reject = cell(ASSIGNMENT_ID), cell(APPROVE), cell(REJECT)
    action = "approve" if approve else "reject" if reject else "skip"
    error = None
    if approve and reject:
        error = RowError(
            "approve_and_reject", "Both Approve and Reject are filled in; keep one.", REJECT
        )
    elif action != "skip" and not assignment_id:
        error = RowError("assignment_id_missing", "The row has no AssignmentId.", ASSIGNMENT_ID)
    elif len(reject) > MAX_FEEDBACK:
        error = RowError(
            "feedback_too_long",
            f"The Reject text is {len(reject)} characters; MTurk takes at most {MAX_FEEDBACK}.",
            REJECT,
        )
    elif "\x00" in reject:
        error = RowError("feedback_invalid", "The Reject text holds a NUL character.", REJECT)
    return _Line(number, assignment_id, action, reject if action == "reject" else None, error)


def _flag_repeats(lines: list[_Line]) -> list[_Line]:
    """A second decision on one AssignmentId is an error: two could contradict each other."""
    first: dict[str, int] = {}
    checked = []
    for line in lines:
        if line.action != "skip" and line.error is None:
            if line.assignment_id in first:
                line = _with_error(
                    line,
                    RowError(
                        "duplicate_assignment",
                        f"Row {first[line.assignment_id]} decides on this AssignmentId already.",
                        ASSIGNMENT_ID,
                    ),
                )
            else:
                first[line.assignment_id] = line.row
        checked.append(line)
    return checked


def _responses_by_assignment(
    session: DbSession, hitblock_id: int, assignment_ids: set[str]
) -> dict[str, tuple[int, str]]:
    """Response id and status by AssignmentId, among this hitblock's responses only."""
    wanted = sorted(assignment_ids)
    found: dict[str, tuple[int, str]] = {}
    for start in range(0, len(wanted), LOOKUP_CHUNK):
        rows = session.execute(
            select(Response.assignment_id, Response.id, Response.status)
            .join(Item, Item.id == Response.item_id)
            .where(
                Item.hitblock_id == hitblock_id,
                Response.assignment_id.in_(wanted[start : start + LOOKUP_CHUNK]),
            )
        )
        found.update({aid: (rid, status) for aid, rid, status in rows})
    return found
