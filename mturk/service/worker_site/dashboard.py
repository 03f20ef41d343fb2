"""The worker's dashboard: earnings (approved, pending, bonuses, by day), every assignment
with its status and the requester's feedback, bonuses with their reasons, the approval rate,
qualifications held and asked for, and messages.

The page is read in a fixed number of statements, however long the worker's history: sums
and days are computed by the database, and each list is one page (newest first, by keyset:
``before`` or ``after`` a row's ``seq``) plus one statement counting where that page sits.
Amounts are integer cents (an assignment earns its HIT type's ``reward_cents``); days are UTC
days, since the server does not know the worker's time zone (``worker.js`` shows each
``<time>`` in it)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Generic, TypeVar
from urllib.parse import urlencode

from flask import request
from sqlalchemy import ColumnElement, Float, Select, case, func, literal, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from werkzeug.wrappers import Response

from mturk.service import qualifications
from mturk.service.store import (
    HIT,
    Assignment,
    Bonus,
    HITType,
    QualificationRequest,
    QualificationType,
    Requester,
    WorkerMessage,
    WorkerQualification,
    now,
)
from mturk.service.worker_site.site import blueprint, render_page, signed_in

ASSIGNMENTS_PER_PAGE = 25
BONUSES_PER_PAGE = 10
MESSAGES_PER_PAGE = 10
DAYS_SHOWN = 30
SECONDS_PER_DAY = 86_400
CURSOR = re.compile(r"[0-9]{1,10}")  # a row's seq
MAX_SEQ = 2**31 - 1  # seq columns are INTEGER: PostgreSQL refuses to compare a larger number

# An assignment's status in the worker's words, and what it means for them.
STATUS_WORDS: dict[str, tuple[str, str]] = {
    "Accepted": ("In progress", "You accepted this HIT and have not submitted it yet."),
    "Submitted": ("Pending approval", "Submitted; the requester has not decided yet."),
    "Approved": ("Approved", "The requester approved your work and paid the reward."),
    "Rejected": ("Rejected", "The requester rejected your work: no reward was paid."),
    "Returned": ("Returned", "You returned this HIT without submitting it."),
    "Abandoned": ("Time ran out", "The time allotted ran out before you submitted it."),
}

T = TypeVar("T")


# ---- what the page shows ------------------------------------------------------------------


@dataclass(frozen=True)
class Earnings:
    """Sums of the worker's rewards by outcome, and of their bonuses, in cents."""

    approved_cents: int = 0
    approved_count: int = 0
    pending_cents: int = 0
    pending_count: int = 0
    rejected_count: int = 0
    bonus_cents: int = 0
    bonus_count: int = 0

    @property
    def total_cents(self) -> int:
        """What the worker has earned: approved rewards and bonuses (pending is not yet)."""
        return self.approved_cents + self.bonus_cents


@dataclass(frozen=True)
class Day:
    """One UTC day with earnings: approved rewards (by approval time) and bonuses."""

    day: date
    approved_cents: int = 0
    approved_count: int = 0
    bonus_cents: int = 0
    bonus_count: int = 0

    @property
    def total_cents(self) -> int:
        return self.approved_cents + self.bonus_cents


@dataclass(frozen=True)
class WorkedAssignment:
    """One of the worker's assignments, with its HIT's title, reward and requester, and the
    bonuses paid for it."""

    assignment: Assignment
    title: str
    requester: str
    reward_cents: int
    bonuses: list[Bonus] = field(default_factory=list)

    @property
    def status_words(self) -> str:
        return STATUS_WORDS.get(self.assignment.status, (self.assignment.status, ""))[0]

    @property
    def status_meaning(self) -> str:
        return STATUS_WORDS.get(self.assignment.status, ("", ""))[1]

    @property
    def can_continue(self) -> bool:
        """Still in progress with time left: the worker can go back to it."""
        return self.assignment.status == "Accepted" and self.assignment.deadline > now()


@dataclass(frozen=True)
class PaidBonus:
    bonus: Bonus
    title: str
    requester: str


@dataclass(frozen=True)
class HeldQualification:
    """A Granted score: a requester's type (``type_id`` links to its page) or a system
    type's profile value (Locale, Adult, Masters)."""

    type_id: str
    name: str
    value: str
    requester: str
    granted_at: float
    linked: bool


@dataclass(frozen=True)
class AskedQualification:
    """A request waiting for the requester's decision, or a test in progress."""

    type_id: str
    name: str
    requester: str
    status: str  # Pending or Testing
    since: float
    deadline: float | None


