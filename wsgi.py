"""WSGI entry point for gunicorn: ``gunicorn wsgi:app`` (run ``hitblocks db upgrade`` first)."""

from __future__ import annotations

import logging

from app import create_app
from app.bootstrap import prepare

app = create_app()
_issued = prepare(app)
if _issued is not None:
    logging.getLogger("hitblocks").warning(
        "Created the first account %r with API key %s (shown once).",
        _issued.account_name,
        _issued.key,
    )
