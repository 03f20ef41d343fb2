"""HIT layouts: HTML templates with ``${name}`` placeholders that CreateHIT renders from a
``HITLayoutId`` and ``HITLayoutParameters``, as the projects of MTurk's requester site did.
Also ``hitblocks layouts ...``, which registers them (MTurk made them on its requester site,
which this service does not have).

A placeholder is ``${name}``, the name a letter or underscore then letters, digits or
underscores (the requester site's CSV column names). Values are HTML-escaped. A layout that
is a fragment (no ``<form>`` or ``<crowd-form>`` of its own) is placed in the form MTurk put
around a project's layout: it posts to externalSubmit with the assignment id, under a Submit
button. A layout is its requester's own: another requester's id answers as a missing one.
"""

from __future__ import annotations

import datetime
import html
import re
from collections import Counter
from pathlib import Path
from typing import Any

import click
from flask.cli import with_appcontext
from sqlalchemy import select
from sqlalchemy.orm import Session

from mturk.questions import MAX_QUESTION_BYTES, html_question
from mturk.service.errors import TurkError
from mturk.service.requesters import RequesterError, run_in_store
from mturk.service.store import AccessKey, HITLayout

PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
HAS_FORM = re.compile(r"<\s*(?:crowd-)?form\b", re.IGNORECASE)
MAX_LAYOUT_BYTES = MAX_QUESTION_BYTES
INVALID = "AWS.MechanicalTurk.InvalidParameterValue"
MISSING = "AWS.MissingParameters"

# The page MTurk's requester site made of a project's layout (its classic HTML projects).
_PAGE = """<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width">
<script src="https://s3.amazonaws.com/mturk-public/externalHIT_v1.js"></script>
</head>
<body>
<form name="mturk_form" method="post" id="mturk_form" \
action="https://www.mturk.com/mturk/externalSubmit">
<input type="hidden" value="" name="assignmentId" id="assignmentId">
{body}
<p><input type="submit" id="submitButton" value="Submit"></p>
</form>
<script>turkSetAssignmentID();</script>
</body>
</html>
"""


class LayoutError(RequesterError):
    """A layout that cannot be registered (the CLI prints the message)."""


def placeholders(template: str) -> list[str]:
    """The template's placeholder names, each once, in the order they first appear."""
    return list(dict.fromkeys(PLACEHOLDER.findall(template)))


def create_layout(session: Session, access_key_id: str, template: str, name: str) -> HITLayout:
    """Register a layout for the requester owning this access key."""
    requester_id = _requester_of(session, access_key_id)
    if not template.strip():
        raise LayoutError("The layout is empty.")
    if len(template.encode()) > MAX_LAYOUT_BYTES:
        raise LayoutError(f"The layout is larger than {MAX_LAYOUT_BYTES} bytes.")
    if "\x00" in template:
        raise LayoutError("The layout holds a NUL character.")
    layout = HITLayout(
        requester_id=requester_id,
        name=name[:255],
        html=template,
        parameters=placeholders(template),
    )
    session.add(layout)
    session.flush()
    return layout


def list_layouts(session: Session, access_key_id: str) -> list[HITLayout]:
    requester_id = _requester_of(session, access_key_id)
    return list(
        session.scalars(
            select(HITLayout).where(HITLayout.requester_id == requester_id).order_by(HITLayout.seq)
        )
    )


def _requester_of(session: Session, access_key_id: str) -> int:
    key = session.get(AccessKey, access_key_id)
    if key is None:
        raise LayoutError(f"There is no access key {access_key_id}.")
    return key.requester_id


def question_of(
    session: Session, requester_id: int, params: dict[str, Any]
) -> tuple[str, str | None]:
    """CreateHIT's question: its Question, or the page its HITLayoutId renders with its
    HITLayoutParameters (exactly one of the two); and the layout's id, if any."""
    layout_id = params.get("HITLayoutId")
    if "Question" in params and layout_id is not None:
        raise TurkError(
            "You can use either the HITLayoutId or the Question parameter, but not both.",
            INVALID,
        )
    if layout_id is None:
        if "HITLayoutParameters" in params:
            raise TurkError("HITLayoutParameters are given only with a HITLayoutId.", INVALID)
        if "Question" not in params:
            raise TurkError(
                "Your request is missing required parameters. Required parameters include "
                "Question or HITLayoutId.",
                MISSING,
            )
        return str(params["Question"]), None
    layout = session.scalar(
        select(HITLayout).where(HITLayout.id == layout_id, HITLayout.requester_id == requester_id)
    )
    if layout is None:
        raise TurkError(
            f"The specified HITLayoutId {layout_id} is not valid.",
            "AWS.MechanicalTurk.HITLayoutDoesNotExist",
        )
    question = html_question(render(layout, params.get("HITLayoutParameters", [])))
    if len(question.encode()) > MAX_QUESTION_BYTES:
        raise _too_large(layout)
    return question, layout.id


