"""The task content origin: where HTMLQuestion pages run, apart from the worker site.

MTurk serves a requester's HTML from a sandbox domain of its own, never from the worker
site. Here it is a WSGI app of its own on its own port (or host), sharing the service's
store. Because its origin differs from the worker site's, the worker site's task frame can
allow scripts, same-origin storage and popups (psiTurk-style tasks need them) without the
task reaching the worker's session. It serves three things and nothing else: a HIT's
HTMLQuestion page, as the requester wrote it, and stand-ins for the two scripts MTurk's
templates load from Amazon (crowd-html-elements.js and externalHIT_v1.js), so that a task
page works with no internet: references to Amazon's copies are rewritten to the stand-ins,
and forms posting to MTurk's own externalSubmit (production or sandbox) post to the
service's instead. A QuestionForm HIT's page is drawn here too (``question_forms``), as MTurk
drew it.

Every task page it serves gets two tags of the worker site's own, from its /assets/
(``frame_tags``): task-frame.js, which tells the worker site's page the content's height and
the keys pressed in the task and submits the task's form when asked (the frame protocol), and
task.css, zero-specificity defaults that let a desktop template fit a phone's frame.

A task page is shown only for a HIT a worker could preview (Assignable, not expired), or for
an assignment of that HIT that is still Accepted; any other assignment id is shown the
preview, with ``assignmentId=ASSIGNMENT_ID_NOT_AVAILABLE`` as MTurk does.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from flask import (
    Blueprint,
    Flask,
    current_app,
    make_response,
    redirect,
    request,
    send_from_directory,
)
from markupsafe import Markup, escape
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from mturk.questions import parse_question
from mturk.service import question_forms
from mturk.service.store import HIT, Assignment, HITType, Store, now

NOT_ACCEPTED = "ASSIGNMENT_ID_NOT_AVAILABLE"
CROWD_ELEMENTS = "https://assets.crowd.aws/crowd-html-elements.js"
CROWD_ELEMENTS_HERE = "/assets/crowd-html-elements.js"
EXTERNAL_HIT = re.compile(
    r"(?:https?:)?//(?:s3\.amazonaws\.com/mturk-public|mturk-public\.s3\.amazonaws\.com)"
    r"/externalHIT_v1\.js",
    re.IGNORECASE,
)
EXTERNAL_HIT_HERE = "/assets/externalHIT_v1.js"
TASK_FRAME_HERE = "/assets/task-frame.js"
TASK_STYLES_HERE = "/assets/task.css"
# Where the frame tags go: just inside <head>, else <html>, else after a leading doctype (a
# fragment, as most templates are, where the browser puts them in the head it makes).
_HEAD_TAG = re.compile(r"<head(?:\s[^>]*)?>", re.IGNORECASE)
_HTML_TAG = re.compile(r"<html(?:\s[^>]*)?>", re.IGNORECASE)
_LEADING_DOCTYPE = re.compile(r"\A(?:\s|<!--.*?-->)*<!doctype[^>]*>", re.IGNORECASE | re.DOTALL)
MTURK_SUBMIT = re.compile(
    r"https?://(?:www|workersandbox)\.mturk\.com/mturk/externalSubmit", re.IGNORECASE
)

STATIC = Path(__file__).resolve().parent / "static"

blueprint = Blueprint("content", __name__)


def origin(url: str) -> str:
    """``scheme://host[:port]`` of a URL: what a browser compares for same-origin."""
    parts = urlsplit(url)
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    host = f"[{host}]" if ":" in host else host
    try:
        port = parts.port
    except ValueError:  # not a port at all: no origin anyone shares
        return url
    default = {"http": 80, "https": 443}.get(scheme)
    return f"{scheme}://{host}" if port in (None, default) else f"{scheme}://{host}:{port}"


def create_content_app(store: Store, worker_site_url: str) -> Flask:
    """The content origin's app. ``worker_site_url``: the worker site's public URL, the only
    page allowed to frame task content (CSP ``frame-ancestors``)."""
    app = Flask(__name__, static_folder=None)
    app.extensions["mturk_local_store"] = store
    app.config["WORKER_SITE_ORIGIN"] = origin(worker_site_url)
    app.register_blueprint(blueprint)
    app.after_request(_protect)
    return app


def _protect(response: Response) -> Response:
    """Framed only by the worker site; never sniffed into another type; no referrer to
    the requester's links, which would carry the assignment id."""
    ancestors = current_app.config["WORKER_SITE_ORIGIN"]
    response.headers["Content-Security-Policy"] = f"frame-ancestors {ancestors}"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _store() -> Any:
    return current_app.extensions["mturk_local_store"]


