"""Hitblock types, their item types and default HTML templates, and ``${field}`` placeholders.

Templates follow the MTurk requester UI's convention: ``${column}`` is replaced by the item's
value of that name, HTML-escaped. The default templates are plain HTMLQuestion forms that
post to ``turkSubmitTo + /mturk/externalSubmit`` with the ``assignmentId``, as MTurk expects.
A template's form also tells which fields answer with several values (a checkbox group).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from functools import lru_cache

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
