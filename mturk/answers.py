"""Reading workers' answers: QuestionFormAnswers XML, which is untrusted input.

defusedxml refuses entity tricks (billion laughs, external entities); anything that cannot
be read is reported, never raised, so one hostile answer cannot stop a poll cycle.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import defusedxml.ElementTree as SafeET

from mturk.questions import ANSWERS_NS

MAX_ANSWER_BYTES = 1_000_000
_NS = {"a": ANSWERS_NS}


@dataclass(frozen=True)
class ParsedAnswer:
    data: dict[str, Any] = field(default_factory=dict)
    error: str | None = None  # why the answer could not be read; None when it could


def parse_answer(xml: str) -> ParsedAnswer:
    """Every ``<Answer>`` as a list of its values (FreeText, or each SelectionIdentifier);
    a crowd-form ``taskAnswers`` answer unpacked into its fields."""
    if len(xml.encode()) > MAX_ANSWER_BYTES:
        return ParsedAnswer(error=f"answer larger than {MAX_ANSWER_BYTES} bytes")
    try:
        root = SafeET.fromstring(xml)
    except Exception as exc:  # defusedxml's refusals and plain parse errors alike
        return ParsedAnswer(error=f"unreadable answer XML: {type(exc).__name__}: {exc}")
    if root.tag != f"{{{ANSWERS_NS}}}QuestionFormAnswers":
        return ParsedAnswer(error=f"unexpected root element {root.tag!r}")
    data: dict[str, Any] = {}
    for answer in root.findall("a:Answer", _NS):
        name = answer.findtext("a:QuestionIdentifier", default="", namespaces=_NS).strip()
        if not name:
            continue
        values = [
            element.text or ""
            for element in answer
            if element.tag in {f"{{{ANSWERS_NS}}}FreeText", f"{{{ANSWERS_NS}}}SelectionIdentifier"}
        ]
        if name == "taskAnswers" and len(values) == 1:
            unpacked = _task_answers(values[0])
            if unpacked is not None:
                data.update(unpacked)
                continue
        data.setdefault(name, []).extend(values)
    return ParsedAnswer(data)


def _task_answers(text: str) -> dict[str, Any] | None:
    """crowd-form's answer: a JSON array holding one object of fields."""
    try:
        parsed = json.loads(text, parse_constant=_refuse)
    except ValueError:
        return None
    if isinstance(parsed, list) and len(parsed) == 1 and isinstance(parsed[0], dict):
        return parsed[0]
    return None


def _refuse(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")
