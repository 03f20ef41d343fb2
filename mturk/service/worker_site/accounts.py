"""Signing in and out, and signing up (by invitation, or open when configured)."""

from __future__ import annotations

from typing import Any

from flask import (
    current_app,
    redirect,
    request,
    url_for,
)
from flask import session as browser_session
from werkzeug.wrappers import Response

from mturk.service.worker_site.site import (
    OPEN_SIGNUP,
    blueprint,
    render_page,
    service_store,
    start_session,
)
from mturk.service.workers import (
    WorkerError,
    authenticate,
    invitation_is_valid,
    sign_up,
)


def safe_next(target: str | None) -> str:
    """``target`` if it is a page of the worker site given as a path (``/worker...``), else
    "": nothing sends a worker who signs in to another site."""
    if not target or "\\" in target:
        return ""
    if target != "/worker" and not target.startswith(("/worker/", "/worker?")):
        return ""
    if any(ord(char) < 32 or ord(char) == 127 for char in target):
        return ""
    return target


@blueprint.post("/worker/login")
def login() -> Response:
    """Sign in with an email and a password (rate-limited: see ``init_worker_site``); then to
    the page ``next`` (a page of the worker site, as a path: see ``safe_next``), or the HITs."""
    email = request.form.get("email", "")
    back = safe_next(request.form.get("next"))
    try:
        account = authenticate(service_store(), email, request.form.get("password", ""))
    except WorkerError as error:
        return render_page(
            "login.html", 401, error=str(error), email=email, worker_id=None, next=back
        )
    start_session(account)
    return redirect(back or url_for("worker.index"))


@blueprint.post("/worker/logout")
def logout() -> Response:
    browser_session.clear()
    return redirect(url_for("worker.index"))


@blueprint.get("/worker/signup")
def signup_form() -> Response:
    """The sign-up page, from an invitation link, or open when the setting says so."""
    invitation = request.args.get("invitation", "")
    if invitation and not invitation_is_valid(service_store(), invitation):
        return _signup_page(404, error="This invitation link is not valid: it expired or was used.")
    if not invitation and not current_app.config[OPEN_SIGNUP]:
        return _signup_page(
            403, error="Signing up needs an invitation link: ask the team that runs this site."
        )
    return _signup_page(200, invitation=invitation)


@blueprint.post("/worker/signup")
def signup() -> Response:
    invitation = request.form.get("invitation", "")
    email = request.form.get("email", "")
    try:
        account = sign_up(
            service_store(),
            email,
            request.form.get("password", ""),
            invitation or None,
            bool(current_app.config[OPEN_SIGNUP]),
        )
    except WorkerError as error:
        return _signup_page(400, error=str(error), invitation=invitation, email=email)
    start_session(account)
    return redirect(url_for("worker.index"))


def _signup_page(status: int, **context: Any) -> Response:
    response = render_page("signup.html", status, worker_id=None, **context)
    # The link's token goes to no other site; the worker site's own form still gets the
    # Referer that CSRF protection checks over https.
    response.headers["Referrer-Policy"] = "same-origin"
    return response