@dataclass(frozen=True)
class Message:
    message: WorkerMessage
    sender: str


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list, newest first: ``newer``/``older`` are the cursors of the pages
    either side (None at either end); ``first`` is the 1-based position of its first row."""

    rows: list[T]
    total: int
    first: int
    newer: int | None
    older: int | None

    @property
    def last(self) -> int:
        return self.first + len(self.rows) - 1


@dataclass(frozen=True)
class Dashboard:
    earnings: Earnings
    days: list[Day]
    approval_rate: int
    approved: int
    decided: int
    assignments: Page[WorkedAssignment]
    status: str
    bonuses: Page[PaidBonus]
    held: list[HeldQualification]
    asked: list[AskedQualification]
    messages: Page[Message]

    @property
    def status_words(self) -> str:
        """The words of the status the assignments are filtered by ("" for all)."""
        return STATUS_WORDS[self.status][0] if self.status else ""


@dataclass(frozen=True)
class Cursors:
    """Where each list of the page stands (query parameters, each ``before`` or ``after``
    a row's seq; all optional)."""

    assignments: tuple[int | None, int | None] = (None, None)
    bonuses: tuple[int | None, int | None] = (None, None)
    messages: tuple[int | None, int | None] = (None, None)


# ---- day numbers, portably ------------------------------------------------------------------


class day_number(FunctionElement[float]):  # noqa: N801 (a SQL function, named as one)
    """The UTC day (days since 1970-01-01) of a POSIX timestamp column."""

    inherit_cache = True
    type = Float()


@compiles(day_number)
def _day_number(element: day_number, compiler: SQLCompiler, **kw: Any) -> str:
    return f"FLOOR({compiler.process(element.clauses, **kw)} / {SECONDS_PER_DAY})"


@compiles(day_number, "sqlite")
def _day_number_sqlite(element: day_number, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLite may be built without FLOOR; CAST truncates, which is FLOOR for times after 1970.
    return f"CAST({compiler.process(element.clauses, **kw)} / {SECONDS_PER_DAY} AS INTEGER)"


# ---- reading it -------------------------------------------------------------------------------


def earnings(session: Session, worker_id: str) -> Earnings:
    rows = session.execute(
        select(Assignment.status, func.count(), func.coalesce(func.sum(HITType.reward_cents), 0))
        .join(HIT, HIT.id == Assignment.hit_id)
        .join(HITType, HITType.id == HIT.hit_type_id)
        .where(
            Assignment.worker_id == worker_id,
            Assignment.status.in_(("Submitted", "Approved", "Rejected")),
        )
        .group_by(Assignment.status)
    )
    by_status = {status: (int(count), int(cents)) for status, count, cents in rows}
    bonus_count, bonus_cents = session.execute(
        select(func.count(), func.coalesce(func.sum(Bonus.amount_cents), 0)).where(
            Bonus.worker_id == worker_id
        )
    ).one()
    approved = by_status.get("Approved", (0, 0))
    pending = by_status.get("Submitted", (0, 0))
    return Earnings(
        approved_cents=approved[1],
        approved_count=approved[0],
        pending_cents=pending[1],
        pending_count=pending[0],
        rejected_count=by_status.get("Rejected", (0, 0))[0],
        bonus_cents=int(bonus_cents),
        bonus_count=int(bonus_count),
    )


def days(session: Session, worker_id: str, limit: int = DAYS_SHOWN) -> list[Day]:
    """The last ``limit`` UTC days on which the worker earned something, newest first."""
    approved_day = day_number(Assignment.approval_time)
    approved = session.execute(
        select(approved_day, func.count(), func.sum(HITType.reward_cents))
        .join(HIT, HIT.id == Assignment.hit_id)
        .join(HITType, HITType.id == HIT.hit_type_id)
        .where(
            Assignment.worker_id == worker_id,
            Assignment.status == "Approved",
            Assignment.approval_time.is_not(None),
        )
        .group_by(approved_day)
        .order_by(approved_day.desc())
        .limit(limit)
    ).all()
    bonus_day = day_number(Bonus.grant_time)
    bonuses = session.execute(
        select(bonus_day, func.count(), func.sum(Bonus.amount_cents))
        .where(Bonus.worker_id == worker_id)
        .group_by(bonus_day)
        .order_by(bonus_day.desc())
        .limit(limit)
    ).all()
    found: dict[int, dict[str, int]] = {}
    for number, count, cents in approved:
        found.setdefault(int(number), {}).update(approved_count=count, approved_cents=int(cents))
    for number, count, cents in bonuses:
        found.setdefault(int(number), {}).update(bonus_count=count, bonus_cents=int(cents))
    newest = sorted(found, reverse=True)[:limit]
    return [
        Day(datetime.fromtimestamp(number * SECONDS_PER_DAY, UTC).date(), **found[number])
        for number in newest
    ]


def _page(
    session: Session,
    stmt: Select[*tuple[Any, ...]],
    seq: Any,
    cursor: tuple[int | None, int | None],
    size: int,
) -> tuple[list[Any], int, int, int | None, int | None]:
    """One page of ``stmt`` (newest first by ``seq``, the seq of its rows' first entity), in
    two statements: the rows, then the count of all rows and of those newer than the page.
    ``cursor`` is (before, after): the page of rows older than ``before``, or the page of
    rows just newer than ``after``. Returns the rows, the total, the position of the first
    row, and the cursors of the newer and older pages (None at either end)."""
    before, after = cursor
    if after is not None:
        rows = list(session.execute(stmt.where(seq > after).order_by(seq.asc()).limit(size)))
        rows.reverse()
        if not rows:  # nothing newer than that: the newest page
            before = None
    if after is None or not rows:
        ranged = stmt.where(seq < before) if before is not None else stmt
        rows = list(session.execute(ranged.order_by(seq.desc()).limit(size)))
    newer_ones: ColumnElement[Any] = literal(0)
    if rows:
        newer_ones = func.coalesce(func.sum(case((seq > rows[0][0].seq, 1), else_=0)), 0)
    counting = stmt.with_only_columns(func.count(), newer_ones, maintain_column_froms=True)
    total, newer_count = (int(n) for n in session.execute(counting.order_by(None)).one())
    newer = rows[0][0].seq if rows and newer_count > 0 else None
    older = rows[-1][0].seq if rows and newer_count + len(rows) < total else None
    return rows, total, newer_count + 1, newer, older


def assignments_page(
    session: Session,
    worker_id: str,
    status: str = "",
    cursor: tuple[int | None, int | None] = (None, None),
    size: int = ASSIGNMENTS_PER_PAGE,
) -> Page[WorkedAssignment]:
    """The worker's assignments (of one status, if given), newest first, with the bonuses
    paid for those shown."""
    stmt = (
        select(Assignment, HITType.title, HITType.reward_cents, Requester.name)
        .join(HIT, HIT.id == Assignment.hit_id)
        .join(HITType, HITType.id == HIT.hit_type_id)
        .join(Requester, Requester.id == HIT.requester_id)
        .where(Assignment.worker_id == worker_id)
    )
    if status:
        stmt = stmt.where(Assignment.status == status)
    rows, total, first, newer, older = _page(session, stmt, Assignment.seq, cursor, size)
    paid: dict[str, list[Bonus]] = {}
    if rows:
        for bonus in session.scalars(
            select(Bonus)
            .where(
                Bonus.worker_id == worker_id,
                Bonus.assignment_id.in_([row[0].id for row in rows]),
            )
            .order_by(Bonus.seq)
        ):
            paid.setdefault(bonus.assignment_id, []).append(bonus)
    shown = [
        WorkedAssignment(assignment, title, requester, reward, paid.get(assignment.id, []))
        for assignment, title, reward, requester in rows
    ]
    return Page(shown, total, first, newer, older)


def bonuses_page(
    session: Session,
    worker_id: str,
    cursor: tuple[int | None, int | None] = (None, None),
    size: int = BONUSES_PER_PAGE,
) -> Page[PaidBonus]:
    stmt = (
        select(Bonus, HITType.title, Requester.name)
        .join(Assignment, Assignment.id == Bonus.assignment_id)
        .join(HIT, HIT.id == Assignment.hit_id)
        .join(HITType, HITType.id == HIT.hit_type_id)
        .join(Requester, Requester.id == Bonus.requester_id)
        .where(Bonus.worker_id == worker_id)
    )
    rows, total, first, newer, older = _page(session, stmt, Bonus.seq, cursor, size)
    return Page([PaidBonus(*row) for row in rows], total, first, newer, older)


def messages_page(
    session: Session,
    worker_id: str,
    cursor: tuple[int | None, int | None] = (None, None),
    size: int = MESSAGES_PER_PAGE,
) -> Page[Message]:
    stmt = (
        select(WorkerMessage, Requester.name)
        .outerjoin(Requester, Requester.id == WorkerMessage.requester_id)
        .where(WorkerMessage.worker_id == worker_id)
    )
    rows, total, first, newer, older = _page(session, stmt, WorkerMessage.seq, cursor, size)
    shown = [Message(message, sender or "Hitblocks worker site") for message, sender in rows]
    return Page(shown, total, first, newer, older)


def _score_text(row: WorkerQualification) -> str:
    if row.locale_country:
        return "-".join(filter(None, (row.locale_country, row.locale_subdivision)))
    return "" if row.integer_value is None else str(row.integer_value)


def held_qualifications(session: Session, worker_id: str) -> list[HeldQualification]:
    """The worker's Granted scores, by name: requesters' types and profile values."""
    rows = session.execute(
        select(WorkerQualification, QualificationType.name, Requester.name)
        .outerjoin(
            QualificationType,
            QualificationType.id == WorkerQualification.qualification_type_id,
        )
        .outerjoin(Requester, Requester.id == WorkerQualification.requester_id)
        .where(WorkerQualification.worker_id == worker_id, WorkerQualification.status == "Granted")
    ).all()
    held = []
    for score, type_name, owner in rows:
        system = qualifications.SYSTEM_TYPES.get(score.qualification_type_id)
        name = type_name or (system[0] if system else score.qualification_type_id)
        held.append(
            HeldQualification(
                type_id=score.qualification_type_id,
                name=name,
                value=_score_text(score),
                requester=owner or ("Hitblocks (your profile)" if system else ""),
                granted_at=score.granted_at,
                linked=type_name is not None,
            )
        )
    return sorted(held, key=lambda row: (row.name.lower(), row.type_id))


def asked_qualifications(session: Session, worker_id: str) -> list[AskedQualification]:
    """Requests waiting for a decision and tests in progress (a test whose time ran out, or
    whose Test its owner changed since, is not: the qualification pages say so)."""
    rows = session.execute(
        select(QualificationType, Requester.name)
        .join(Requester, Requester.id == QualificationType.requester_id)
        .where(
            QualificationType.id.in_(
                select(QualificationRequest.qualification_type_id).where(
                    QualificationRequest.worker_id == worker_id,
                    QualificationRequest.status.in_(("Pending", "Testing")),
                )
            )
        )
        .order_by(QualificationType.name, QualificationType.seq)
    ).all()
    types = [row for row, _ in rows]
    owners = {row.requester_id: owner for row, owner in rows}
    asked = []
    for standing in qualifications.standings(session, worker_id, types):
        last = standing.last
        if last is None:
            continue
        if last.status == "Pending" or standing.action == "continue":
            row = standing.qualification_type
            asked.append(
                AskedQualification(
                    type_id=row.id,
                    name=row.name,
                    requester=owners.get(row.requester_id, ""),
                    status=last.status,
                    since=last.submitted_at or last.started_at,
                    deadline=standing.deadline,
                )
            )
    return asked


def read_dashboard(
    session: Session, worker_id: str, status: str = "", cursors: Cursors | None = None
) -> Dashboard:
    cursors = cursors or Cursors()
    rate = qualifications.score_of(session, worker_id, qualifications.PERCENT_APPROVED)
    earned = earnings(session, worker_id)
    return Dashboard(
        earnings=earned,
        days=days(session, worker_id),
        approval_rate=rate.integer if rate is not None and rate.integer is not None else 100,
        approved=earned.approved_count,
        decided=earned.approved_count + earned.rejected_count,
        assignments=assignments_page(session, worker_id, status, cursors.assignments),
        status=status,
        bonuses=bonuses_page(session, worker_id, cursors.bonuses),
        held=held_qualifications(session, worker_id),
        asked=asked_qualifications(session, worker_id),
        messages=messages_page(session, worker_id, cursors.messages),
    )


# ---- the page -----------------------------------------------------------------------------


def money(cents: int) -> str:
    """Cents as dollars: $0.00, $1,234.50."""
    sign = "-" if cents < 0 else ""
    dollars, rest = divmod(abs(int(cents)), 100)
    return f"{sign}${dollars:,}.{rest:02d}"


def _cursor(prefix: str) -> tuple[int | None, int | None]:
    def number(name: str) -> int | None:
        value = request.args.get(f"{prefix}{name}", "")
        return int(value) if CURSOR.fullmatch(value) and int(value) <= MAX_SEQ else None

    return number("before"), number("after")


def _status() -> str:
    status = request.args.get("status", "")
    return status if status in STATUS_WORDS else ""


def page_link(**changes: Any) -> str:
    """This page's query with ``changes`` (a None value drops the parameter)."""
    args: dict[str, str] = {key: value for key, value in request.args.items()}
    for key, value in changes.items():
        if value is None:
            args.pop(key, None)
        else:
            args[key] = str(value)
    query = urlencode(sorted((key, value) for key, value in args.items() if value != ""))
    return f"{request.path}?{query}" if query else request.path


@blueprint.get("/worker/dashboard")
@signed_in
def dashboard(session: Session, worker_id: str) -> Response:
    """The signed-in worker's own earnings, history, qualifications and messages."""
    cursors = Cursors(assignments=_cursor("a_"), bonuses=_cursor("b_"), messages=_cursor("m_"))
    return render_page(
        "dashboard.html",
        board=read_dashboard(session, worker_id, _status(), cursors),
        statuses=[(status, words) for status, (words, _) in STATUS_WORDS.items()],
        money=money,
        page_link=page_link,
    )
