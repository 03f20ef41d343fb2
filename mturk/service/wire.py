"""The wire: AWS JSON 1.1 on ``POST /``, checked against botocore's own MTurk model.

botocore validates only required members, types and minima on the client side; MTurk checks
the rest on its side, and so do we: every ``pattern``, ``max`` and ``enum`` of the model, plus
the limits MTurk documents but the model does not carry.
"""

from __future__ import annotations

import datetime
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import botocore.session
from botocore.model import Shape
from botocore.validate import ParamValidator
from flask import Blueprint, Response, current_app, request
from sqlalchemy.orm import Session

from mturk.service import requesters, signatures
from mturk.service.errors import TurkError
from mturk.service.group_commit import CommitFailed
from mturk.service.lifecycle import sweep_if_due
from mturk.service.operations import OPERATIONS, SERVICE_URL, epoch_seconds
from mturk.service.signatures import Authorization, ReceivedRequest, Refused
from mturk.service.store import now as clock

TARGET_PREFIX = "MTurkRequesterServiceV20170117."
CONTENT_TYPE = "application/x-amz-json-1.1"
SERVICE_MODEL = botocore.session.get_session().get_service_model("mturk")

# Limits MTurk documents that botocore's model leaves out: (minimum, maximum, measured as).
DOCUMENTED_LIMITS: dict[str, tuple[int | None, int, str]] = {
    "Title": (1, 128, "characters"),
    "Description": (1, 2000, "characters"),
    "Keywords": (None, 1000, "characters"),
    "Question": (1, 65_535, "bytes"),
    "RequesterAnnotation": (None, 255, "characters"),
    "RequesterFeedback": (None, 1024, "characters"),
    "Reason": (None, 1024, "characters"),
    "Subject": (1, 200, "characters"),
    "MessageText": (1, 4096, "characters"),
    "WorkerIds": (1, 100, "items"),
    "LifetimeInSeconds": (30, 31_536_000, "seconds"),
    "AssignmentDurationInSeconds": (30, 31_536_000, "seconds"),
    "AutoApprovalDelayInSeconds": (0, 2_592_000, "seconds"),
    "MaxAssignments": (1, 1_000_000_000, "assignments"),
    "NumberOfAdditionalAssignments": (1, 1_000_000_000, "assignments"),
}

blueprint = Blueprint("requester", __name__)


@dataclass
class Faults:
    """Test and benchmark knobs: added latency, a rate limit, and queued faults to inject."""

    latency: float = 0.0
    rate_per_second: float = 0.0
    queued: list[tuple[str, str]] = field(default_factory=list)  # (operation or "*", kind)
    calls: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _window: list[float] = field(default_factory=list)

    def before(self, operation: str) -> None:
        with self._lock:
            self.calls[operation] = self.calls.get(operation, 0) + 1
            for index, (target, kind) in enumerate(self.queued):
                if target in {operation, "*"}:
                    del self.queued[index]
                    _raise_fault(kind)
            if self.rate_per_second:
                now = time.monotonic()
                self._window = [t for t in self._window if t > now - 1.0]
                if len(self._window) >= self.rate_per_second:
                    _raise_fault("throttle")
                self._window.append(now)
        if self.latency:
            time.sleep(self.latency)


def _raise_fault(kind: str) -> None:
    if kind == "throttle":
        raise AwsError(400, "ThrottlingException", "Rate exceeded")
    raise TurkError("We encountered an internal error.", "AWS.ServiceFault", "ServiceFault", 500)


class AwsError(Exception):
    """An error of the AWS JSON protocol itself, outside MTurk's RequestError/ServiceFault."""

    def __init__(self, status: int, aws_type: str, message: str) -> None:
        super().__init__(message)
        self.status, self.aws_type, self.message = status, aws_type, message


def _reply(status: int, body: dict[str, Any]) -> Response:
    response = Response(json.dumps(body), status=status, content_type=CONTENT_TYPE)
    response.headers["x-amzn-RequestId"] = str(uuid.uuid4())
    return response


@blueprint.post("/")
def requester_api() -> Response:
    """Every call is authenticated (the requester owning a valid signature's key), then
    validated, then run in one transaction as that requester."""
    try:
        authorization = _authorization()
        operation, params = _read_request()
        current_app.extensions["mturk_local_faults"].before(operation)
        store = current_app.extensions["mturk_local_store"]
        with store.transaction() as session:
            requester_id = _authenticate(session, authorization)
            session.info[SERVICE_URL] = request.host_url.rstrip("/")  # for URLs it hands out
            validate(operation, params)
            sweep_if_due(store, session)
            result = OPERATIONS[operation](session, requester_id, params)
        return _reply(200, result)
    except CommitFailed:
        # Nothing of the call took effect (``group_commit``): a fault, which clients retry.
        current_app.logger.exception("A requester call's transaction was not committed")
        fault = TurkError(
            "We encountered an internal error.", "AWS.ServiceFault", "ServiceFault", 500
        )
        return _reply(fault.status, _turk_body(fault))
    except TurkError as error:
        return _reply(error.status, _turk_body(error))
    except (AwsError, Refused) as error:
        return _reply(error.status, {"__type": error.aws_type, "message": error.message})


