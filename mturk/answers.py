"""Reading workers' answers: QuestionFormAnswers XML, which is untrusted input.

defusedxml refuses entity tricks (billion laughs, external entities); anything that cannot
be read is reported, never raised, so one hostile answer cannot stop a poll cycle.

One shape, whatever built the task page: a field answered with one value is a string, a
question answered with several values is a list of strings, and a ``crowd-form`` answer keeps
the JSON types it was sent with. A QuestionForm's selections read like any other values
(the text a worker wrote for "Other" among them), and a file upload is a dict of its
``UploadedFileKey`` and ``UploadedFileSizeInBytes``. MTurk records a plain form's same-named
inputs (a checkbox group) as ONE FreeText with the values joined by ``|``, which the XML
alone cannot tell apart from a text holding ``|``; so the caller names the fields its
template makes multi-valued.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

import defusedxml.ElementTree as SafeET

from mturk.questions import ANSWERS_NS

MAX_ANSWER_BYTES = 1_000_000
NUL_REMOVED = "answer contained U+0000 characters, removed"
SURROGATES_REPLACED = "answer contained lone surrogates, replaced by U+FFFD"
_SURROGATE = re.compile("[\ud800-\udfff]")
_NS = {"a": ANSWERS_NS}
_FREE_TEXT = f"{{{ANSWERS_NS}}}FreeText"
_SELECTION = f"{{{ANSWERS_NS}}}SelectionIdentifier"
_OTHER = f"{{{ANSWERS_NS}}}OtherSelectionText"
_FILE_KEY = f"{{{ANSWERS_NS}}}UploadedFileKey"
_FILE_SIZE = f"{{{ANSWERS_NS}}}UploadedFileSizeInBytes"
# A size int() reads: ASCII digits only ("²".isdigit() is true), and not thousands of them.
_SIZE = re.compile(r"[0-9]{1,19}\Z")


@dataclass(frozen=True)
class ParsedAnswer:
    data: dict[str, Any] = field(default_factory=dict)
    error: str | None = None  # why the answer could not be read (or was altered); None if clean


def parse_answer(xml: str, multi_valued: Collection[str] = frozenset()) -> ParsedAnswer:
    """The answer's fields: one value as a string, several (SelectionIdentifiers, repeated
    answers) as a list; a crowd-form ``taskAnswers`` answer unpacked into its typed fields.

    ``multi_valued`` names the fields whose FreeText is MTurk's ``|``-joined list (same-named
    inputs of a plain form): they are split and always a list, ``[]`` when nothing was sent.
    No string in the result holds what PostgreSQL text cannot: U+0000 is removed, a lone
    surrogate (``\\ud800`` in crowd-form JSON) replaced by U+FFFD, and either is reported in
    ``error``.
    """
    xml, flags = storable(xml)
    if len(xml.encode()) > MAX_ANSWER_BYTES:
        return ParsedAnswer(error=f"answer larger than {MAX_ANSWER_BYTES} bytes")
    data, error = _read(xml, multi_valued)
    data, json_flags = _storable_data(data)
    notes = [flag for flag in (NUL_REMOVED, SURROGATES_REPLACED) if flag in flags | json_flags]
    return ParsedAnswer(data, "; ".join([*notes, error] if error else notes) or None)


def storable(text: str) -> tuple[str, set[str]]:
    """``text`` as a database can store it: U+0000 removed, lone surrogates replaced by
    U+FFFD; and which of the two it needed (``NUL_REMOVED``, ``SURROGATES_REPLACED``)."""
    flags = set()
    if "\x00" in text:
        text, flags = text.replace("\x00", ""), {NUL_REMOVED}
    if not text.isascii():
        text, replaced = _SURROGATE.subn("\ufffd", text)
        if replaced:
            flags.add(SURROGATES_REPLACED)
    return text, flags


def _read(xml: str, multi_valued: Collection[str]) -> tuple[dict[str, Any], str | None]:
    try:
        root = SafeET.fromstring(xml)
    except Exception as exc:  # defusedxml's refusals and plain parse errors alike
        return {}, f"unreadable answer XML: {type(exc).__name__}: {exc}"
    if root.tag != f"{{{ANSWERS_NS}}}QuestionFormAnswers":
        return {}, f"unexpected root element {root.tag!r}"
    values: dict[str, list[str]] = {}
    unpacked: dict[str, Any] = {}
    files: dict[str, dict[str, Any]] = {}
    for answer in root.findall("a:Answer", _NS):
        name = answer.findtext("a:QuestionIdentifier", default="", namespaces=_NS).strip()
        if not name:
            continue
        if answer.find(_FILE_KEY) is not None:
            files[name] = _uploaded_file(answer)
            continue
        found = values.setdefault(name, [])
        for element in answer:
            text = element.text or ""
            if element.tag == _FREE_TEXT and name in multi_valued:
                found.extend(text.split("|") if text else [])
            elif element.tag in {_FREE_TEXT, _SELECTION, _OTHER}:
                found.append(text)
    task_answers = values.get("taskAnswers")
    if task_answers is not None and len(task_answers) == 1 and "taskAnswers" not in multi_valued:
        fields = _task_answers(task_answers[0])
        if fields is not None:
            del values["taskAnswers"]
            unpacked = fields
    data: dict[str, Any] = {
        name: found[0] if len(found) == 1 and name not in multi_valued else found
        for name, found in values.items()
    }
    data.update(unpacked)
    data.update(files)
    for name in multi_valued:
        data.setdefault(name, [])  # an unchecked group sends nothing at all
    return data, None


def _uploaded_file(answer: Any) -> dict[str, Any]:
    """A FileUpload answer: its key (GetFileUploadURL gives the file) and size in bytes."""
    size_text = (answer.findtext(_FILE_SIZE) or "").strip()
    return {
        "UploadedFileKey": (answer.findtext(_FILE_KEY) or "").strip(),
        "UploadedFileSizeInBytes": int(size_text) if _SIZE.match(size_text) else None,
    }


def _task_answers(text: str) -> dict[str, Any] | None:
    """crowd-form's answer: a JSON array holding one object of fields."""
    try:
        parsed = json.loads(text, parse_constant=_refuse)
    except (ValueError, RecursionError):  # nested deeper than the decoder goes: kept as text
        return None
    if isinstance(parsed, list) and len(parsed) == 1 and isinstance(parsed[0], dict):
        return parsed[0]
    return None


def _refuse(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _storable_data(data: dict[str, Any]) -> tuple[dict[str, Any], set[str]]:
    """``data`` with every string, keys too, at any depth made ``storable`` (crowd-form JSON
    can carry U+0000 and surrogates as escapes), and the flags of what was changed. Cleaned in
    place by a loop, not recursion: the JSON may be nested as deep as its decoder allowed."""
    flags: set[str] = set()
    stack: list[dict[str, Any] | list[Any]] = [data]
    while stack:
        container = stack.pop()
        if isinstance(container, dict):
            items = list(container.items())
            container.clear()  # refilled in the same order, under clean keys
            for key, value in items:
                clean_key, key_flags = storable(key)
                container[clean_key] = _cleaned(value, stack, flags)
                flags |= key_flags
        else:
            for index, value in enumerate(container):
                container[index] = _cleaned(value, stack, flags)
    return data, flags


def _cleaned(value: Any, stack: list[dict[str, Any] | list[Any]], flags: set[str]) -> Any:
    """A string made storable (its flags added to ``flags``); a container is left for the
    loop."""
    if isinstance(value, str):
        value, value_flags = storable(value)
        flags |= value_flags
    elif isinstance(value, dict | list):
        stack.append(value)
    return value
