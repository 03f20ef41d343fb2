"""Qualification types, workers' scores, and the check of a HIT's QualificationRequirements.

A requester's types live in ``QualificationType`` rows and are seen by their owner only
(another requester's id answers as a missing one, as every lookup here does). MTurk's system
types keep their ids and are computed from what the service knows:

- PercentAssignmentsApproved: approved / (approved + rejected) of the worker's assignments,
  rounded down; a worker with no decided work has 100, so that a fresh marketplace can run
  studies that require >= 95 (psiTurk's default).
- NumberHITsApproved: the worker's approved assignments.
- Locale, Adult, Masters (live and sandbox ids): the value an administrator set on the
  worker's profile (``set_profile_value``); a worker without one has no such qualification,
  so only ``DoesNotExist`` is met.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mturk.service.errors import TurkError
from mturk.service.store import (
    Assignment,
    QualificationType,
    WorkerMessage,
    WorkerQualification,
    new_id,
    now,
)

PERCENT_APPROVED = "000000000000000000L0"
NUMBER_APPROVED = "00000000000000000040"
LOCALE = "00000000000000000071"
ADULT = "00000000000000000060"
MASTERS = "2ARFPLSP75KLA8M8DH1HTEQFJHVNQY"
MASTERS_SANDBOX = "2F1KVCNHMVHV8E9PBUB2A4J79LU20F"

# id: (Name, Description); their creation time is MTurk's launch of the 2017-01-17 API.
SYSTEM_TYPES: dict[str, tuple[str, str]] = {
    PERCENT_APPROVED: (
        "Worker_PercentAssignmentsApproved",
        "The percentage of assignments the Worker has submitted that were subsequently "
        "approved by the Requester, over all assignments the Worker has submitted.",
    ),
    NUMBER_APPROVED: (
        "Worker_NumberHITsApproved",
        "The total number of HITs submitted by a Worker that have been approved.",
    ),
    LOCALE: ("Worker_Locale", "The location of the Worker, as specified by the Worker."),
    ADULT: (
        "Worker_Adult",
        "The Worker has agreed to work on HITs that may contain potentially explicit content.",
    ),
    MASTERS: ("Masters", "Workers granted Masters by the service's administrator."),
    MASTERS_SANDBOX: ("Masters", "Workers granted Masters (sandbox id)."),
}
PROFILE_TYPES = (LOCALE, ADULT, MASTERS, MASTERS_SANDBOX)
SYSTEM_CREATED = 1_484_006_400.0  # 2017-01-10
TOKEN_VERSION = "q1"
INVALID_NEXT_TOKEN = "The value of NextToken is invalid. Use the NextToken of a previous page."

ALREADY_EXISTS = (
    "You have already created a QualificationType with this name. A QualificationType's name "
    "must be unique among all of the QualificationTypes created by the same user."
)


# ---- comparators --------------------------------------------------------------------


@dataclass(frozen=True)
class Score:
    """A worker's value of one qualification: an integer, a locale, or both absent."""

    integer: int | None = None
    country: str | None = None
    subdivision: str | None = None


def _locale_matches(wanted: dict[str, Any], score: Score) -> bool:
    if score.country is None or wanted.get("Country") != score.country:
        return False
    return "Subdivision" not in wanted or wanted["Subdivision"] == score.subdivision


def meets(requirement: dict[str, Any], score: Score | None) -> bool:
    """Whether a worker with ``score`` (None: without the qualification) meets one
    QualificationRequirement. As on MTurk, a worker without the qualification meets only
    ``DoesNotExist``; locales compare by country, and by subdivision when one is given."""
    comparator = requirement["Comparator"]
    if comparator == "DoesNotExist":
        return score is None
    if score is None:
        return False
    if comparator == "Exists":
        return True
    integers: list[int] = requirement.get("IntegerValues") or []
    locales: list[dict[str, Any]] = requirement.get("LocaleValues") or []
    if locales:
        matched = any(_locale_matches(wanted, score) for wanted in locales)
        if comparator in ("EqualTo", "In"):
            return matched
        if comparator in ("NotEqualTo", "NotIn"):
            return score.country is not None and not matched
        return False  # an order comparator means nothing on a locale
    if score.integer is None or not integers:
        return False
    value, first = score.integer, integers[0]
    match comparator:
        case "LessThan":
            return value < first
        case "LessThanOrEqualTo":
            return value <= first
        case "GreaterThan":
            return value > first
        case "GreaterThanOrEqualTo":
            return value >= first
        case "EqualTo":
            return value == first
        case "NotEqualTo":
            return value != first
        case "In":
            return value in integers
        case "NotIn":
            return value not in integers
    return False


