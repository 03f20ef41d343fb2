"""Request hooks for every ``/v1`` request: request ids, content negotiation, authentication."""

from __future__ import annotations

import io
import secrets
from typing import IO, Any, cast

from flask import Flask, Request, Response, current_app, g, jsonify, request
from werkzeug.exceptions import HTTPException
from werkzeug.utils import cached_property
from werkzeug.wsgi import LimitedStream

from app import auth, idempotency
from app.domain import DomainError
from app.errors import ApiError, api_error_for, from_http_exception
from app.extensions import db
from mturk.gateway import MTurkError

PUBLIC_PATHS = {"/v1/openapi.json"}


def install(app: Flask) -> None:
    app.request_class = ApiRequest
    app.before_request(_start_request)
    app.before_request(idempotency.claim_or_replay)
    app.after_request(idempotency.record)
    app.after_request(_tag_response)
    app.register_error_handler(ApiError, render_error)
    app.register_error_handler(DomainError, _render_service_error)
    app.register_error_handler(MTurkError, _render_service_error)
    app.register_error_handler(HTTPException, _render_http_exception)


def _start_request() -> None:
    g.request_id = "req_" + secrets.token_hex(12)
    if not request.path.startswith("/v1/"):
        return  # the console's pages: sessions, not API keys; HTML, not only JSON
    accepts = request.accept_mimetypes
    if accepts and accepts.best_match(["application/json", *_view_media_types()]) is None:
        raise ApiError(406, "This API answers only in JSON; accept application/json.")
    if request.path not in PUBLIC_PATHS:
        key = auth.presented_key(request)
        g.account_id = auth.authenticate(db.session, key)


def _view_media_types() -> tuple[str, ...]:
    """What the matched view answers besides JSON (``media_types`` on its MethodView): the
    results downloads' CSV and JSON Lines."""
    view = current_app.view_functions.get(request.endpoint or "")
    return tuple(getattr(getattr(view, "view_class", None), "media_types", ()))


def _tag_response(response: Response) -> Response:
    response.headers["Request-Id"] = g.get("request_id", "")
    return response


UNREADABLE = {"invalid_json", "unsupported_content_type", "idempotency_key_invalid"}


def _render_http_exception(error: HTTPException) -> tuple[Any, int, dict[str, str]]:
    if "messages" in (getattr(error, "data", None) or {}):
        g.request_unreadable = True  # parameters failed validation: nothing ran
    return render_error(from_http_exception(error))


def _render_service_error(error: Exception) -> tuple[Any, int, dict[str, str]]:
    return render_error(api_error_for(error))


def render_error(error: ApiError) -> tuple[Any, int, dict[str, str]]:
    if error.code in UNREADABLE:
        g.request_unreadable = True
    return jsonify(error.body()), error.status, error.headers


class ApiRequest(Request):
    """Flask's request, except that a body of unknown length (``Transfer-Encoding: chunked``)
    is read whole, up to the size limit, before anything parses it.

    werkzeug's own stream stops at the limit without a word, so a view got the body cut short
    (a batch of 10,000 CSV rows created 9,738 items). Here every body reader (JSON, forms,
    files, CSV) gets the whole body, or a 413 on its first read when the body goes on past the
    limit, before any of it is parsed.
    """

    @cached_property
    def stream(self) -> IO[bytes]:
        limit = self.max_content_length
        if (
            self.shallow
            or limit is None
            or self.content_length is not None
            or "wsgi.input_terminated" not in self.environ
        ):
            return super().stream
        body = read_within(self.environ["wsgi.input"], limit)
        if body is None:
            return cast(IO[bytes], LimitedStream(io.BytesIO(), 0, is_max=True))
        return io.BytesIO(body)


def read_within(source: IO[bytes], limit: int) -> bytes | None:
    """The whole body when it is at most ``limit`` bytes. Otherwise None, after reading on (up
    to ``limit`` bytes more) what the client is still sending, so that it gets to read the 413
    rather than a connection reset."""
    body = bytearray()
    while len(body) <= limit:
        chunk = source.read(min(64 * 1024, limit + 1 - len(body)))
        if not chunk:
            return bytes(body)
        body += chunk
    rest = limit
    while rest > 0 and (chunk := source.read(min(rest, 64 * 1024))):
        rest -= len(chunk)
    return None
