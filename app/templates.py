"""Hitblock types, their item types and default HTML templates, and ``${field}`` placeholders.

Templates follow the MTurk requester UI's convention: ``${column}`` is replaced by the item's
value of that name, HTML-escaped. The default templates are plain HTMLQuestion forms that
post to ``turkSubmitTo + /mturk/externalSubmit`` with the ``assignmentId``, as MTurk expects.
A template's form also tells which fields answer with several values (a checkbox group).
A requester's template must be able to submit its answers to MTurk; a plain form is given
MTurk's submit plumbing when the page is rendered (``submit_problem``, ``submittable``).
"""

from __future__ import annotations

import html
import json
import re
from collections import deque
from dataclasses import dataclass, field
from functools import lru_cache
from urllib.parse import urlsplit

from mturk.html_tags import start_tags

PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class HitblockType:
    name: str
    item_type: str
    required_fields: tuple[str, ...]
    optional_fields: tuple[str, ...]
    body: str | None  # the task's own markup; None means the requester must give a template
    takes_labels: bool = False


_IMAGE = '<p><img src="${image_url}" alt="" style="max-width:100%;max-height:70vh"></p>'
_DESCRIPTION = "<p>${description}</p>"
_LABELS = "<fieldset><legend>Choose one</legend>\n{choices}\n</fieldset>"

HITBLOCK_TYPES: dict[str, HitblockType] = {
    t.name: t
    for t in (
        HitblockType(
            "image-transcription",
            "image",
            ("image_url",),
            ("description",),
            _IMAGE
            + _DESCRIPTION
            + '\n<p><label>Transcription<br><textarea name="transcription" rows="10" '
            'cols="80" required></textarea></label></p>',
        ),
        HitblockType(
            "image-classification",
            "image",
            ("image_url",),
            ("description",),
            _IMAGE + _DESCRIPTION + "\n" + _LABELS,
            takes_labels=True,
        ),
        HitblockType(
            "text-classification",
            "text",
            ("text",),
            ("description",),
            '<blockquote style="white-space:pre-wrap">${text}</blockquote>'
            + _DESCRIPTION
            + "\n"
            + _LABELS,
            takes_labels=True,
        ),
        HitblockType("html", "html", (), (), None),
    )
}

ITEM_TYPES = sorted({t.item_type for t in HITBLOCK_TYPES.values()})

_PAGE = """<!DOCTYPE html>
<html>
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width"></head>
<body>
<form id="mturk_form" method="post" action="https://www.mturk.com/mturk/externalSubmit">
<input type="hidden" name="assignmentId" id="assignmentId" value="">
{body}
<p><input type="submit" id="submitButton" value="Submit"></p>
</form>
<script>
(function () {{
  var query = new URLSearchParams(window.location.search);
  var assignmentId = query.get("assignmentId") || "";
  var submitTo = query.get("turkSubmitTo");
  document.getElementById("assignmentId").value = assignmentId;
  if (submitTo) {{
    document.getElementById("mturk_form").action = submitTo + "/mturk/externalSubmit";
  }}
  if (!assignmentId || assignmentId === "ASSIGNMENT_ID_NOT_AVAILABLE") {{
    document.getElementById("submitButton").disabled = true;
  }}
}})();
</script>
</body>
</html>
"""


def placeholders(template: str) -> set[str]:
    return set(PLACEHOLDER.findall(template))


def default_template(hitblock_type: HitblockType, labels: list[str] | None) -> str:
    """The built-in template of a type, with its labels baked in as radio buttons."""
    if hitblock_type.body is None:
        raise ValueError(f"{hitblock_type.name} has no default template")
    body = hitblock_type.body
    if hitblock_type.takes_labels:
        choices = "\n".join(
            f'<label><input type="radio" name="label" value="{_escape_literal(label)}" '
            f"required> {_escape_literal(label)}</label><br>"
            for label in labels or []
        )
        body = body.replace("{choices}", choices)
    return _PAGE.format(body=body)


def required_fields(hitblock_type: HitblockType, template: str) -> set[str]:
    """Fields every item must supply: the type's own plus the template's placeholders."""
    fields = set(hitblock_type.required_fields) | placeholders(template)
    return fields - set(hitblock_type.optional_fields)


def _escape_literal(text: str) -> str:
    """HTML-escape text baked into a template, so that it cannot form a ``${field}`` either."""
    return html.escape(text, quote=True).replace("$", "&#36;")


