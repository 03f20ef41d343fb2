"""Request hooks for every ``/v1`` request: request ids, content negotiation, authentication."""

from __future__ import annotations

import secrets
from typing import Any

from flask import Flask, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException

from app import auth, idempotency
from app.errors import ApiError, from_http_exception
from app.extensions import db

PUBLIC_PATHS = {"/v1/openapi.json"}


def install(app: Flask) -> None:
    app.before_request(_start_request)
    app.before_request(idempotency.claim_or_replay)
    app.after_request(idempotency.record)
    app.after_request(_tag_response)
    app.register_error_handler(ApiError, render_error)
    app.register_error_handler(HTTPException, _render_http_exception)


def _start_request() -> None:
    g.request_id = "req_" + secrets.token_hex(12)
    accepts = request.accept_mimetypes
    if accepts and accepts.best_match(["application/json"]) is None:
        raise ApiError(406, "This API answers only in JSON; accept application/json.")
    if request.path.startswith("/v1/") and request.path not in PUBLIC_PATHS:
        key = auth.presented_key(request)
        g.account_id = auth.authenticate(db.session, key)


def _tag_response(response: Response) -> Response:
    response.headers["Request-Id"] = g.get("request_id", "")
    return response


UNREADABLE = {"invalid_json", "unsupported_content_type", "idempotency_key_invalid"}


def _render_http_exception(error: HTTPException) -> tuple[Any, int, dict[str, str]]:
    if "messages" in (getattr(error, "data", None) or {}):
        g.request_unreadable = True  # parameters failed validation: nothing ran
    return render_error(from_http_exception(error))


def render_error(error: ApiError) -> tuple[Any, int, dict[str, str]]:
    if error.code in UNREADABLE:
        g.request_unreadable = True
    return jsonify(error.body()), error.status, error.headers