def _turk_body(error: TurkError) -> dict[str, Any]:
    return {"__type": error.kind, "Message": error.message, "TurkErrorCode": error.code}


def _authorization() -> Authorization:
    header = request.headers.get("Authorization", "")
    if not header.startswith(signatures.ALGORITHM + " ") or "X-Amz-Date" not in request.headers:
        raise AwsError(403, "MissingAuthenticationTokenException", "Missing Authentication Token")
    return signatures.parse_authorization(header)


def _authenticate(session: Session, authorization: Authorization) -> int:
    """The requester whose active key signed this request, as AWS checks it."""
    key = requesters.active_key(session, authorization.access_key_id)
    if key is None:
        raise Refused(
            "UnrecognizedClientException", "The security token included in the request is invalid."
        )
    query = request.query_string.decode("latin-1")
    received = ReceivedRequest(
        method=request.method,
        url=f"{request.scheme}://{request.host}{request.path}" + (f"?{query}" if query else ""),
        headers={name.lower(): value for name, value in request.headers.items()},
        body=request.get_data(),
    )
    at = clock()
    now = datetime.datetime.fromtimestamp(at, datetime.UTC).replace(tzinfo=None)
    signatures.verify(received, authorization, key.secret, now)
    requesters.mark_used(key, at)
    return key.requester_id


def _read_request() -> tuple[str, dict[str, Any]]:
    target = request.headers.get("X-Amz-Target", "")
    operation = target.removeprefix(TARGET_PREFIX)
    if not target.startswith(TARGET_PREFIX) or operation not in OPERATIONS:
        raise AwsError(400, "UnknownOperationException", f"Unknown operation {target!r}")
    try:
        params = json.loads(request.get_data() or b"{}")
    except ValueError:
        raise AwsError(400, "SerializationException", "The request body is not JSON.") from None
    if not isinstance(params, dict):
        raise AwsError(400, "SerializationException", "The request body must be a JSON object.")
    return operation, params


def validate(operation: str, params: dict[str, Any]) -> None:
    """botocore's own checks, then MTurk's patterns, maxima, enums and documented limits."""
    shape = SERVICE_MODEL.operation_model(operation).input_shape
    for name, member in shape.members.items():  # type: ignore[attr-defined]
        # Before botocore's validator, which fails on some (an infinite number).
        if member.type_name == "timestamp" and name in params:
            if epoch_seconds(params[name]) is None:
                raise TurkError(
                    f"{name} must be a time: seconds since 1970 or ISO 8601, before 10000",
                    "AWS.ParameterOutOfRange",
                )
    report = ParamValidator().validate(params, shape)
    if report.has_errors():
        raise TurkError(report.generate_report(), "AWS.ParameterOutOfRange")
    problems: list[str] = []
    _check(params, shape, "", problems)
    for name, value in params.items():
        if name in DOCUMENTED_LIMITS:
            _check_documented(name, value, problems)
    if problems:
        raise TurkError("; ".join(problems), "AWS.ParameterOutOfRange")


def _check(value: Any, shape: Shape, path: str, problems: list[str]) -> None:
    meta = shape.metadata
    if shape.type_name == "structure":
        for name, member in shape.members.items():  # type: ignore[attr-defined]
            if isinstance(value, dict) and name in value:
                _check(value[name], member, f"{path}.{name}".lstrip("."), problems)
    elif shape.type_name == "list":
        if "max" in meta and len(value) > meta["max"]:
            problems.append(f"{path} has more than {meta['max']} items")
        for index, item in enumerate(value):
            _check(item, shape.member, f"{path}[{index}]", problems)  # type: ignore[attr-defined]
    elif shape.type_name == "string":
        if "max" in meta and len(value) > meta["max"]:
            problems.append(f"{path} is longer than {meta['max']} characters")
        if "pattern" in meta and not re.search(meta["pattern"], value):
            problems.append(f"{path} does not match {meta['pattern']}")
        enum = getattr(shape, "enum", None)
        if enum and value not in enum:
            problems.append(f"{path} must be one of {', '.join(enum)}")
    elif shape.type_name in {"integer", "long"} and "max" in meta and value > meta["max"]:
        problems.append(f"{path} must be at most {meta['max']}")


def _check_documented(name: str, value: Any, problems: list[str]) -> None:
    low, high, unit = DOCUMENTED_LIMITS[name]
    if unit in {"characters", "bytes", "items"}:
        size = len(value.encode()) if unit == "bytes" else len(value)
        if size > high or (low is not None and size < low):
            problems.append(f"{name} must be {low or 0} to {high} {unit} long")
    elif not (low or 0) <= value <= high:
        problems.append(f"{name} must be between {low} and {high} {unit}")