def guards(requirement: dict[str, Any], action: str) -> bool:
    """Whether ``requirement`` guards ``action`` (Accept, PreviewAndAccept or
    DiscoverPreviewAndAccept). Guarding discovery guards preview and accept too; without
    ActionsGuarded, ``RequiredToPreview`` means PreviewAndAccept and the default is Accept."""
    guarded = requirement.get("ActionsGuarded")
    if guarded is None:
        guarded = "PreviewAndAccept" if requirement.get("RequiredToPreview") else "Accept"
    order = ("Accept", "PreviewAndAccept", "DiscoverPreviewAndAccept")
    return order.index(guarded) >= order.index(action)


# ---- workers' scores ------------------------------------------------------------------


def _approval(session: Session, worker_id: str) -> tuple[int, int]:
    rows = session.execute(
        select(Assignment.status, func.count())
        .where(Assignment.worker_id == worker_id, Assignment.status.in_(("Approved", "Rejected")))
        .group_by(Assignment.status)
    )
    counts = {status: count for status, count in rows}
    return counts.get("Approved", 0), counts.get("Rejected", 0)


def score_of(session: Session, worker_id: str, type_id: str) -> Score | None:
    """The worker's value of a qualification type, as requirements see it: a Granted score,
    or a system type's computed value, or an Active AutoGranted type's value."""
    if type_id == PERCENT_APPROVED:
        approved, rejected = _approval(session, worker_id)
        decided = approved + rejected
        return Score(integer=100 if decided == 0 else approved * 100 // decided)
    if type_id == NUMBER_APPROVED:
        return Score(integer=_approval(session, worker_id)[0])
    row = session.scalar(
        select(WorkerQualification).where(
            WorkerQualification.qualification_type_id == type_id,
            WorkerQualification.worker_id == worker_id,
            WorkerQualification.status == "Granted",
        )
    )
    if row is not None:
        return Score(row.integer_value, row.locale_country, row.locale_subdivision)
    if type_id in PROFILE_TYPES:
        return None
    qualification_type = session.scalar(
        select(QualificationType).where(QualificationType.id == type_id)
    )
    if qualification_type is not None and qualification_type.auto_granted:
        if qualification_type.status == "Active":
            return Score(integer=qualification_type.auto_granted_value or 1)
    return None


def unmet(
    session: Session, worker_id: str, requirements: Sequence[dict[str, Any]], action: str
) -> list[dict[str, Any]]:
    """The requirements guarding ``action`` that the worker does not meet."""
    return [
        requirement
        for requirement in requirements
        if guards(requirement, action)
        and not meets(requirement, score_of(session, worker_id, requirement["QualificationTypeId"]))
    ]


def describe(session: Session, requirement: dict[str, Any]) -> str:
    """A requirement in words, for the worker who does not meet it."""
    type_id = requirement["QualificationTypeId"]
    if type_id in SYSTEM_TYPES:
        name = SYSTEM_TYPES[type_id][0]
    else:
        row = session.scalar(select(QualificationType).where(QualificationType.id == type_id))
        name = row.name if row is not None else type_id
    values = [str(value) for value in requirement.get("IntegerValues") or []] + [
        "-".join(filter(None, (loc.get("Country"), loc.get("Subdivision"))))
        for loc in requirement.get("LocaleValues") or []
    ]
    return " ".join([name, requirement["Comparator"], ", ".join(values)]).strip()


def set_profile_value(session: Session, worker_id: str, type_id: str, score: Score | None) -> None:
    """An administrator's setting of a worker's Locale, Adult or Masters (None: remove)."""
    if type_id not in PROFILE_TYPES:
        raise ValueError(f"{type_id} is not a profile qualification type")
    row = session.scalar(
        select(WorkerQualification).where(
            WorkerQualification.qualification_type_id == type_id,
            WorkerQualification.worker_id == worker_id,
        )
    )
    if score is None:
        if row is not None:
            session.delete(row)
        return
    if row is None:
        row = WorkerQualification(qualification_type_id=type_id, worker_id=worker_id)
        session.add(row)
    row.integer_value = score.integer
    row.locale_country, row.locale_subdivision = score.country, score.subdivision
    row.status, row.granted_at = "Granted", now()


# ---- requester operations -------------------------------------------------------------


def _own_type(session: Session, requester_id: int, type_id: str) -> QualificationType:
    row = session.scalar(
        select(QualificationType).where(
            QualificationType.id == type_id, QualificationType.requester_id == requester_id
        )
    )
    if row is None:
        raise TurkError(
            f"QualificationType {type_id} does not exist.",
            "AWS.MechanicalTurk.QualificationTypeDoesNotExist",
        )
    return row


def _type_dict(row: QualificationType) -> dict[str, Any]:
    body: dict[str, Any] = {
        "QualificationTypeId": row.id,
        "CreationTime": row.created_at,
        "Name": row.name,
        "Description": row.description,
        "Keywords": row.keywords,
        "QualificationTypeStatus": row.status,
        "Test": row.test,
        "TestDurationInSeconds": row.test_duration,
        "AnswerKey": row.answer_key,
        "RetryDelayInSeconds": row.retry_delay,
        "IsRequestable": row.is_requestable,
        "AutoGranted": row.auto_granted,
        "AutoGrantedValue": row.auto_granted_value if row.auto_granted else None,
    }
    return {key: value for key, value in body.items() if value is not None}


def _system_type_dict(type_id: str) -> dict[str, Any]:
    name, description = SYSTEM_TYPES[type_id]
    return {
        "QualificationTypeId": type_id,
        "CreationTime": SYSTEM_CREATED,
        "Name": name,
        "Description": description,
        "Keywords": "",
        "QualificationTypeStatus": "Active",
        "IsRequestable": False,
        "AutoGranted": False,
    }


def _apply_settings(row: QualificationType, params: dict[str, Any]) -> None:
    for key, attribute in (
        ("Description", "description"),
        ("QualificationTypeStatus", "status"),
        ("RetryDelayInSeconds", "retry_delay"),
        ("Test", "test"),
        ("AnswerKey", "answer_key"),
        ("TestDurationInSeconds", "test_duration"),
        ("AutoGranted", "auto_granted"),
        ("AutoGrantedValue", "auto_granted_value"),
    ):
        if key in params:
            setattr(row, attribute, params[key])
    if row.auto_granted and row.auto_granted_value is None:
        row.auto_granted_value = 1
    if row.test is not None and row.auto_granted:
        raise TurkError(
            "A QualificationType with a Test cannot be AutoGranted.",
            "AWS.MechanicalTurk.InvalidParameterValue",
        )
    if row.test is not None and row.test_duration is None:
        raise TurkError("TestDurationInSeconds is required with a Test.", "AWS.MissingParameters")
    if row.answer_key is not None and row.test is None:
        raise TurkError("An AnswerKey needs a Test.", "AWS.MechanicalTurk.InvalidParameterValue")


def create_qualification_type(
    session: Session, requester_id: int, params: dict[str, Any]
) -> dict[str, Any]:
    """Names are unique per requester, refused with AWS's own message, which Mephisto and
    Dallinger match to find the existing type."""
    same_name = select(QualificationType).where(
        QualificationType.requester_id == requester_id, QualificationType.name == params["Name"]
    )
    if session.scalar(same_name) is not None:
        raise TurkError(ALREADY_EXISTS, "AWS.MechanicalTurk.QualificationTypeAlreadyExists")
    row = QualificationType(
        id=new_id(),
        requester_id=requester_id,
        name=params["Name"],
        description=params["Description"],
        keywords=params.get("Keywords", ""),
        status=params["QualificationTypeStatus"],
        auto_granted=False,
        created_at=now(),
    )
    _apply_settings(row, params)
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:  # a concurrent request created the name first
        raise TurkError(
            ALREADY_EXISTS, "AWS.MechanicalTurk.QualificationTypeAlreadyExists"
        ) from None
    return {"QualificationType": _type_dict(row)}


def get_qualification_type(
    session: Session, requester_id: int, params: dict[str, Any]
) -> dict[str, Any]:
    type_id = params["QualificationTypeId"]
    if type_id in SYSTEM_TYPES:
        return {"QualificationType": _system_type_dict(type_id)}
    return {"QualificationType": _type_dict(_own_type(session, requester_id, type_id))}


def update_qualification_type(
    session: Session, requester_id: int, params: dict[str, Any]
) -> dict[str, Any]:
    row = _own_type(session, requester_id, params["QualificationTypeId"])
    _apply_settings(row, params)
    return {"QualificationType": _type_dict(row)}


def delete_qualification_type(
    session: Session, requester_id: int, params: dict[str, Any]
) -> dict[str, Any]:
    """Deletes the type and every worker's score of it at once (MTurk does it in the
    background, showing the status Disposing meanwhile)."""
    row = _own_type(session, requester_id, params["QualificationTypeId"])
    for granted in session.scalars(
        select(WorkerQualification).where(WorkerQualification.qualification_type_id == row.id)
    ):
        session.delete(granted)
    session.delete(row)
    return {}


def _matches_query(body: dict[str, Any], query: str) -> bool:
    text = " ".join(str(body.get(key, "")) for key in ("Name", "Description", "Keywords"))
    return query.lower() in text.lower()


def _offset_page(
    params: dict[str, Any], items: list[dict[str, Any]], listing: list[Any]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """As AWS pages: every non-empty page carries a NextToken; past the end, an empty page
    without one. A token names its listing (``listing``: the operation, the requester and the
    filters), so another listing's, garbage or forged token is refused, as ``_page`` in
    ``operations`` does."""
    digest = hashlib.sha256(json.dumps(listing).encode()).hexdigest()[:16]
    start = 0
    if (token := params.get("NextToken")) is not None:
        try:
            version, listed, offset = base64.urlsafe_b64decode(token.encode()).decode().split(":")
            start = int(offset)
        except (ValueError, UnicodeDecodeError):
            version, listed, start = "", "", -1
        if version != TOKEN_VERSION or listed != digest or start < 0:
            raise TurkError(INVALID_NEXT_TOKEN, "AWS.ParameterOutOfRange")
    page = items[start : start + params.get("MaxResults", 10)]
    extra: dict[str, Any] = {"NumResults": len(page)}
    if page:
        token = f"{TOKEN_VERSION}:{digest}:{start + len(page)}"
        extra["NextToken"] = base64.urlsafe_b64encode(token.encode()).decode()
    return page, extra


def list_qualification_types(
    session: Session, requester_id: int, params: dict[str, Any]
) -> dict[str, Any]:
    """The caller's types, and MTurk's system types unless MustBeOwnedByCaller or
    MustBeRequestable (system types cannot be requested). Other requesters' types are not
    listed: here a requester's types are its own."""
    rows = session.scalars(
        select(QualificationType)
        .where(QualificationType.requester_id == requester_id)
        .order_by(QualificationType.seq)
    )
    bodies = [_type_dict(row) for row in rows]
    if not params.get("MustBeOwnedByCaller"):
        bodies = [_system_type_dict(type_id) for type_id in SYSTEM_TYPES] + bodies
    if params["MustBeRequestable"]:
        bodies = [body for body in bodies if body["IsRequestable"]]
    if query := params.get("Query"):
        bodies = [body for body in bodies if _matches_query(body, query)]
    filters = [params.get(key) for key in ("Query", "MustBeRequestable", "MustBeOwnedByCaller")]
    page, extra = _offset_page(params, bodies, ["types", requester_id, *filters])
    return {**extra, "QualificationTypes": page}


def _grant(session: Session, type_id: str, worker_id: str) -> WorkerQualification | None:
    return session.scalar(
        select(WorkerQualification).where(
            WorkerQualification.qualification_type_id == type_id,
            WorkerQualification.worker_id == worker_id,
        )
    )


def associate_qualification_with_worker(
    session: Session, requester_id: int, params: dict[str, Any]
) -> dict[str, Any]:
    """Grants (or re-grants, with a new value) the caller's type to a worker, who is told on the
    worker site unless SendNotification is false (it is true by default, as on MTurk)."""
    row = _own_type(session, requester_id, params["QualificationTypeId"])
    granted = _grant(session, row.id, params["WorkerId"])
    if granted is None:
        granted = WorkerQualification(
            qualification_type_id=row.id, requester_id=requester_id, worker_id=params["WorkerId"]
        )
        session.add(granted)
    granted.integer_value = params.get("IntegerValue", 1)
    granted.status, granted.granted_at = "Granted", now()
    if params.get("SendNotification", True):
        session.add(
            WorkerMessage(
                requester_id=requester_id,
                worker_id=params["WorkerId"],
                subject=f"Qualification granted: {row.name}"[:200],
                text=f"You have been granted the qualification {row.name!r} "
                f"with the value {granted.integer_value}.",
            )
        )
    return {}


def disassociate_qualification_from_worker(
    session: Session, requester_id: int, params: dict[str, Any]
) -> dict[str, Any]:
    """Revokes the worker's score: it stays listed with status Revoked and meets nothing."""
    row = _own_type(session, requester_id, params["QualificationTypeId"])
    granted = _grant(session, row.id, params["WorkerId"])
    if granted is None or granted.status != "Granted":
        raise TurkError(
            f"You requested a Qualification that does not exist. "
            f"(Worker {params['WorkerId']}, QualificationType {row.id})",
            "AWS.MechanicalTurk.QualificationDoesNotExist",
        )
    granted.status = "Revoked"
    return {}


def _qualification_dict(granted: WorkerQualification) -> dict[str, Any]:
    body: dict[str, Any] = {
        "QualificationTypeId": granted.qualification_type_id,
        "WorkerId": granted.worker_id,
        "GrantTime": granted.granted_at,
        "Status": granted.status,
    }
    if granted.integer_value is not None:
        body["IntegerValue"] = granted.integer_value
    if granted.locale_country is not None:
        locale = {"Country": granted.locale_country}
        if granted.locale_subdivision is not None:
            locale["Subdivision"] = granted.locale_subdivision
        body["LocaleValue"] = locale
    return body


def get_qualification_score(
    session: Session, requester_id: int, params: dict[str, Any]
) -> dict[str, Any]:
    """Only the type's owner reads scores, as on MTurk."""
    row = _own_type(session, requester_id, params["QualificationTypeId"])
    granted = _grant(session, row.id, params["WorkerId"])
    if granted is None:
        raise TurkError(
            f"You requested a Qualification that does not exist. "
            f"(Worker {params['WorkerId']}, QualificationType {row.id})",
            "AWS.MechanicalTurk.QualificationDoesNotExist",
        )
    return {"Qualification": _qualification_dict(granted)}


def list_workers_with_qualification_type(
    session: Session, requester_id: int, params: dict[str, Any]
) -> dict[str, Any]:
    row = _own_type(session, requester_id, params["QualificationTypeId"])
    stmt = (
        select(WorkerQualification)
        .where(
            WorkerQualification.qualification_type_id == row.id,
            WorkerQualification.status == params.get("Status", "Granted"),
        )
        .order_by(WorkerQualification.seq)
    )
    bodies = [_qualification_dict(granted) for granted in session.scalars(stmt)]
    listing = ["workers", requester_id, row.id, params.get("Status", "Granted")]
    page, extra = _offset_page(params, bodies, listing)
    return {**extra, "Qualifications": page}


def check_requirements(
    session: Session, requester_id: int, requirements: Sequence[dict[str, Any]]
) -> None:
    """A HIT type's QualificationRequirements name system types or the caller's own, and carry
    the values their comparators need."""
    for requirement in requirements:
        require_visible(session, requester_id, requirement["QualificationTypeId"])
        comparator = requirement["Comparator"]
        integers = requirement.get("IntegerValues") or []
        locales = requirement.get("LocaleValues") or []
        if comparator in ("Exists", "DoesNotExist"):
            if integers or locales:
                raise TurkError(
                    f"{comparator} takes no IntegerValues or LocaleValues.",
                    "AWS.MechanicalTurk.InvalidParameterValue",
                )
        elif integers and locales or not (integers or locales):
            raise TurkError(
                f"{comparator} needs either IntegerValues or LocaleValues.",
                "AWS.MechanicalTurk.InvalidParameterValue",
            )
        elif comparator not in ("In", "NotIn") and len(integers) + len(locales) != 1:
            raise TurkError(
                f"{comparator} takes a single value; In and NotIn take several.",
                "AWS.MechanicalTurk.InvalidParameterValue",
            )


def require_visible(session: Session, requester_id: int, type_id: str) -> None:
    """A system type, or one of the caller's own; else QualificationTypeDoesNotExist."""
    if type_id not in SYSTEM_TYPES:
        _own_type(session, requester_id, type_id)
