"""Signing in and out of the console."""

from __future__ import annotations

from flask import redirect, request, url_for
from flask import session as browser_session
from werkzeug.wrappers import Response

from app.console.site import blueprint, render_page, start_session
from app.extensions import db
from app.services.users import authenticate


def safe_next(target: str | None) -> str:
    """``target`` if it is a page of the console given as a path (``/console...``), else
    "": nothing sends a user who signs in to another site."""
    if not target or "\\" in target:
        return ""
    if target != "/console" and not target.startswith(("/console/", "/console?")):
        return ""
    if any(ord(char) < 32 or ord(char) == 127 for char in target):
        return ""
    return target


@blueprint.get("/sign-in")
def sign_in_form() -> Response:
    return render_page("console/sign_in.html", next=safe_next(request.args.get("next")))


@blueprint.post("/sign-in")
def sign_in() -> Response:
    """Sign in with an email and a password (rate-limited per email and per address: see
    ``init_console``); then to the page ``next`` (a console path), or the overview."""
    email = request.form.get("email", "")
    back = safe_next(request.form.get("next"))
    user = authenticate(db.session, email, request.form.get("password", ""))
    if user is None:
        error = "That email address and password do not match an active user."
        return render_page("console/sign_in.html", 401, error=error, email=email, next=back)
    start_session(user)
    return redirect(back or url_for("console.overview"))


@blueprint.post("/sign-out")
def sign_out() -> Response:
    browser_session.clear()
    return redirect(url_for("console.sign_in_form"))
