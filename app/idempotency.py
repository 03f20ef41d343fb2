"""Idempotent requests, as Stripe does them: a POST with an ``Idempotency-Key`` header runs
once per account and key; repeats within 24 hours get the first answer replayed.

- The key is claimed (a row, committed) before the view runs, so a repeat that arrives while
  the first is still running finds the claim and answers 409.
- A repeat whose method, path or body differ answers 400 ``idempotency_error``.
- Answers below 500 are stored and replayed with ``Idempotent-Replayed: true``. Three kinds
  are not, and the claim is dropped so that a retry runs again: a request whose parameters
  failed validation and a 429 over the rate limit (nothing ran), and a 5xx (say, MTurk was
  down; publishing and bonuses are exactly-once on their own, so running again is safe).
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import timedelta

from flask import Response, g, request
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from app.errors import ApiError
from app.extensions import db
from app.models import IdempotencyKey, utcnow
from app.parsing import load_json

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
LIFETIME = timedelta(hours=24)
# A claim older than this with no answer belongs to a process that died mid-request.
ABANDONED_AFTER = timedelta(minutes=5)


def request_fingerprint() -> str:
    """Method, path and body; a JSON body in canonical form, so key order does not matter.

    A body the API's JSON reader refuses (too deep, ``1e400`` ...) is taken as it is: the view
    answers 400 for it anyway.
    """
    body = request.get_data(cache=True)
    try:
        canonical = json.dumps(load_json(body), sort_keys=True).encode() if body else b""
    except ValueError:
        canonical = body
    digest = hashlib.sha256(f"{request.method} {request.path}\n".encode() + canonical)
    return digest.hexdigest()


def claim_or_replay() -> Response | None:
    """Before the view: claim the key, or answer from the first request that used it."""
    key = request.headers.get(HEADER)
    if request.method != "POST" or key is None or "account_id" not in g:
        return None
    if not key or len(key) > MAX_KEY_LENGTH or CONTROL_CHARACTERS.search(key):
        raise ApiError(
            400,
            f"{HEADER} must be 1 to {MAX_KEY_LENGTH} characters, without control characters.",
            param=HEADER,
            code="idempotency_key_invalid",
        )
    fingerprint = request_fingerprint()
    session = db.session
    now = utcnow()
    session.execute(
        delete(IdempotencyKey).where(
            IdempotencyKey.account_id == g.account_id,
            IdempotencyKey.key == key,
            (IdempotencyKey.created < now - LIFETIME)
            | (
                IdempotencyKey.response_status.is_(None)
                & (IdempotencyKey.created < now - ABANDONED_AFTER)
            ),
        )
    )
    claim = IdempotencyKey(account_id=g.account_id, key=key, request_hash=fingerprint)
    session.add(claim)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        return _replay(key, fingerprint)
    g.idempotency_claim = claim.id
    return None


def _replay(key: str, fingerprint: str) -> Response:
    earlier = db.session.scalar(
        select(IdempotencyKey).where(
            IdempotencyKey.account_id == g.account_id, IdempotencyKey.key == key
        )
    )
    if earlier is None:  # its claim was just dropped (a 5xx): this request may retry
        raise ApiError(409, "A request with this Idempotency-Key just failed; retry it.",
                       code="idempotency_key_in_use")  # fmt: skip
    if earlier.request_hash != fingerprint:
        raise ApiError(
            400,
            "Keys for idempotent requests can only be used with the same parameters they were "
            "first used with; this request differs.",
            type="idempotency_error",
            param=HEADER,
        )
    if earlier.response_status is None:
        raise ApiError(
            409,
            "A request with this Idempotency-Key is still being processed; retry later.",
            code="idempotency_key_in_use",
        )
    replay = Response(
        earlier.response_body, status=earlier.response_status, content_type="application/json"
    )
    replay.headers["Idempotent-Replayed"] = "true"
    return replay


def record(response: Response) -> Response:
    """After the view: store the answer under the claim, or drop the claim on a 5xx."""
    claim_id = g.pop("idempotency_claim", None)
    if claim_id is None:
        return response
    session = db.session
    session.rollback()  # whatever the view left open; its own work is committed already
    nothing_ran = response.status_code == 429 or g.get("request_unreadable")
    if response.status_code >= 500 or nothing_ran:
        session.execute(delete(IdempotencyKey).where(IdempotencyKey.id == claim_id))
    else:
        claim = session.get(IdempotencyKey, claim_id)
        if claim is not None:
            claim.response_status = response.status_code
            claim.response_body = response.get_data(as_text=True)
    session.commit()
    response.headers["Idempotency-Key"] = request.headers.get(HEADER, "")
    return response
