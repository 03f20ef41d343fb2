"""Hitblock types, their item types and default HTML templates, and ``${field}`` placeholders.

Templates follow the MTurk requester UI's convention: ``${column}`` is replaced by the item's
value of that name, HTML-escaped. The default templates are plain HTMLQuestion forms that
post to ``turkSubmitTo + /mturk/externalSubmit`` with the ``assignmentId``, as MTurk expects.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

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
