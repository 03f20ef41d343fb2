"""Qualifications on the worker site: requestable types, requests and tests."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from flask import (
    redirect,
    request,
    url_for,
)
from flask_wtf.csrf import generate_csrf
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from mturk.service import qualifications, question_forms
from mturk.service.store import (
    HIT,
    HITType,
    QualificationType,
    Requester,
    now,
)
from mturk.service.worker_site.site import (
    QualificationLink,
    blueprint,
    render_page,
    signed_in,
)

# ---- qualifications: requestable types, requests and tests (``qualifications``) ------------
#
# Every requester's Active, requestable types are listed for workers, with where the worker
# stands; a type's page requests it or starts its test, whose page renders the QuestionForm
# (``question_forms``). A refusal for an unmet requirement links to these pages, carrying the
# HIT (``hit``) so that the worker can go back to it.

HIT_ID = re.compile(r"^[A-Z0-9]{1,64}$")


def qualification_links(
    session: Session, hit: HIT, worker_id: str, action: str
) -> list[QualificationLink]:
    """For each unmet requirement guarding ``action`` whose type workers may request, a link
    to that type's page ("Request qualification" or "Take qualification test")."""
    hit_type = session.get(HITType, hit.hit_type_id)
    assert hit_type is not None
    missing = qualifications.unmet(
        session, worker_id, hit_type.qualification_requirements or [], action
    )
    type_ids = list(dict.fromkeys(requirement["QualificationTypeId"] for requirement in missing))
    offered = session.scalars(
        select(QualificationType).where(
            QualificationType.id.in_(type_ids),
            QualificationType.status == "Active",
            QualificationType.is_requestable.is_(True),
        )
    )
    return [
        QualificationLink(
            row.name,
            "Take qualification test" if row.test is not None else "Request qualification",
            url_for("worker.qualification_page", type_id=row.id, hit=hit.id),
        )
        for row in sorted(offered, key=lambda row: type_ids.index(row.id))
    ]


def _from_hit(session: Session) -> HIT | None:
    """The HIT the worker came from (``hit`` in the query or the form), to go back to."""
    hit_id = request.values.get("hit", "")
    if not HIT_ID.match(hit_id):
        return None
    return session.scalar(select(HIT).where(HIT.id == hit_id, HIT.status != "Disposed"))


def _back_to(hit: HIT | None) -> dict[str, Any]:
    return {"hit": hit.id} if hit is not None else {}


def _owner_names(session: Session, types: Sequence[QualificationType]) -> dict[int, str]:
    ids = {row.requester_id for row in types}
    rows = session.execute(select(Requester.id, Requester.name).where(Requester.id.in_(ids)))
    return {requester_id: name for requester_id, name in rows}


def _offered_or_404(session: Session, type_id: str) -> QualificationType | Response:
    row = qualifications.offered_type(session, type_id)
    if row is None:
        return render_page("refused.html", 404, error="There is no such qualification.")
    return row


@blueprint.get("/worker/qualifications")
@signed_in
def qualification_list(session: Session, worker_id: str) -> Response:
    """The qualifications workers may request, searchable, with the worker's standing."""
    query = request.args.get("q", "")[:200]
    types = qualifications.offered_types(session, query)
    return render_page(
        "qualifications.html",
        query=query,
        standings=qualifications.standings(session, worker_id, types),
        owners=_owner_names(session, types),
    )


def _qualification(
    session: Session,
    worker_id: str,
    row: QualificationType,
    error: str | None = None,
    status: int = 200,
) -> Response:
    return render_page(
        "qualification.html",
        status,
        standing=qualifications.standing(session, worker_id, row),
        owner=_owner_names(session, [row]).get(row.requester_id, ""),
        hit=_from_hit(session),
        error=error,
    )


@blueprint.get("/worker/qualifications/<type_id>")
@signed_in
def qualification_page(session: Session, worker_id: str, type_id: str) -> Response:
    row = _offered_or_404(session, type_id)
    if isinstance(row, Response):
        return row
    return _qualification(session, worker_id, row)


@blueprint.post("/worker/qualifications/<type_id>/request")
@signed_in
def request_qualification(session: Session, worker_id: str, type_id: str) -> Response:
    """Request a type without a test: granted at once if AutoGranted, else Pending."""
    row = _offered_or_404(session, type_id)
    if isinstance(row, Response):
        return row
    try:
        qualifications.request_qualification(session, worker_id, row)
    except qualifications.CannotRequest as refused:
        return _qualification(session, worker_id, row, str(refused), 409)
    return redirect(
        url_for("worker.qualification_page", type_id=row.id, **_back_to(_from_hit(session)))
    )


@blueprint.post("/worker/qualifications/<type_id>/test")
@signed_in
def start_qualification_test(session: Session, worker_id: str, type_id: str) -> Response:
    """Start the test (its time runs from now), or go back to the one in progress."""
    row = _offered_or_404(session, type_id)
    if isinstance(row, Response):
        return row
    try:
        qualifications.start_test(session, worker_id, row)
    except qualifications.CannotRequest as refused:
        return _qualification(session, worker_id, row, str(refused), 409)
    return redirect(
        url_for("worker.qualification_test", type_id=row.id, **_back_to(_from_hit(session)))
    )


def _test_page(
    session: Session,
    worker_id: str,
    row: QualificationType,
    values: Any = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    try:
        _, form, deadline = qualifications.current_test(session, worker_id, row)
    except qualifications.CannotRequest as refused:
        return _qualification(session, worker_id, row, str(refused), 409)
    hit = _from_hit(session)
    rendered = question_forms.render(
        form,
        action=url_for("worker.submit_qualification_test", type_id=row.id),
        hidden={"csrf_token": generate_csrf(), **_back_to(hit)},
        values=values,
        errors=errors,
        submit_label="Submit answers",
    )
    return render_page(
        "qualification_test.html",
        status,
        qualification_type=row,
        form=rendered,
        deadline=deadline,
        left=max(0, int(deadline - now())),
        errors=errors,
        hit=hit,
    )


@blueprint.get("/worker/qualifications/<type_id>/test")
@signed_in
def qualification_test(session: Session, worker_id: str, type_id: str) -> Response:
    row = _offered_or_404(session, type_id)
    if isinstance(row, Response):
        return row
    return _test_page(session, worker_id, row)


@blueprint.post("/worker/qualifications/<type_id>/test/submit")
@signed_in
def submit_qualification_test(session: Session, worker_id: str, type_id: str) -> Response:
    """Take the answers, in time only: graded at once with an AnswerKey, else Pending."""
    row = _offered_or_404(session, type_id)
    if isinstance(row, Response):
        return row
    try:
        qualifications.submit_test(session, worker_id, row, request.form, request.files)
    except qualifications.AnswersRefused as refused:
        return _test_page(session, worker_id, row, request.form, refused.errors, 400)
    except qualifications.CannotRequest as refused:
        return _qualification(session, worker_id, row, str(refused), 409)
    return redirect(
        url_for("worker.qualification_page", type_id=row.id, **_back_to(_from_hit(session)))
    )


# ---- end of qualifications --------------------------------------------------------------