@blueprint.get("/tasks/<hit_id>")
def task(hit_id: str) -> Response:
    """The HTMLQuestion's page, with MTurk's query parameters left for its scripts to read."""
    assignment_id = request.args.get("assignmentId", NOT_ACCEPTED)
    with _store().transaction() as session:
        hit = session.scalar(select(HIT).where(HIT.id == hit_id))
        if hit is None:
            return _missing()
        accepted = assignment_id != NOT_ACCEPTED and _is_accepted(session, hit, assignment_id)
        previewable = hit.status == "Assignable" and hit.expiration > now()
        if not accepted and not previewable:
            return _missing()
        question = parse_question(hit.question, allow_http=True)  # accepted at CreateHIT
        hit_type = session.get(HITType, hit.hit_type_id)
        title = hit_type.title if hit_type is not None else "Task"
    if question.kind not in ("html", "form"):
        return _missing()  # an ExternalQuestion is framed from the requester's own site
    if not accepted and assignment_id != NOT_ACCEPTED:
        query = request.args.to_dict(flat=True) | {"assignmentId": NOT_ACCEPTED}
        return redirect(f"{request.path}?{urlencode(query)}", 303)
    if question.kind == "form":
        body = _question_form(question.content, title, assignment_id if accepted else None)
    else:
        body = with_frame_tags(_offline(question.content))
    response = make_response(body)
    response.headers["Cache-Control"] = "no-store"
    return response


def _question_form(xml: str, title: str, assignment_id: str | None) -> str:
    """A QuestionForm HIT's page, drawn by the marketplace as MTurk does: a form posting to
    the worker site's externalSubmit with the assignment id; in a preview (no accepted
    assignment) shown disabled."""
    form = question_forms.parse_form(xml)
    submit = current_app.config["WORKER_SITE_ORIGIN"] + "/mturk/externalSubmit"
    rendered = question_forms.render(
        form,
        action=submit,
        hidden={"assignmentId": assignment_id or NOT_ACCEPTED},
        disabled=assignment_id is None,
    )
    notice = "" if assignment_id else "This is a preview: accept the HIT to answer."
    head = Markup(frame_tags(current_app.config["WORKER_SITE_ORIGIN"]))
    return question_forms.page(title, rendered, notice=notice, head=head)


def frame_tags(worker_site_origin: str) -> str:
    """The tags every task page gets: the frame protocol's script, told the worker site's
    origin (the only one it talks to), and the default styles for narrow frames."""
    return (
        f'<link rel="stylesheet" href="{TASK_STYLES_HERE}">'
        f'<script src="{TASK_FRAME_HERE}" data-worker-origin="{escape(worker_site_origin)}" '
        "defer></script>"
    )


def with_frame_tags(html: str) -> str:
    """The requester's page with ``frame_tags`` first in its head, before its own styles and
    scripts; the page is otherwise as written."""
    tags = frame_tags(current_app.config["WORKER_SITE_ORIGIN"])
    found = _HEAD_TAG.search(html) or _HTML_TAG.search(html) or _LEADING_DOCTYPE.match(html)
    at = found.end() if found else 0
    return html[:at] + tags + html[at:]


def _offline(html: str) -> str:
    """The page with Amazon's scripts swapped for the stand-ins and MTurk's externalSubmit
    for the service's. The submit address is the worker site's origin this app was made with,
    which is what the worker site passes as ``turkSubmitTo``: the query's own value is not
    written into the page, so a crafted link cannot send a form's answers anywhere else."""
    submit = current_app.config["WORKER_SITE_ORIGIN"] + "/mturk/externalSubmit"
    html = html.replace(CROWD_ELEMENTS, CROWD_ELEMENTS_HERE)
    html = EXTERNAL_HIT.sub(EXTERNAL_HIT_HERE, html)
    return MTURK_SUBMIT.sub(lambda _: submit, html)


@blueprint.get(EXTERNAL_HIT_HERE)
def external_hit() -> Response:
    """The stand-in for Amazon's externalHIT_v1.js: fills in assignmentId, as Amazon's does."""
    return send_from_directory(STATIC, "externalHIT_v1.js", max_age=300)


@blueprint.get(TASK_FRAME_HERE)
def task_frame_script() -> Response:
    """The frame protocol's task side (see ``frame_tags``)."""
    return send_from_directory(STATIC, "task-frame.js", max_age=300)


@blueprint.get(TASK_STYLES_HERE)
def task_styles() -> Response:
    """Default styles that let a desktop template fit a phone's frame (see ``frame_tags``)."""
    return send_from_directory(STATIC, "task.css", max_age=300)


@blueprint.get(CROWD_ELEMENTS_HERE)
def crowd_elements() -> Response:
    """The stand-in for MTurk's crowd-html-elements.js that task pages load from here."""
    return send_from_directory(STATIC, "crowd-html-elements.js", max_age=300)


def _is_accepted(session: Session, hit: HIT, assignment_id: str) -> bool:
    assignment = session.scalar(
        select(Assignment).where(
            Assignment.id == assignment_id,
            Assignment.hit_id == hit.id,
            Assignment.status == "Accepted",
        )
    )
    return assignment is not None and assignment.deadline > now()


def _missing() -> Response:
    response = make_response("No such task.", 404)
    response.mimetype = "text/plain"
    return response
