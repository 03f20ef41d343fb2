"""HIT groups, as a worker finds them: the HITs of one HIT type that this worker could take,
with the group's title, requester, reward, time allotted, HITs available, expiry, and
whether the worker qualifies; and the next HIT of a group, oldest first.

A worker's groups take a fixed number of SQL statements whatever the number of HITs or
groups: one for the groups (the HITs counted in the database, grouped by HIT type), and at
most four for the worker's scores on every qualification type the groups require
(``Scores``), checked in Python with ``qualifications.meets``.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.orm import Session

from mturk.service import qualifications
from mturk.service.qualifications import Score
from mturk.service.store import (
    HIT,
    Assignment,
    HITType,
    QualificationType,
    Requester,
    WorkerBlock,
    WorkerQualification,
    now,
)

PER_PAGE = 20
SORTS = {"newest": "Newest", "reward": "Highest reward", "available": "Most HITs available"}
DEFAULT_SORT = "newest"
MAX_KEYWORDS = 8


@dataclass(frozen=True)
class Group:
    """One HIT type's HITs that the worker could take, as the list shows them."""

    hit_type_id: str
    title: str
    description: str
    requester: str
    reward_cents: int
    assignment_duration: int
    available: int
    expires: float
    newest: int
    # The worker meets the requirements guarding Accept, and those guarding the preview.
    qualified: bool
    can_preview: bool

    @property
    def reward(self) -> str:
        return f"{self.reward_cents / 100:.2f}"


@dataclass(frozen=True)
class GroupPage:
    groups: Sequence[Group]
    page: int
    pages: int
    total: int


@dataclass(frozen=True)
class Search:
    """What the worker asked the list for: keywords, an order, only what they can accept, a
    page (from 1)."""

    query: str = ""
    sort: str = DEFAULT_SORT
    only_qualified: bool = False
    page: int = 1

    @classmethod
    def from_args(cls, args: Any) -> Search:
        sort = args.get("sort", DEFAULT_SORT)
        try:
            page = max(1, int(args.get("page", "1")))
        except ValueError:
            page = 1
        return cls(
            query=" ".join(str(args.get("q", "")).split())[:200],
            sort=sort if sort in SORTS else DEFAULT_SORT,
            only_qualified=args.get("qualified") in ("1", "on", "true"),
            page=page,
        )


def open_to(worker_id: str) -> tuple[ColumnElement[bool], ...]:
    """The HITs this worker could take: Assignable and not expired, not already worked by
    them (a returned or abandoned assignment does not count), not from a requester who
    blocked them."""
    worked = select(Assignment.hit_id).where(
        Assignment.worker_id == worker_id, Assignment.status.not_in(("Returned", "Abandoned"))
    )
    return (
        HIT.status == "Assignable",
        HIT.expiration > now(),
        HIT.id.not_in(worked),
        HIT.requester_id.not_in(blocking_requesters(worker_id)),
    )


def blocking_requesters(worker_id: str) -> Select[int]:
    """The requesters that blocked this worker: their HITs are neither shown nor accepted."""
    return select(WorkerBlock.requester_id).where(WorkerBlock.worker_id == worker_id)


def _matching(query: str) -> list[ColumnElement[bool]]:
    """Every keyword appears in the title, description, keywords or requester's name."""
    fields = (HITType.title, HITType.description, HITType.keywords, Requester.name)
    return [
        or_(*(field.icontains(word, autoescape=True) for field in fields))
        for word in query.split()[:MAX_KEYWORDS]
    ]


