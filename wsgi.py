"""WSGI entry point for gunicorn: ``gunicorn wsgi:app`` (run ``hitblocks db upgrade`` first).

Each gunicorn worker imports this module (all at once, unless ``--preload``), so getting the
database ready is done under a file lock: one worker migrates and creates the first key, the
others then find it done.
"""

from __future__ import annotations

import fcntl
import logging
import os

from app import create_app
from app.bootstrap import prepare
from app.extensions import db
from app.services.accounts import IssuedKey


def _prepare_once() -> IssuedKey | None:
    """``prepare`` under a lock file in the instance folder; without one where that folder
    cannot be written (a read-only deployment, whose schema is upgraded beforehand)."""
    try:
        os.makedirs(app.instance_path, exist_ok=True)
        lock = open(os.path.join(app.instance_path, "prepare.lock"), "w")
    except OSError:
        return prepare(app)
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return prepare(app)


app = create_app()
_issued = _prepare_once()
with app.app_context():
    # With --preload this runs in gunicorn's arbiter: its connections must not reach the
    # workers it forks.
    db.engine.dispose()
if _issued is not None:
    logging.getLogger("hitblocks").warning(
        "Created the first account %r with API key %s (shown once).",
        _issued.account_name,
        _issued.key,
    )
