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
import functools
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mturk.question_form_xml import FileUploadAnswer
from mturk.questions import InvalidQuestion
from mturk.service import question_forms
from mturk.service.errors import TurkError
from mturk.service.store import (
    Assignment,
    QualificationRequest,
    QualificationType,
    WorkerAccount,
    WorkerBlock,
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
        )
    )
    if row is not None:  # a Revoked score meets nothing, not even by AutoGranted
        if row.status != "Granted":
            return None
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
    check_test(row)  # qualification requests and tests (below)


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
    for request in session.scalars(  # and every request for it (see the requests section)
        select(QualificationRequest).where(QualificationRequest.qualification_type_id == row.id)
    ):
        session.delete(request)
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
    value = params.get("IntegerValue", 1)
    _grant_value(session, row, params["WorkerId"], value)
    if params.get("SendNotification", True):
        session.add(
            WorkerMessage(
                requester_id=requester_id,
                worker_id=params["WorkerId"],
                subject=f"Qualification granted: {row.name}"[:200],
                text=f"You have been granted the qualification {row.name!r} "
                f"with the value {value}.",
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


# ---- qualification requests and tests (the worker site's, the owner's decisions) -----------
#
# A worker asks for a requestable type on the worker site. As on MTurk: an AutoGranted type is
# granted at once; a type with a Test is taken (the request is Testing from its start, and must
# be submitted within TestDurationInSeconds), then graded at once by its AnswerKey (Approved,
# with the score) or left Pending; a type with neither is Pending. The owner lists Pending
# requests and accepts (grants a score) or rejects them. Without RetryDelayInSeconds a worker
# asks once; with it, again that many seconds after their last request.

QUALIFICATION_REQUEST_MISSING = "AWS.MechanicalTurk.QualificationRequestDoesNotExist"
XML_PARSE_ERROR = "AWS.MechanicalTurk.XMLParseError"
MAX_TEST_BYTES = 65_535  # MTurk's limit on Test and AnswerKey


class CannotRequest(Exception):
    """Why a worker may not request a type, or start or submit its test, now: in words for
    the worker."""


class AnswersRefused(Exception):
    """Test answers that break their questions' constraints (QuestionIdentifier: why); the
    test stays in progress, so the worker can correct them."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{key}: {why}" for key, why in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class Standing:
    """Where a worker stands with a type: the score they hold (``held``: a Granted one, or an
    Active AutoGranted type's, ``automatic``), their last request, and what they may do now:
    ``action`` is "request", "test" (start it), "continue" (a test in progress, to submit by
    ``deadline``) or None, with ``reason`` saying why not and ``retry_at`` when they may."""

    qualification_type: QualificationType
    held: int | None
    automatic: bool
    revoked: bool
    last: QualificationRequest | None
    action: str | None
    reason: str | None = None
    deadline: float | None = None
    retry_at: float | None = None

    @property
    def timed_out(self) -> bool:
        """The last request is a test whose time ran out before it was submitted."""
        in_test = self.last is not None and self.last.status == "Testing"
        return in_test and self.action != "continue"


def check_test(row: QualificationType) -> None:
    """A type's Test must be a QuestionForm the worker site can give (no file uploads: a
    qualification test keeps no files) and its AnswerKey must fit it."""
    for name, text in (("Test", row.test), ("AnswerKey", row.answer_key)):
        if text is not None and len(text.encode()) > MAX_TEST_BYTES:
            raise TurkError(
                f"{name} must be at most {MAX_TEST_BYTES} bytes long.", "AWS.ParameterOutOfRange"
            )
    for name, seconds in (
        ("TestDurationInSeconds", row.test_duration),
        ("RetryDelayInSeconds", row.retry_delay),
    ):
        if seconds is not None and seconds < (1 if name == "TestDurationInSeconds" else 0):
            raise TurkError(
                f"{name} must be a positive number of seconds.", "AWS.ParameterOutOfRange"
            )
    if row.test is None:
        return
    try:
        form = question_forms.parse_form(row.test)
    except InvalidQuestion as exc:
        raise TurkError(f"Test is not a valid QuestionForm: {exc}", XML_PARSE_ERROR) from None
    if any(isinstance(question.answer, FileUploadAnswer) for question in form.questions):
        raise TurkError(
            "Test may not ask for a file (FileUploadAnswer): qualification tests keep no files.",
            "AWS.MechanicalTurk.InvalidParameterValue",
        )
    if row.answer_key is not None:
        try:
            question_forms.parse_answer_key(row.answer_key, form)
        except InvalidQuestion as exc:
            raise TurkError(
                f"AnswerKey is not a valid AnswerKey for the Test: {exc}", XML_PARSE_ERROR
            ) from None


def offered_type(session: Session, type_id: str) -> QualificationType | None:
    """Any requester's type, as workers see it (requests are made for types, not to their
    owner); None when there is no such type."""
    return session.scalar(select(QualificationType).where(QualificationType.id == type_id))


def offered_types(session: Session, query: str = "", limit: int = 200) -> list[QualificationType]:
    """Active, requestable types of every requester, by name; ``query`` searches their name,
    description and keywords."""
    stmt = select(QualificationType).where(
        QualificationType.status == "Active", QualificationType.is_requestable.is_(True)
    )
    if query := query.strip():
        pattern = "%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(
            QualificationType.name.ilike(pattern, escape="\\")
            | QualificationType.description.ilike(pattern, escape="\\")
            | QualificationType.keywords.ilike(pattern, escape="\\")
        )
    return list(
        session.scalars(stmt.order_by(QualificationType.name, QualificationType.seq).limit(limit))
    )


def standings(
    session: Session, worker_id: str, types: Sequence[QualificationType], at: float | None = None
) -> list[Standing]:
    """The worker's standing with each of ``types``, in a few queries."""
    at = now() if at is None else at
    type_ids = [row.id for row in types]
    scores = {
        row.qualification_type_id: row
        for row in session.scalars(
            select(WorkerQualification).where(
                WorkerQualification.worker_id == worker_id,
                WorkerQualification.qualification_type_id.in_(type_ids),
            )
        )
    }
    requests: dict[str, list[QualificationRequest]] = {}
    for request in session.scalars(
        select(QualificationRequest)
        .where(
            QualificationRequest.worker_id == worker_id,
            QualificationRequest.qualification_type_id.in_(type_ids),
        )
        .order_by(QualificationRequest.seq)
    ):
        requests.setdefault(request.qualification_type_id, []).append(request)
    blocking = set(
        session.scalars(
            select(WorkerBlock.requester_id).where(
                WorkerBlock.worker_id == worker_id,
                WorkerBlock.requester_id.in_({row.requester_id for row in types}),
            )
        )
    )
    return [
        _standing(
            row, scores.get(row.id), requests.get(row.id, []), row.requester_id in blocking, at
        )
        for row in types
    ]


def standing(
    session: Session, worker_id: str, qualification_type: QualificationType, at: float | None = None
) -> Standing:
    return standings(session, worker_id, [qualification_type], at)[0]


def _standing(
    row: QualificationType,
    score: WorkerQualification | None,
    requests: list[QualificationRequest],
    blocked: bool,
    at: float,
) -> Standing:
    # A test in progress whose Test the owner has changed since is void: it does not count.
    requests = [r for r in requests if not (r.status == "Testing" and r.test != row.test)]
    last = requests[-1] if requests else None
    revoked = score is not None and score.status != "Granted"
    held: int | None = None
    automatic = False
    if score is not None and not revoked:
        held = score.integer_value
    elif score is None and row.auto_granted and row.status == "Active":
        held, automatic = row.auto_granted_value or 1, True
    found = functools.partial(Standing, row, held, automatic, revoked, last)
    if last is not None and last.status == "Testing" and row.test_duration is not None:
        deadline = last.started_at + row.test_duration
        if at < deadline:
            return found("continue", deadline=deadline)
    if row.status != "Active" or not row.is_requestable:
        return found(None, "This qualification is not open to requests now.")
    if blocked:
        return found(None, "The requester who offers this qualification has blocked you.")
    if last is not None and last.status == "Pending":
        return found(None, "Your request is waiting for the requester's decision.")
    if revoked and row.auto_granted:
        return found(None, "The requester revoked this qualification.")
    if row.test is None and held is not None and not automatic:
        return found(None, "You have this qualification.")
    action = "test" if row.test is not None else "request"
    if last is None:
        return found(action)
    if row.retry_delay is None:
        return found(None, "This qualification can be requested only once.")
    retry_at = last.started_at + row.retry_delay
    if at < retry_at:
        return found(None, "You asked for it recently.", retry_at=retry_at)
    return found(action)


def _grant_value(session: Session, row: QualificationType, worker_id: str, value: int) -> None:
    """Give the worker this score of the type (a new one, or a new value of theirs)."""
    granted = _grant(session, row.id, worker_id)
    if granted is None:
        granted = WorkerQualification(
            qualification_type_id=row.id, requester_id=row.requester_id, worker_id=worker_id
        )
        try:
            with session.begin_nested():
                session.add(granted)
        except IntegrityError:  # granted by a concurrent call meanwhile: update theirs
            granted = _grant(session, row.id, worker_id)
            assert granted is not None
    granted.integer_value = value
    granted.status, granted.granted_at = "Granted", now()


def _one_at_a_time(session: Session, worker_id: str) -> None:
    """Lock the worker's account row until this transaction ends: of two requests by the same
    worker at once (a double click), the second waits and then sees the first, on PostgreSQL
    too (SQLite's write lock already serializes them)."""
    session.execute(
        select(WorkerAccount.seq).where(WorkerAccount.id == worker_id).with_for_update()
    )


def request_qualification(
    session: Session, worker_id: str, row: QualificationType, at: float | None = None
) -> QualificationRequest:
    """A worker's request for a type without a test: granted at once if it is AutoGranted,
    else Pending for its owner."""
    _one_at_a_time(session, worker_id)
    at = now() if at is None else at
    found = standing(session, worker_id, row, at)
    if found.action != "request":
        raise CannotRequest(found.reason or "Take this qualification's test to request it.")
    request = QualificationRequest(
        id=new_id(),
        qualification_type_id=row.id,
        requester_id=row.requester_id,
        worker_id=worker_id,
        status="Pending",
        started_at=at,
        submitted_at=at,
    )
    if row.auto_granted:
        request.status, request.decided_at = "Approved", at
        _grant_value(session, row, worker_id, row.auto_granted_value or 1)
    session.add(request)
    return request


def start_test(
    session: Session, worker_id: str, row: QualificationType, at: float | None = None
) -> QualificationRequest:
    """Start the type's test (its clock starts now), or give back the one in progress."""
    _one_at_a_time(session, worker_id)
    at = now() if at is None else at
    found = standing(session, worker_id, row, at)
    if found.action == "continue":
        assert found.last is not None
        return found.last
    if found.action != "test":
        raise CannotRequest(found.reason or "This qualification has no test: request it.")
    request = QualificationRequest(
        id=new_id(),
        qualification_type_id=row.id,
        requester_id=row.requester_id,
        worker_id=worker_id,
        status="Testing",
        started_at=at,
        test=row.test,
    )
    session.add(request)
    return request


def current_test(
    session: Session, worker_id: str, row: QualificationType, at: float | None = None
) -> tuple[QualificationRequest, question_forms.QuestionForm, float]:
    """The worker's test in progress of this type: its request, its form and its deadline."""
    found = standing(session, worker_id, row, at)
    if found.action != "continue":
        if found.timed_out:
            raise CannotRequest("The time for this test ran out: your answers were not taken.")
        testing = session.scalar(
            select(QualificationRequest).where(
                QualificationRequest.worker_id == worker_id,
                QualificationRequest.qualification_type_id == row.id,
                QualificationRequest.status == "Testing",
                QualificationRequest.test.is_distinct_from(row.test),
            )
        )
        if testing is not None:
            session.delete(testing)  # void: it counts for nothing
            raise CannotRequest("The requester changed this test while you took it: start again.")
        raise CannotRequest("You have no test of this qualification in progress.")
    assert found.last is not None and found.last.test is not None and found.deadline is not None
    try:
        form = question_forms.parse_form(found.last.test)
    except InvalidQuestion:  # accepted when the type was made, refused by a stricter reader now
        raise CannotRequest("This test cannot be shown: the requester must correct it.") from None
    return found.last, form, found.deadline


def submit_test(
    session: Session,
    worker_id: str,
    row: QualificationType,
    values: Any,
    files: Any,
    at: float | None = None,
) -> QualificationRequest:
    """Take the answers of the worker's test in progress (once, and only in time): graded at
    once by the type's AnswerKey (Approved, the score granted), else Pending for the owner."""
    at = now() if at is None else at
    request, form, _ = current_test(session, worker_id, row, at)
    collected = question_forms.collect(form, values, files)
    if collected.errors:
        raise AnswersRefused(collected.errors)
    value = None
    if row.answer_key is not None:
        value = question_forms.grade(row.answer_key, form, collected.answers_xml)
    changes: dict[str, Any] = {
        "status": "Pending" if value is None else "Approved",
        "answer": collected.answers_xml,
        "submitted_at": at,
        "decided_at": None if value is None else at,
    }
    changed = session.execute(
        update(QualificationRequest)
        .where(QualificationRequest.id == request.id, QualificationRequest.status == "Testing")
        .values(**changes)
    ).rowcount  # type: ignore[attr-defined]
    if changed != 1:  # submitted twice at once: one of them counts
        raise CannotRequest("This test was already submitted.")
    session.refresh(request)
    if value is not None:
        _grant_value(session, row, worker_id, value)
    return request


def _own_request(session: Session, requester_id: int, request_id: str) -> QualificationRequest:
    row = session.scalar(
        select(QualificationRequest).where(
            QualificationRequest.id == request_id,
            QualificationRequest.requester_id == requester_id,
        )
    )
    if row is None:
        raise TurkError(
            f"QualificationRequest {request_id} does not exist.", QUALIFICATION_REQUEST_MISSING
        )
    return row


def _decide(
    session: Session, request: QualificationRequest, status: str, reason: str | None
) -> None:
    """Pending to ``status``, once: of two concurrent decisions exactly one is made."""
    changed = session.execute(
        update(QualificationRequest)
        .where(QualificationRequest.id == request.id, QualificationRequest.status == "Pending")
        .values(status=status, decided_at=now(), reason=reason)
    ).rowcount  # type: ignore[attr-defined]
    if changed != 1:
        session.refresh(request)
        raise TurkError(
            f"QualificationRequest {request.id} is {request.status}: "
            "only a Pending request can be accepted or rejected.",
            "AWS.MechanicalTurk.InvalidQualificationRequestState",
        )
    session.refresh(request)


def request_dict(request: QualificationRequest) -> dict[str, Any]:
    """A QualificationRequest as AWS gives it (Test and Answer when there was a test)."""
    body: dict[str, Any] = {
        "QualificationRequestId": request.id,
        "QualificationTypeId": request.qualification_type_id,
        "WorkerId": request.worker_id,
        "Test": request.test,
        "Answer": request.answer,
        "SubmitTime": request.submitted_at,
    }
    return {key: value for key, value in body.items() if value is not None}


def accept_qualification_request(
    session: Session, requester_id: int, params: dict[str, Any]
) -> dict[str, Any]:
    """Grants the worker the score (IntegerValue, 1 by default) and tells them."""
    request = _own_request(session, requester_id, params["QualificationRequestId"])
    row = _own_type(session, requester_id, request.qualification_type_id)
    _decide(session, request, "Approved", None)
    value = params.get("IntegerValue", 1)
    _grant_value(session, row, request.worker_id, value)
    session.add(
        WorkerMessage(
            requester_id=requester_id,
            worker_id=request.worker_id,
            subject=f"Qualification granted: {row.name}"[:200],
            text=f"Your request for the qualification {row.name!r} was accepted: "
            f"your score is {value}.",
        )
    )
    return {}


def reject_qualification_request(
    session: Session, requester_id: int, params: dict[str, Any]
) -> dict[str, Any]:
    """The worker is told on the worker site, with the Reason when one is given."""
    request = _own_request(session, requester_id, params["QualificationRequestId"])
    row = _own_type(session, requester_id, request.qualification_type_id)
    reason = params.get("Reason")
    _decide(session, request, "Rejected", reason)
    text = f"Your request for the qualification {row.name!r} was rejected."
    session.add(
        WorkerMessage(
            requester_id=requester_id,
            worker_id=request.worker_id,
            subject=f"Qualification request rejected: {row.name}"[:200],
            text=f"{text} Reason: {reason}" if reason else text,
        )
    )
    return {}
