"""Files workers upload to QuestionForm FileUpload questions, and the short-lived URLs that
``GetFileUploadURL`` hands out for them, as MTurk's did (valid for 60 seconds).

A URL's token is random (256 bits) and only its SHA-256 is kept on the file's row, so that
the database alone cannot be turned into download links; asking again replaces the earlier
URL. ``/files/<token>`` answers the file as an attachment that browsers neither render nor
sniff, and 404 for a token unknown or expired.
"""

from __future__ import annotations

import hashlib
import io
import secrets
from typing import Any

from flask import Blueprint, current_app, make_response, send_file
from sqlalchemy import select
from werkzeug.wrappers import Response

from mturk.service.store import UploadedFile, now

DOWNLOAD_SECONDS = 60
TOKEN_BYTES = 32

blueprint = Blueprint("uploads", __name__)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_download(upload: UploadedFile) -> str:
    """A new download token for the file, good for ``DOWNLOAD_SECONDS``."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    upload.download_token_hash = _hash(token)
    upload.download_expires_at = now() + DOWNLOAD_SECONDS
    return token


@blueprint.get("/files/<token>")
def download(token: str) -> Response:
    """The uploaded file for a token GetFileUploadURL gave less than a minute ago."""
    store: Any = current_app.extensions["mturk_local_store"]
    file = UploadedFile.__table__.c
    with store.reading() as connection:  # a read: no write lock while up to 20 MB come out
        found = connection.execute(
            select(file.data, file.filename, file.content_type, file.download_expires_at).where(
                file.download_token_hash == _hash(token)
            )
        ).one_or_none()
    if found is None or found.download_expires_at is None or found.download_expires_at <= now():
        response = make_response("No such file, or its URL has expired.", 404)
        response.mimetype = "text/plain"
        response.headers["Cache-Control"] = "no-store"
        return response
    data, filename, kind = bytes(found.data), found.filename, found.content_type
    response = send_file(
        io.BytesIO(data),
        mimetype=kind,
        as_attachment=True,
        download_name=filename,
        max_age=0,
        etag=False,
        last_modified=None,
    )
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response