def find_groups(session: Session, worker_id: str, search: Search) -> GroupPage:
    """One page of the groups of HITs open to this worker. Groups whose requirements
    guarding discovery the worker does not meet are left out, as MTurk hides them."""
    counted = (
        select(
            HIT.hit_type_id,
            func.count().label("available"),
            func.max(HIT.expiration).label("expires"),
            func.max(HIT.seq).label("newest"),
        )
        .where(*open_to(worker_id))
        .group_by(HIT.hit_type_id)
        .subquery()
    )
    order = {
        "newest": (counted.c.newest.desc(),),
        "reward": (HITType.reward_cents.desc(), counted.c.newest.desc()),
        "available": (counted.c.available.desc(), counted.c.newest.desc()),
    }[search.sort]
    rows = session.execute(
        select(HITType, Requester.name, counted.c.available, counted.c.expires, counted.c.newest)
        .join(counted, counted.c.hit_type_id == HITType.id)
        .join(Requester, Requester.id == HITType.requester_id)
        .where(*_matching(search.query))
        .order_by(*order, HITType.id)
    ).all()
    scores = Scores.load(
        session, worker_id, (hit_type.qualification_requirements or [] for hit_type, *_ in rows)
    )
    groups = []
    for hit_type, requester, available, expires, newest in rows:
        requirements = hit_type.qualification_requirements or []
        if scores.unmet(requirements, "DiscoverPreviewAndAccept"):
            continue
        qualified = not scores.unmet(requirements, "Accept")
        if search.only_qualified and not qualified:
            continue
        groups.append(
            Group(
                hit_type_id=hit_type.id,
                title=hit_type.title,
                description=hit_type.description,
                requester=requester,
                reward_cents=hit_type.reward_cents,
                assignment_duration=hit_type.assignment_duration,
                available=available,
                expires=expires,
                newest=newest,
                qualified=qualified,
                can_preview=not scores.unmet(requirements, "PreviewAndAccept"),
            )
        )
    pages = max(1, math.ceil(len(groups) / PER_PAGE))
    page = min(search.page, pages)
    shown = groups[(page - 1) * PER_PAGE : page * PER_PAGE]
    return GroupPage(groups=shown, page=page, pages=pages, total=len(groups))


def next_hit(
    session: Session,
    worker_id: str,
    hit_type_id: str,
    after: int | None = None,
    exclude: Collection[str] = (),
    lock: bool = False,
) -> HIT | None:
    """The group's next HIT open to this worker, oldest first: the first after the HIT of
    ``seq`` ``after`` if there is one, else from the start again; none of ``exclude`` (the
    HIT just skipped, those found taken). ``lock``: locked for update, read afresh."""
    conditions = [HIT.hit_type_id == hit_type_id, *open_to(worker_id)]
    if exclude:
        conditions.append(HIT.id.not_in(sorted(exclude)))
    wanted = select(HIT).where(*conditions).order_by(HIT.seq).limit(1)
    if lock:
        wanted = wanted.with_for_update().execution_options(populate_existing=True)
    if after is not None:
        found = session.scalar(wanted.where(HIT.seq > after))
        if found is not None:
            return found
    return session.scalar(wanted)


def has_next(session: Session, worker_id: str, hit_type_id: str) -> bool:
    """Whether the group has a HIT left that this worker could take (their qualifications
    aside: the next page checks them)."""
    found = select(HIT.seq).where(HIT.hit_type_id == hit_type_id, *open_to(worker_id)).limit(1)
    return session.scalar(found) is not None


# ---- the worker's qualifications, for many HIT types at once ----------------------------


@dataclass(frozen=True)
class Scores:
    """The worker's scores on the qualification types that some requirements name, read in
    at most four statements; the same values as ``qualifications.score_of``."""

    values: dict[str, Score | None]

    @classmethod
    def load(
        cls, session: Session, worker_id: str, requirement_lists: Iterable[Sequence[dict[str, Any]]]
    ) -> Scores:
        type_ids = {
            requirement["QualificationTypeId"]
            for requirements in requirement_lists
            for requirement in requirements
        }
        values: dict[str, Score | None] = {}
        system = type_ids & {qualifications.PERCENT_APPROVED, qualifications.NUMBER_APPROVED}
        for type_id in system:  # computed from the worker's decided assignments
            values[type_id] = qualifications.score_of(session, worker_id, type_id)
        rest = type_ids - system
        if rest:
            held = session.scalars(
                select(WorkerQualification).where(
                    WorkerQualification.worker_id == worker_id,
                    WorkerQualification.qualification_type_id.in_(sorted(rest)),
                )
            )
            for held_row in held:  # a Revoked score meets nothing, not even by AutoGranted
                granted = held_row.status == "Granted"
                score = Score(
                    held_row.integer_value, held_row.locale_country, held_row.locale_subdivision
                )
                values[held_row.qualification_type_id] = score if granted else None
        rest = rest - values.keys() - set(qualifications.PROFILE_TYPES)
        if rest:
            auto = session.scalars(
                select(QualificationType).where(
                    QualificationType.id.in_(sorted(rest)),
                    QualificationType.auto_granted.is_(True),
                    QualificationType.status == "Active",
                )
            )
            for row in auto:
                values[row.id] = Score(integer=row.auto_granted_value or 1)
        return cls(values)

    def unmet(self, requirements: Sequence[dict[str, Any]], action: str) -> list[dict[str, Any]]:
        """The requirements guarding ``action`` that the worker does not meet."""
        return [
            requirement
            for requirement in requirements
            if qualifications.guards(requirement, action)
            and not qualifications.meets(
                requirement, self.values.get(requirement["QualificationTypeId"])
            )
        ]