def _too_large(layout: HITLayout) -> TurkError:
    return TurkError(
        f"The HIT layout {layout.id} rendered with these HITLayoutParameters is larger "
        f"than {MAX_QUESTION_BYTES} bytes.",
        INVALID,
    )


def render(layout: HITLayout, parameters: list[dict[str, str]]) -> str:
    """The layout's page with every placeholder replaced by its value, HTML-escaped; every
    placeholder needs a value, and every value a placeholder."""
    values: dict[str, str] = {}
    for parameter in parameters:
        name = parameter["Name"]
        if name in values:
            raise TurkError(f"The HITLayoutParameter {name} is given twice.", INVALID)
        values[name] = parameter["Value"]
    missing = [name for name in layout.parameters if name not in values]
    if missing:
        raise TurkError(
            "Your request is missing required parameters. Required parameters include "
            "HITLayoutParameter. You have not provided all required HITLayout parameters. "
            f"Missing parameter names: {', '.join(missing)}",
            MISSING,
        )
    unknown = sorted(set(values) - set(layout.parameters))
    if unknown:
        raise TurkError(
            f"The HITLayoutParameter names {', '.join(unknown)} are not parameters of the HIT "
            f"layout {layout.id} (it has: {', '.join(layout.parameters) or 'none'}).",
            INVALID,
        )
    # The size the page would have, before making it: a placeholder repeated many times
    # would multiply a large value into gigabytes.
    escaped: dict[str, str] = {}
    for name, value in values.items():
        if len(value) > MAX_QUESTION_BYTES:  # escaping only makes it longer
            raise _too_large(layout)
        escaped[name] = html.escape(value, quote=True)
    size = len(layout.html.encode()) + sum(
        count * (len(escaped[name].encode()) - len(f"${{{name}}}"))
        for name, count in Counter(PLACEHOLDER.findall(layout.html)).items()
    )
    if size > MAX_QUESTION_BYTES:
        raise _too_large(layout)
    body = PLACEHOLDER.sub(lambda m: escaped[m.group(1)], layout.html)
    return body if HAS_FORM.search(layout.html) else _PAGE.format(body=body)


# ---- hitblocks layouts ... -------------------------------------------------------------------


@click.group("layouts")
def layouts_group() -> None:
    """HIT layouts of the bundled MTurk service: HTML templates that CreateHIT renders from a
    HITLayoutId and HITLayoutParameters."""


@layouts_group.command("create")
@click.option(
    "--requester-access-key-id", "access_key_id", required=True, help="Any key of the requester."
)
@click.option(
    "--file",
    "path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The HTML template, with ${name} placeholders (UTF-8).",
)
@click.option("--name", help="A name to list it by (default: the file's name).")
@with_appcontext
def create_command(access_key_id: str, path: Path, name: str | None) -> None:
    """Register a layout for a requester; its HITLayoutId alone is the last line of output."""
    try:
        template = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise click.ClickException(f"{path} is not UTF-8 text.") from None

    def create(session: Session) -> None:
        layout = create_layout(session, access_key_id, template, name or path.name)
        names = ", ".join(layout.parameters) or "none"
        click.echo(f"HIT layout {layout.name!r} registered; its parameters: {names}. HITLayoutId:")
        click.echo(layout.id)

    run_in_store(create)


@layouts_group.command("list")
@click.option(
    "--requester-access-key-id", "access_key_id", required=True, help="Any key of the requester."
)
@with_appcontext
def list_command(access_key_id: str) -> None:
    """The requester's layouts: HITLayoutId, name, parameters, when registered."""

    def show(session: Session) -> None:
        for layout in list_layouts(session, access_key_id):
            when = datetime.datetime.fromtimestamp(layout.created_at, datetime.UTC)
            names = ", ".join(layout.parameters) or "-"
            click.echo(f"{layout.id}\t{layout.name}\t{names}\t{when:%Y-%m-%d %H:%M UTC}")

    run_in_store(show)