def render(hitblock_type: HitblockType, template: str, params: dict[str, object]) -> str:
    """Fill every ``${field}`` with the item's value, HTML-escaped; an optional field the item
    left out becomes empty."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in params and name in hitblock_type.optional_fields:
            return ""
        return html.escape(str(params[name]), quote=True)

    return PLACEHOLDER.sub(value, template)


@lru_cache(maxsize=256)
def multi_valued_fields(template: str) -> frozenset[str]:
    """Names the template's form can submit more than one value for: a ``<select multiple>``,
    or two or more controls sharing a name (a checkbox group). A radio group, or a group of
    submit buttons, sends one value at most, so each counts once. In a crowd-form that
    flattens its answer, a crowd-classifier-multi-select's ``<name>.labels`` is a list too.

    MTurk records such a field as one FreeText with the values joined by ``|``; knowing the
    names lets the answer be split back into a list (see ``mturk.answers.parse_answer``).
    Cached: a poll cycle asks again for every item of a hitblock.
    """
    collector = _FormFields()
    for tag, attributes in start_tags(template):  # linear, and never fails on bad markup
        collector.handle_starttag(tag, attributes)
    return collector.multi_valued()


@lru_cache(maxsize=256)
def _named_by_placeholder(template: str) -> bool:
    """Whether a control's name is itself a ${placeholder} (name="${question}"). One linear
    pass (``start_tags``): a regex for it took seconds on a template of many "name=" (revA)."""
    return any("${" in (attributes.get("name") or "") for _, attributes in start_tags(template))


def item_multi_valued_fields(
    hitblock_type: HitblockType, template: str, params: dict[str, object]
) -> frozenset[str]:
    """``multi_valued_fields`` of the page this item's workers saw: the template's, or the
    rendered page's when a control's name comes from a ``${placeholder}``."""
    if _named_by_placeholder(template):
        template = render(hitblock_type, template, params)
    return multi_valued_fields(template)


# Input types of which a form submits at most one per name, and types it never submits by
# name (reset and plain buttons send nothing; an image button sends name.x and name.y).
_ONE_PER_GROUP = {"radio", "submit"}
_NOT_SUBMITTED = {"reset", "button", "image"}


@dataclass
class _Controls:
    independent: int = 0  # controls that each send their own value
    groups: set[str] = field(default_factory=set)  # radio / submit groups, one value each
    multiple: bool = False  # a <select multiple>


class _FormFields:
    """Counts the form controls of a page by name."""

    def __init__(self) -> None:
        self.controls: dict[str, _Controls] = {}
        self.flatten = False  # inside <crowd-form answer-format="flatten-objects">

    def handle_starttag(self, tag: str, attributes: dict[str, str | None]) -> None:
        name = attributes.get("name")
        if tag == "crowd-form":  # flatten-objects: a list answer is one field per value
            answer_format = (attributes.get("answer-format") or "").strip().lower()
            self.flatten = answer_format == "flatten-objects"
        if tag == "crowd-classifier-multi-select" and name and self.flatten:
            self.controls.setdefault(f"{name}.labels", _Controls()).multiple = True
            return
        if not name or tag not in {"input", "select", "textarea", "button"}:
            return
        default_type = "submit" if tag == "button" else "text"
        kind = (attributes.get("type") or default_type).strip().lower()
        if tag in {"select", "textarea"}:
            kind = "text"
        if kind in _NOT_SUBMITTED:
            return
        controls = self.controls.setdefault(name, _Controls())
        if kind in _ONE_PER_GROUP:
            controls.groups.add(kind)
        else:
            controls.independent += 1
        if tag == "select" and "multiple" in attributes:
            controls.multiple = True

    def multi_valued(self) -> frozenset[str]:
        return frozenset(
            name
            for name, controls in self.controls.items()
            if controls.multiple or controls.independent + len(controls.groups) > 1
        )


# ---- a way to submit -------------------------------------------------------------------
#
# A template whose page cannot post its answers to MTurk loses the worker's work: Submit
# reloads the form and the HIT stays in progress. So a requester's template is checked when a
# hitblock is created or updated (and again when it is published, for hitblocks saved before
# the check), and a plain form is given MTurk's submit plumbing when that can be done safely.
# The template is stored as the requester wrote it; the plumbing is added when a page is
# rendered for MTurk (``submittable``).

MTURK_SUBMIT_URL = "https://www.mturk.com/mturk/externalSubmit"
EXTERNAL_HIT_URL = "https://s3.amazonaws.com/mturk-public/externalHIT_v1.js"
CROWD_ELEMENTS_URL = "https://assets.crowd.aws/crowd-html-elements.js"
# MTurk's externalSubmit, production or sandbox: what the marketplace rewrites to its own.
_MTURK_ACTION = re.compile(
    r"https?://(?:www|workersandbox)\.mturk\.com/mturk/externalSubmit", re.IGNORECASE
)
# Where a page's own script points its form at turkSubmitTo (Amazon's externalHIT_v1.js
# does it in turkSetAssignmentID; psiTurk-style pages read the query themselves).
_SCRIPTED_SUBMIT = ("turkSubmitTo", "turkSetAssignmentID")
# Text that could open a <form> tag; html_tags.start_tags says which one really does.
_FORM_OPEN = re.compile(r"<form(?=[\s/>])", re.IGNORECASE)
_MARK = "data-hitblocks-form"
_FORM_ID = "mturk_form"  # the id MTurk's templates and externalHIT_v1.js use
_CONTROLS = {"input", "select", "textarea", "button"}
# Put first in what is appended: a template that leaves an <svg>, <math> or <template> open
# would otherwise take the plumbing in as SVG or MathML elements (inputs that are no form
# controls, scripts that never load) or as inert template content. Where none is open, a
# browser ignores these end tags; the tag scanner does not see end tags at all.
_CLOSE_OPEN_CONTENT = "</template></svg></math>"

_NO_WAY = (
    "The template has no way to submit its answers, so workers' work would be lost: add a "
    '<form> that holds the answers and a submit button (<button type="submit">Submit</button>;'
    " Hitblocks points the form at MTurk), or a <crowd-form>."
)
_NO_SUBMIT_CONTROL = (
    "The template's form has no submit button, so workers could not send their answers: add "
    '<button type="submit">Submit</button> inside the form.'
)
_UNCLOSED = (
    "Hitblocks cannot add MTurk's submit plumbing to the template safely: it ends inside a "
    "<script>, <style>, <textarea> or <!-- comment --> that is never closed (or after a "
    "<plaintext>), which would swallow it. Close it."
)
_MTURK_FORM_FIELD = (
    '<input type="hidden" name="assignmentId" id="assignmentId"> to it, and load '
    f'<script src="{EXTERNAL_HIT_URL}"></script> and call turkSetAssignmentID() after the form'
)


class CannotSubmit(ValueError):
    """A template with no safe way to submit its answers to MTurk; the message says what is
    missing and how to fix it."""


@dataclass(frozen=True)
class _Plumbing:
    """What ``submittable`` does to a template: nothing, refuse it (``problem``), or insert
    ``form_attributes`` into its one form's start tag (at ``form_at``, just after ``<form``)
    and append ``appended`` to it."""

    problem: str | None = None
    form_at: int | None = None
    form_attributes: str = ""
    appended: str = ""

    def apply(self, template: str) -> str:
        if self.form_at is not None:
            at = self.form_at
            template = template[:at] + self.form_attributes + template[at:]
        return template + self.appended


@dataclass
class _Scan:
    """What a template holds that bears on submitting, from one pass over its start tags."""

    forms: list[dict[str, str | None]] = field(default_factory=list)
    crowd_forms: int = 0
    loads_crowd_elements: bool = False
    loads_external_hit: bool = False
    assignment_fields: int = 0  # controls named assignmentId
    ids: dict[str, int] = field(default_factory=dict)
    # Submit controls after the first form's start tag, and the form="..." of any control.
    submits_after_form: int = 0
    submit_form_attributes: list[str] = field(default_factory=list)
    plaintext: bool = False

    @classmethod
    def of(cls, template: str) -> _Scan:
        scan = cls()
        for tag, attributes in start_tags(template):
            scan.add(tag, attributes)
        return scan

    def add(self, tag: str, attributes: dict[str, str | None]) -> None:
        if attributes.get("id"):
            element_id = str(attributes["id"])
            self.ids[element_id] = self.ids.get(element_id, 0) + 1
        if tag == "form":
            self.forms.append(attributes)
        elif tag == "crowd-form":
            self.crowd_forms += 1
        elif tag == "plaintext":
            self.plaintext = True
        elif tag == "script":
            name = _script_name(attributes.get("src"))
            self.loads_crowd_elements |= name == "crowd-html-elements.js"
            self.loads_external_hit |= name == "externalhit_v1.js"
        if tag in _CONTROLS and attributes.get("name") == "assignmentId":
            self.assignment_fields += 1
        if _is_submit_control(tag, attributes):
            if self.forms:
                self.submits_after_form += 1
            if attributes.get("form"):
                self.submit_form_attributes.append(str(attributes["form"]))


def _script_name(src: str | None) -> str:
    """The file name a <script src> loads, lower case ("" for none)."""
    try:
        path = urlsplit((src or "").strip()).path
    except ValueError:  # not a URL at all: it loads nothing
        return ""
    return path.rsplit("/", 1)[-1].lower()


def _is_submit_control(tag: str, attributes: dict[str, str | None]) -> bool:
    """A control that submits its form when clicked: a <button> (submit unless its type says
    otherwise), an <input type="submit"> or an <input type="image">."""
    kind = (attributes.get("type") or "").strip().lower()
    if tag == "button":
        return kind not in {"button", "reset", "menu"}
    return tag == "input" and kind in {"submit", "image"}


def _action(form: dict[str, str | None]) -> str:
    return (form.get("action") or "").strip()


def _posts_to_mturk(form: dict[str, str | None]) -> bool:
    return _MTURK_ACTION.fullmatch(_action(form)) is not None


def submit_problem(template: str) -> str | None:
    """Why the template's page could not submit its answers to MTurk, and how to fix it;
    None when it can (as written, or once ``submittable`` adds MTurk's plumbing)."""
    return _plumbing(template).problem


def submittable(template: str) -> str:
    """The template with MTurk's submit plumbing added where it lacks it: a plain form
    (no action, ``action=""`` or ``"#"``) is pointed at MTurk's externalSubmit (method
    post), given a hidden ``assignmentId`` and Amazon's ``externalHIT_v1.js``, which fills it
    in; a ``<crowd-form>`` gets ``crowd-html-elements.js`` if the page does not load it. A
    template that already submits to MTurk comes back unchanged. Raises ``CannotSubmit``."""
    plumbing = _plumbing(template)
    if plumbing.problem is not None:
        raise CannotSubmit(plumbing.problem)
    return plumbing.apply(template)


@lru_cache(maxsize=256)
def _plumbing(template: str) -> _Plumbing:
    scan = _Scan.of(template)
    if scan.crowd_forms:
        return _crowd_form_plumbing(template, scan)
    forms = scan.forms
    has_assignment_field = scan.assignment_fields > 0 or scan.loads_external_hit
    if any(_posts_to_mturk(form) for form in forms):
        if has_assignment_field:
            return _Plumbing()  # MTurk's own way, as the built-in templates do it
        if len(forms) > 1:
            return _Plumbing(
                "The template's form that posts to MTurk has no assignmentId field, without "
                "which MTurk does not take the answers; Hitblocks adds one only to a template "
                f"with a single form. Add {_MTURK_FORM_FIELD}."
            )
    elif not forms:
        return _Plumbing(_NO_WAY)
    elif len(forms) > 1:
        return _Plumbing(
            f"The template has {len(forms)} forms, and Hitblocks can point only one at MTurk:"
            ' put every answer in one <form> with a <button type="submit">, or point the form'
            f" that submits at {MTURK_SUBMIT_URL} yourself and add {_MTURK_FORM_FIELD}."
        )
    elif _action(forms[0]) not in ("", "#"):
        return _Plumbing(
            f'The template\'s form posts to "{_action(forms[0])}", not to MTurk, so its answers'
            " would never arrive. Remove the form's action (Hitblocks then points the form at"
            f" MTurk's externalSubmit) or set it to {MTURK_SUBMIT_URL}."
        )
    elif has_assignment_field and any(name in template for name in _SCRIPTED_SUBMIT):
        return _Plumbing()  # the page's own script points the form at turkSubmitTo
    return _wrap(template, scan)


def _crowd_form_plumbing(template: str, scan: _Scan) -> _Plumbing:
    """A <crowd-form> submits by itself, once crowd-html-elements.js has made it a form."""
    if scan.crowd_forms > 1:
        return _Plumbing(
            f"The template has {scan.crowd_forms} <crowd-form> elements; put every answer in "
            "one <crowd-form>, which submits them together."
        )
    if scan.forms:
        return _Plumbing(
            "The template has both a <crowd-form> and a <form>: a crowd-form submits its "
            "answers by itself, so keep one of them and put every answer in it."
        )
    if scan.loads_crowd_elements:
        return _Plumbing()
    appended = f'\n{_CLOSE_OPEN_CONTENT}<script src="{CROWD_ELEMENTS_URL}"></script>\n'
    plumbing = _Plumbing(appended=appended)
    if scan.plaintext or not _ends_with(plumbing.apply(template), plumbing.appended):
        return _Plumbing(_UNCLOSED)
    return plumbing


def _wrap(template: str, scan: _Scan) -> _Plumbing:
    """MTurk's plumbing for the template's one plain form, if it can be added safely: the
    form's start tag gets ``action``, ``method`` (and an id if it has none) in front of its
    own attributes (a browser keeps an attribute's first value), and the hidden field and
    scripts are appended to the page; the result is read again to prove it."""
    [form] = scan.forms
    form_id = form.get("id") or ""
    if scan.submits_after_form == 0 and (not form_id or form_id not in scan.submit_form_attributes):
        return _Plumbing(_NO_SUBMIT_CONTROL)
    attributes = f' action="{MTURK_SUBMIT_URL}" method="post"'
    if not form_id:
        form_id = _FORM_ID
        attributes += f' id="{_FORM_ID}"'
        if scan.ids.get(_FORM_ID):
            return _Plumbing(
                "Hitblocks cannot add MTurk's submit plumbing to the template safely: another"
                f' element has id="{_FORM_ID}", the id it gives the form. Rename that element,'
                " or give the form an id of its own."
            )
    elif scan.ids.get(form_id, 0) > 1 or "${" in form_id:
        return _Plumbing(
            "Hitblocks cannot add MTurk's submit plumbing to the template safely: the form's "
            f'id "{form_id}" is {"a ${placeholder}" if "${" in form_id else "used twice"}. '
            "Give the form an id of its own."
        )
    if scan.plaintext:
        return _Plumbing(_UNCLOSED)
    form_at = _form_tag_end(template)
    appended = f"\n{_CLOSE_OPEN_CONTENT}"
    if scan.assignment_fields == 0:
        element_id = "" if scan.ids.get("assignmentId") else ' id="assignmentId"'
        appended += (
            f'<input type="hidden" name="assignmentId"{element_id} value=""'
            f' form="{html.escape(form_id, quote=True)}">\n'
        )
    appended += f'<script src="{EXTERNAL_HIT_URL}"></script>\n<script>{_filler(form_id)}</script>\n'
    plumbing = _Plumbing(form_at=form_at, form_attributes=attributes, appended=appended)
    if not _plumbing_holds(plumbing.apply(template), appended):
        return _Plumbing(_UNCLOSED)
    return plumbing


def _form_tag_end(template: str) -> int:
    """Where the name of the template's one real <form> tag ends. Text that merely looks like
    one (in a script, a comment, an attribute) does not count: each candidate is marked with
    an attribute, and the tag scanner says which mark a real form carries."""
    candidates = [match.end() for match in _FORM_OPEN.finditer(template)]
    if len(candidates) == 1:
        return candidates[0]
    pieces, start = [], 0
    for number, end in enumerate(candidates):
        pieces += [template[start:end], f" {_MARK}={number} "]
        start = end
    pieces.append(template[start:])
    for tag, attributes in start_tags("".join(pieces)):
        if tag == "form" and (mark := attributes.get(_MARK)) is not None:
            return candidates[int(mark)]
    raise AssertionError("the form the scan found has no mark")  # pragma: no cover


def _plumbing_holds(page: str, appended: str) -> bool:
    """Whether the page, read as a browser would, has its one form posting to MTurk and
    ends with the tags appended."""
    forms = [attributes for tag, attributes in start_tags(page) if tag == "form"]
    return len(forms) == 1 and _posts_to_mturk(forms[0]) and _ends_with(page, appended)


def _ends_with(page: str, appended: str) -> bool:
    """Whether the page's last start tags are those appended to it: markup, not text that an
    element or comment the page leaves open has swallowed."""
    ours = list(start_tags(appended))
    last = deque(start_tags(page), maxlen=len(ours))
    return list(last) == ours


def _filler(form_id: str) -> str:
    """The script that fills in the form's assignmentId, points the form at turkSubmitTo
    (externalHIT_v1.js's turkSetAssignmentID) and, in a preview, disables its submit
    buttons, as MTurk's sample templates do. It finds the form's controls through each
    control's own ``form``, which a control named "id" or "elements" cannot hide."""
    name = json.dumps(form_id).replace("<", "\\u003c").replace(">", "\\u003e")
    return (
        "\n/* Added by Hitblocks: MTurk's submit plumbing for this page's form. */\n"
        "(function () {\n"
        f"  var form = document.getElementById({name});\n"
        '  var id = new URLSearchParams(window.location.search).get("assignmentId") || "";\n'
        f'  if (typeof turkSetAssignmentID === "function") turkSetAssignmentID({name});\n'
        '  var fields = document.querySelectorAll("input, button, select, textarea");\n'
        "  fields.forEach(function (field) {\n"
        "    if (field.form !== form) return;\n"
        '    if (field.name === "assignmentId" && !field.value) field.value = id;\n'
        '    if (id === "ASSIGNMENT_ID_NOT_AVAILABLE" && /^(submit|image)$/.test(field.type)) {\n'
        "      field.disabled = true;\n"
        "    }\n"
        "  });\n"
        "})();\n"
    )
