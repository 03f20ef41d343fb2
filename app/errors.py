"""The API's error objects: ``{"error": {"type", "message", "param", "code"}}`` for everything."""

from __future__ import annotations

from typing import Any

from flask import current_app, g, request
from werkzeug.exceptions import HTTPException

from app.domain import Conflict, DomainError, InvalidRows, NotFound, NothingPublished
from mturk.gateway import MTurkError, MTurkUnavailable

INVALID_REQUEST = "invalid_request_error"
AUTHENTICATION = "authentication_error"
RATE_LIMIT = "rate_limit_error"
VALIDATION = "validation_error"
API_ERROR = "api_error"


class ApiError(Exception):
    """An error the API answers on purpose: raised at the web edge, or mapped from the
    services' domain errors and MTurk's by ``api_error_for``."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = INVALID_REQUEST,
        param: str | None = None,
        code: str | None = None,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.extra = extra or {}
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        error = {"type": self.type, "message": self.message, "param": self.param, "code": self.code}
        return {"error": {**error, **self.extra}}


def invalid(message: str, param: str | None = None, code: str | None = None) -> ApiError:
    return ApiError(400, message, param=param, code=code)


def error_type_for(status: int) -> str:
    if status == 401:
        return AUTHENTICATION
    if status == 429:
        return RATE_LIMIT
    if status >= 500:
        return API_ERROR
    return INVALID_REQUEST


def from_http_exception(error: HTTPException) -> ApiError:
    """Translate werkzeug's and webargs' exceptions into our error object."""
    status = error.code or 500
    headers = {}
    if status == 405 and error.valid_methods:  # type: ignore[attr-defined]
        headers["Allow"] = ", ".join(error.valid_methods)  # type: ignore[attr-defined]
    data = getattr(error, "data", None) or {}
    if "messages" in data:
        param, message = first_message(data["messages"])
        return ApiError(status, message, param=param, headers=headers)
    if status == 404:
        message = f"Unrecognized request URL ({request.method}: {request.path})."
    elif status == 405:
        message = f"{request.method} is not allowed on {request.path}."
    elif status == 413:
        limit = current_app.config["MAX_CONTENT_LENGTH"]
        message = f"The request body is larger than the limit of {limit} bytes."
    elif status >= 500:
        message = (
            "Something went wrong on our side; the request was logged as "
            f"{g.get('request_id', 'unknown')}."
        )
    else:
        message = error.description or error.name
    return ApiError(status, message, type=error_type_for(status), headers=headers)


def first_message(messages: Any) -> tuple[str | None, str]:
    """Pick the first validation message and name its parameter Stripe's way (``a[0][b]``)."""
    path: list[str] = []
    node = messages
    # webargs nests messages under the location ("body", "query", "json"): drop that level.
    if isinstance(node, dict) and len(node) == 1:
        location = next(iter(node))
        if location in {"body", "query", "json", "form", "files", "view_args", "path"}:
            node = node[location]
    while isinstance(node, dict) and node:
        key = next(iter(node))
        node = node[key]
        if key != "_schema":
            path.append(str(key))
    while isinstance(node, list) and node and not isinstance(node[0], str):
        node = node[0]
    text = node[0] if isinstance(node, list) and node else str(node)
    if not path:
        return None, str(text)
    param = path[0] + "".join(f"[{part}]" for part in path[1:])
    return param, f"Invalid {param}: {text}"


def mturk_error(error: MTurkError) -> ApiError:
    """MTurk's outage is a 503 to retry later; its refusal a 400 that carries MTurk's reason."""
    if isinstance(error, MTurkUnavailable):
        return ApiError(
            503,
            f"MTurk is unavailable; nothing was lost, try again later. ({error.message})",
            type=API_ERROR,
            code="mturk_unavailable",
        )
    return ApiError(
        400, f"MTurk refused the request: {error.message} [{error.code}]", code="mturk_rejected"
    )


def error_object(error: MTurkError) -> dict[str, Any]:
    """The ``error`` object of an MTurk failure, for answers that list several outcomes."""
    return mturk_error(error).body()["error"]  # type: ignore[no-any-return]


def domain_error(error: DomainError) -> ApiError:
    """The status, type and code of each kind of refusal the services raise."""
    if isinstance(error, NothingPublished):
        first = mturk_error(error.failures[0].error)
        return ApiError(
            first.status,
            f"No item could be published: {first.message}",
            type=first.type,
            code=first.code,
            extra={
                "failed": [{"item": f.item, "error": error_object(f.error)} for f in error.failures]
            },
        )
    status = 404 if isinstance(error, NotFound) else 409 if isinstance(error, Conflict) else 400
    extra = {"errors": error.errors} if isinstance(error, InvalidRows) else None
    return ApiError(status, error.message, param=error.param, code=error.code, extra=extra)


def api_error_for(error: Exception) -> ApiError:
    """Any error the services may raise, as the API answers it."""
    if isinstance(error, MTurkError):
        return mturk_error(error)
    if isinstance(error, DomainError):
        return domain_error(error)
    assert isinstance(error, ApiError)
    return error
