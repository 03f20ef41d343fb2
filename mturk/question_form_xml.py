"""MTurk's QuestionForm, AnswerKey and QuestionFormAnswers XML, read and written without any
web framework (Hitblocks' app imports ``mturk.questions``, which reads QuestionForms here).

A QuestionForm is untrusted input: it is read with defusedxml, checked as strictly as MTurk's
schema (an unknown element is refused with its name, not ignored) and turned into frozen
dataclasses that the marketplace renders (``mturk.service.question_forms``). Regular
expressions from AnswerFormatRegex are compiled with the ``regex`` module, so that checking an
answer against one can be given a time limit.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from xml.etree.ElementTree import Element, SubElement, tostring

import defusedxml.ElementTree as SafeET
import regex

QUESTION_FORM_NS = (
    "http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2017-11-06/QuestionForm.xsd"
)
QUESTION_FORM_NS_2005 = (
    "http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2005-10-01/QuestionForm.xsd"
)
QUESTION_FORM_NAMESPACES = (QUESTION_FORM_NS, QUESTION_FORM_NS_2005)
ANSWER_KEY_NS = (
    "http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2005-10-01/AnswerKey.xsd"
)
ANSWERS_NS = (
    "http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2005-10-01/"
    "QuestionFormAnswers.xsd"
)
# MTurk's own cap on FileUploadAnswer sizes (its schema's maxInclusive).
MTURK_MAX_FILE_BYTES = 2_000_000_000
# This marketplace keeps uploads in its database: one file may be at most this large.
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
MAX_IDENTIFIER_LENGTH = 255  # QuestionIdentifier (what uploaded files are stored under)
STYLES = ("radiobutton", "checkbox", "list", "dropdown", "combobox", "multichooser")
MEDIA_TYPES = ("image", "audio", "video")
# JavaScript's RegExp flags (MTurk checks AnswerFormatRegex in the worker's browser).
_REGEX_FLAGS = {"i": regex.IGNORECASE, "m": regex.MULTILINE, "s": regex.DOTALL}
_IGNORED_FLAGS = set("guyd")


class InvalidQuestion(ValueError):
    """A Question (HTMLQuestion, ExternalQuestion or QuestionForm) or AnswerKey that MTurk
    would refuse; the message says what is wrong."""


# ---- the parsed form --------------------------------------------------------------------


@dataclass(frozen=True)
class Binary:
    """An image, audio or video shown from the requester's URL."""

    media_type: str  # image, audio or video
    subtype: str
    url: str
    alt_text: str


@dataclass(frozen=True)
class Content:
    """One piece of content: ``kind`` title, text, list, formatted (XHTML, sanitised when
    rendered) or binary."""

    kind: str
    text: str = ""
    items: tuple[str, ...] = ()
    binary: Binary | None = None


@dataclass(frozen=True)
class Pattern:
    """An AnswerFormatRegex: JavaScript syntax and flags, compiled for the server's check."""

    source: str
    flags: str
    error_text: str
    compiled: Any  # regex.Pattern

    def matches(self, value: str, timeout: float = 0.25) -> bool:
        """As the browser's ``RegExp.test``: found anywhere in the value. A pattern that takes
        longer than ``timeout`` seconds on a value counts as not matching."""
        try:
            return self.compiled.search(value, timeout=timeout) is not None
        except TimeoutError:
            return False


@dataclass(frozen=True)
class FreeTextAnswer:
    numeric: bool = False
    min_value: int | None = None
    max_value: int | None = None
    min_length: int | None = None
    max_length: int | None = None
    patterns: tuple[Pattern, ...] = ()
    default_text: str = ""
    lines: int = 1


@dataclass(frozen=True)
class Selection:
    identifier: str
    content: Content  # text, formatted or binary


@dataclass(frozen=True)
class SelectionAnswer:
    min_count: int
    max_count: int
    style: str
    selections: tuple[Selection, ...]
    other: FreeTextAnswer | None = None
    # The value the "Other" choice posts: no SelectionIdentifier of this question has it.
    other_value: str = "__other__"

    @property
    def multiple(self) -> bool:
        return self.max_count > 1


@dataclass(frozen=True)
class FileUploadAnswer:
    min_size: int
    max_size: int  # as the requester gave it (MTurk allows up to 2,000,000,000)

    @property
    def effective_max(self) -> int:
        """What this marketplace accepts: the requester's maximum, at most MAX_UPLOAD_BYTES."""
        return min(self.max_size, MAX_UPLOAD_BYTES)


AnswerSpec = FreeTextAnswer | SelectionAnswer | FileUploadAnswer


@dataclass(frozen=True)
class FormQuestion:
    identifier: str
    display_name: str
    required: bool
    content: tuple[Content, ...]
    answer: AnswerSpec


@dataclass(frozen=True)
class QuestionForm:
    """A parsed, validated QuestionForm. ``parts`` keeps Overviews and Questions in the order
    the requester wrote them; ``questions`` and ``overview`` are the two kinds apart."""

    questions: tuple[FormQuestion, ...]
    overview: tuple[tuple[Content, ...], ...] = ()
    parts: tuple[tuple[Content, ...] | FormQuestion, ...] = ()

    def question(self, identifier: str) -> FormQuestion | None:
        return next((q for q in self.questions if q.identifier == identifier), None)


def suggested_frame_height(form: QuestionForm) -> int:
    """About how tall the drawn form is at a desktop width, in pixels: the worker site frames
    it (MTurk drew QuestionForms into its own page), so the frame is made about that tall
    rather than scrolling inside itself."""
    height = 140
    for part in form.parts:
        if not isinstance(part, FormQuestion):
            height += 50 + sum(_content_height(item) for item in part)
            continue
        height += 75 + sum(_content_height(item) for item in part.content)
        spec = part.answer
        if isinstance(spec, SelectionAnswer):
            choices = len(spec.selections) + (1 if spec.other else 0)
            listed = spec.style not in ("radiobutton", "checkbox")
            height += 60 + (min(choices, 8) * 22 if listed else choices * 42)
        elif isinstance(spec, FreeTextAnswer):
            height += 50 + (24 * spec.lines if spec.lines > 1 else 0) + (30 if spec.numeric else 0)
        else:
            height += 80
    return min(height, 4000)


def _content_height(item: Content) -> int:
    if item.kind == "binary":
        return 320
    if item.kind == "list":
        return 20 + 26 * len(item.items)
    if item.kind == "formatted":
        return 40 + 24 * (item.text.count("<p") + item.text.count("<br") + item.text.count("<tr"))
    return 34 + 26 * (len(item.text) // 90)


# ---- reading a QuestionForm -------------------------------------------------------------


def is_question_form(root_tag: str) -> bool:
    return root_tag in {f"{{{ns}}}QuestionForm" for ns in QUESTION_FORM_NAMESPACES}


def parse_form(xml: str) -> QuestionForm:
    """Read and check a QuestionForm; raise ``InvalidQuestion`` naming the problem."""
    root = _root(xml, "QuestionForm")
    namespace = root.tag[1:].split("}", 1)[0] if root.tag.startswith("{") else ""
    if namespace not in QUESTION_FORM_NAMESPACES:
        raise InvalidQuestion(
            f"QuestionForm must be in the namespace {QUESTION_FORM_NS} "
            f"(or {QUESTION_FORM_NS_2005})."
        )
    reader = _Reader(namespace)
    parts: list[tuple[Content, ...] | FormQuestion] = []
    seen: set[str] = set()
    for child in root:
        name = reader.name(child, "QuestionForm")
        if name == "Overview":
            parts.append(reader.content(child, "Overview"))
        elif name == "Question":
            question = reader.question(child)
            if question.identifier in seen:
                raise InvalidQuestion(
                    f"QuestionIdentifier {question.identifier!r} is used by more than one "
                    "Question: each Question needs its own."
                )
            seen.add(question.identifier)
            parts.append(question)
        else:
            raise InvalidQuestion(_unexpected(name, "QuestionForm", "Overview, Question"))
    questions = tuple(part for part in parts if isinstance(part, FormQuestion))
    if not questions:
        raise InvalidQuestion("QuestionForm must contain at least one Question.")
    overview = tuple(part for part in parts if not isinstance(part, FormQuestion))
    return QuestionForm(questions, overview, tuple(parts))


def _root(xml: str, expected: str) -> Element:
    try:
        root: Element = SafeET.fromstring(xml)
    except Exception as exc:  # defusedxml's refusals and plain parse errors alike
        raise InvalidQuestion(f"{expected} is not well-formed XML: {exc}") from None
    local = root.tag.rsplit("}", 1)[-1]
    if local != expected:
        raise InvalidQuestion(f"Expected a {expected} element, found {local!r}.")
    return root


def _unexpected(name: str, parent: str, allowed: str) -> str:
    return f"Unexpected element {name!r} in {parent}: expected {allowed}."


class _Reader:
    """Reads the elements of one namespace, refusing any other."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self.pattern_units = 0  # what the form's regexes cost to compile so far

    def afford_pattern(self, source: str, where: str) -> None:
        """Refuse a regex that would make the form's patterns too costly to compile, before
        compiling it: the ``regex`` module writes a counted repeat's minimum out, so nested
        counts multiply (``((a{1000}){1000}){1000}`` exhausts the memory)."""
        self.pattern_units += pattern_units(source)
        if self.pattern_units > MAX_PATTERN_UNITS:
            raise InvalidQuestion(
                f"{where}: AnswerFormatRegex {source[:60]!r} repeats too much: the form's "
                f"patterns together may expand to at most {MAX_PATTERN_UNITS} units (a counted "
                "repeat such as {5} multiplies what it repeats; nested ones multiply each other)."
            )

    def name(self, element: Element, parent: str) -> str:
        if not isinstance(element.tag, str):  # a comment or processing instruction
            return ""
        namespace, _, local = element.tag[1:].partition("}")
        if not element.tag.startswith("{") or namespace != self.namespace:
            raise InvalidQuestion(
                f"Element {element.tag!r} in {parent} is not in the {self.namespace} namespace."
            )
        return local

    def children(self, element: Element, parent: str) -> list[tuple[str, Element]]:
        found = [(self.name(child, parent), child) for child in element]
        return [(name, child) for name, child in found if name]

    def question(self, element: Element) -> FormQuestion:
        fields = self.children(element, "Question")
        allowed = (
            "QuestionIdentifier",
            "DisplayName",
            "IsRequired",
            "QuestionContent",
            "AnswerSpecification",
        )
        by_name: dict[str, Element] = {}
        for name, child in fields:
            if name not in allowed:
                raise InvalidQuestion(_unexpected(name, "Question", ", ".join(allowed)))
            if name in by_name:
                raise InvalidQuestion(f"A Question has more than one {name}.")
            by_name[name] = child
        identifier = _text(by_name.get("QuestionIdentifier")).strip()
        if not identifier:
            raise InvalidQuestion("Every Question needs a non-empty QuestionIdentifier.")
        if len(identifier) > MAX_IDENTIFIER_LENGTH:
            raise InvalidQuestion(
                f"QuestionIdentifier {identifier[:40]!r}... is longer than "
                f"{MAX_IDENTIFIER_LENGTH} characters."
            )
        where = f"Question {identifier!r}"
        if "QuestionContent" not in by_name:
            raise InvalidQuestion(f"{where} has no QuestionContent.")
        if "AnswerSpecification" not in by_name:
            raise InvalidQuestion(f"{where} has no AnswerSpecification.")
        required = _boolean(by_name.get("IsRequired"), f"{where}: IsRequired")
        content = self.content(by_name["QuestionContent"], f"{where}: QuestionContent")
        answer = self.answer_specification(by_name["AnswerSpecification"], where)
        display_name = _text(by_name.get("DisplayName")).strip()
        return FormQuestion(identifier, display_name, required, content, answer)

    def content(self, element: Element, where: str) -> tuple[Content, ...]:
        found: list[Content] = []
        for name, child in self.children(element, where):
            if name in ("Title", "Text"):
                found.append(Content(name.lower(), text=_text(child).strip()))
            elif name == "FormattedContent":
                found.append(Content("formatted", text=_text(child)))
            elif name == "List":
                items = []
                for item_name, item in self.children(child, f"{where}: List"):
                    if item_name != "ListItem":
                        raise InvalidQuestion(_unexpected(item_name, f"{where}: List", "ListItem"))
                    items.append(_text(item).strip())
                if not items:
                    raise InvalidQuestion(f"{where}: a List needs at least one ListItem.")
                found.append(Content("list", items=tuple(items)))
            elif name in ("Binary", "EmbeddedBinary"):
                found.append(Content("binary", binary=self.binary(child, f"{where}: {name}")))
            elif name == "Application":
                raise InvalidQuestion(
                    f"{where}: Application content (Flash, Java applets) is not supported; "
                    "use FormattedContent or Binary."
                )
            else:
                allowed = "Title, Text, List, FormattedContent, Binary"
                raise InvalidQuestion(_unexpected(name, where, allowed))
        return tuple(found)

    def binary(self, element: Element, where: str) -> Binary:
        fields = dict(self.children(element, where))
        mime = fields.get("MimeType", fields.get("EmbeddedMimeType"))
        if mime is None:
            raise InvalidQuestion(f"{where} needs a MimeType.")
        mime_fields = dict(self.children(mime, f"{where}: MimeType"))
        media_type = _text(mime_fields.get("Type")).strip()
        if media_type not in MEDIA_TYPES:
            raise InvalidQuestion(
                f"{where}: MimeType Type must be one of {', '.join(MEDIA_TYPES)}, "
                f"not {media_type!r}."
            )
        subtype = _text(mime_fields.get("SubType")).strip()
        url = _text(fields.get("DataURL")).strip()
        if not url.lower().startswith(("http://", "https://")) or any(c.isspace() for c in url):
            raise InvalidQuestion(f"{where}: DataURL must be an http:// or https:// URL.")
        alt = _text(fields.get("AltText")).strip()
        return Binary(media_type, subtype, url, alt)

    def answer_specification(self, element: Element, where: str) -> AnswerSpec:
        kinds = self.children(element, f"{where}: AnswerSpecification")
        if len(kinds) != 1:
            raise InvalidQuestion(
                f"{where}: AnswerSpecification must hold exactly one of FreeTextAnswer, "
                "SelectionAnswer or FileUploadAnswer."
            )
        name, child = kinds[0]
        if name == "FreeTextAnswer":
            return self.free_text(child, f"{where}: FreeTextAnswer")
        if name == "SelectionAnswer":
            return self.selection(child, f"{where}: SelectionAnswer")
        if name == "FileUploadAnswer":
            return self.file_upload(child, f"{where}: FileUploadAnswer")
        raise InvalidQuestion(
            _unexpected(
                name,
                f"{where}: AnswerSpecification",
                "FreeTextAnswer, SelectionAnswer, FileUploadAnswer",
            )
        )

    def free_text(self, element: Element, where: str) -> FreeTextAnswer:
        spec: dict[str, Any] = {}
        patterns: list[Pattern] = []
        for name, child in self.children(element, where):
            if name == "Constraints":
                for constraint, item in self.children(child, f"{where}: Constraints"):
                    if constraint == "IsNumeric":
                        spec["numeric"] = True
                        spec["min_value"] = _int_attribute(item, "minValue", where)
                        spec["max_value"] = _int_attribute(item, "maxValue", where)
                    elif constraint == "Length":
                        spec["min_length"] = _int_attribute(item, "minLength", where, low=0)
                        spec["max_length"] = _int_attribute(item, "maxLength", where, low=1)
                    elif constraint == "AnswerFormatRegex":
                        self.afford_pattern(item.get("regex") or "", where)
                        patterns.append(_pattern(item, where))
                    else:
                        allowed = "IsNumeric, Length, AnswerFormatRegex"
                        raise InvalidQuestion(
                            _unexpected(constraint, f"{where}: Constraints", allowed)
                        )
            elif name == "DefaultText":
                spec["default_text"] = _text(child)
            elif name == "NumberOfLinesSuggestion":
                spec["lines"] = _integer(child, f"{where}: NumberOfLinesSuggestion", low=1)
            else:
                allowed = "Constraints, DefaultText, NumberOfLinesSuggestion"
                raise InvalidQuestion(_unexpected(name, where, allowed))
        answer = FreeTextAnswer(patterns=tuple(patterns), **spec)
        if None not in (answer.min_value, answer.max_value):
            assert answer.min_value is not None and answer.max_value is not None
            if answer.min_value > answer.max_value:
                raise InvalidQuestion(
                    f"{where}: IsNumeric minValue {answer.min_value} is greater than "
                    f"maxValue {answer.max_value}."
                )
        if None not in (answer.min_length, answer.max_length):
            assert answer.min_length is not None and answer.max_length is not None
            if answer.min_length > answer.max_length:
                raise InvalidQuestion(
                    f"{where}: Length minLength {answer.min_length} is greater than "
                    f"maxLength {answer.max_length}."
                )
        return answer

    def selection(self, element: Element, where: str) -> SelectionAnswer:
        min_count: int | None = None
        max_count: int | None = None
        style = ""
        selections: list[Selection] = []
        other: FreeTextAnswer | None = None
        has_selections = False
        for name, child in self.children(element, where):
            if name == "MinSelectionCount":
                min_count = _integer(child, f"{where}: MinSelectionCount", low=0)
            elif name == "MaxSelectionCount":
                max_count = _integer(child, f"{where}: MaxSelectionCount", low=1)
            elif name == "StyleSuggestion":
                style = _text(child).strip()
                if style not in STYLES:
                    raise InvalidQuestion(
                        f"{where}: StyleSuggestion must be one of {', '.join(STYLES)}, "
                        f"not {style!r}."
                    )
            elif name == "Selections":
                has_selections = True
                for item_name, item in self.children(child, f"{where}: Selections"):
                    if item_name == "Selection":
                        selections.append(self.one_selection(item, where))
                    elif item_name == "OtherSelection":
                        other = self.free_text(item, f"{where}: OtherSelection")
                    else:
                        allowed = "Selection, OtherSelection"
                        raise InvalidQuestion(
                            _unexpected(item_name, f"{where}: Selections", allowed)
                        )
            else:
                allowed = "MinSelectionCount, MaxSelectionCount, StyleSuggestion, Selections"
                raise InvalidQuestion(_unexpected(name, where, allowed))
        if not has_selections or not selections:
            raise InvalidQuestion(f"{where} needs Selections with at least one Selection.")
        identifiers = [selection.identifier for selection in selections]
        duplicates = sorted({i for i in identifiers if identifiers.count(i) > 1})
        if duplicates:
            raise InvalidQuestion(
                f"{where}: SelectionIdentifier {duplicates[0]!r} is used by more than one "
                "Selection."
            )
        choices = len(selections) + (1 if other else 0)
        min_count = 1 if min_count is None else min_count
        max_count = max(1, min_count) if max_count is None else max_count
        if min_count > max_count:
            raise InvalidQuestion(
                f"{where}: MinSelectionCount {min_count} is greater than "
                f"MaxSelectionCount {max_count}."
            )
        if min_count > choices:
            raise InvalidQuestion(
                f"{where}: MinSelectionCount {min_count} is more than the {choices} "
                "choices offered."
            )
        max_count = min(max_count, choices)
        if not style or (style in ("radiobutton", "dropdown", "combobox") and max_count > 1):
            style = "checkbox" if max_count > 1 else "radiobutton"
        other_value = "__other__"
        while other_value in identifiers:
            other_value += "_"
        return SelectionAnswer(min_count, max_count, style, tuple(selections), other, other_value)

    def one_selection(self, element: Element, where: str) -> Selection:
        identifier = ""
        content: Content | None = None
        for name, child in self.children(element, f"{where}: Selection"):
            if name == "SelectionIdentifier":
                identifier = _text(child).strip()
            elif name in ("Text", "FormattedContent", "Binary") and content is None:
                if name == "Binary":
                    content = Content("binary", binary=self.binary(child, f"{where}: Binary"))
                else:
                    kind = "text" if name == "Text" else "formatted"
                    content = Content(kind, text=_text(child).strip())
            else:
                allowed = "SelectionIdentifier and one of Text, FormattedContent, Binary"
                raise InvalidQuestion(_unexpected(name, f"{where}: Selection", allowed))
        if not identifier:
            raise InvalidQuestion(
                f"{where}: every Selection needs a non-empty SelectionIdentifier."
            )
        if content is None:
            raise InvalidQuestion(
                f"{where}: Selection {identifier!r} needs a Text, FormattedContent or Binary."
            )
        return Selection(identifier, content)

    def file_upload(self, element: Element, where: str) -> FileUploadAnswer:
        sizes: dict[str, int] = {}
        for name, child in self.children(element, where):
            if name not in ("MinFileSizeInBytes", "MaxFileSizeInBytes"):
                allowed = "MinFileSizeInBytes, MaxFileSizeInBytes"
                raise InvalidQuestion(_unexpected(name, where, allowed))
            sizes[name] = _integer(child, f"{where}: {name}", low=0, high=MTURK_MAX_FILE_BYTES)
        low = sizes.get("MinFileSizeInBytes", 0)
        high = sizes.get("MaxFileSizeInBytes", MTURK_MAX_FILE_BYTES)
        if low > high:
            raise InvalidQuestion(
                f"{where}: MinFileSizeInBytes {low} is greater than MaxFileSizeInBytes {high}."
            )
        if low > MAX_UPLOAD_BYTES:
            raise InvalidQuestion(
                f"{where}: MinFileSizeInBytes {low} is more than this marketplace accepts for "
                f"one file ({MAX_UPLOAD_BYTES} bytes)."
            )
        return FileUploadAnswer(low, high)


def _text(element: Element | None) -> str:
    return "".join(element.itertext()) if element is not None else ""


def _integer(
    element: Element | None, where: str, low: int | None = None, high: int | None = None
) -> int:
    return _whole(_text(element).strip(), where, low, high)


def _whole(text: str, where: str, low: int | None = None, high: int | None = None) -> int:
    try:
        value = int(text)
    except ValueError:
        raise InvalidQuestion(f"{where} must be a whole number, not {text!r}.") from None
    if low is not None and value < low:
        raise InvalidQuestion(f"{where} must be at least {low}, not {value}.")
    if high is not None and value > high:
        raise InvalidQuestion(f"{where} must be at most {high}, not {value}.")
    return value


def _int_attribute(element: Element, name: str, where: str, low: int | None = None) -> int | None:
    value = element.get(name)
    return None if value is None else _whole(value.strip(), f"{where}: {name}", low)


def _boolean(element: Element | None, where: str) -> bool:
    text = _text(element).strip().lower()
    if text in ("", "false", "0"):
        return False
    if text in ("true", "1"):
        return True
    raise InvalidQuestion(f"{where} must be true or false, not {text!r}.")


# What the regexes of one form may cost to compile, in ``pattern_units``: about 0.3 s at most.
MAX_PATTERN_UNITS = 100_000
_COUNT = regex.compile(r"\{(\d*),?(\d*)\}")


def pattern_units(source: str) -> int:
    """About how large a regex compiles: one unit per character, a counted repeat's item
    times its minimum (nested counts multiply), alternatives summed. Linear in the source."""
    frames = [[0, 0]]  # per open group: [units so far, units of its last item]
    position, length = 0, len(source)
    while position < length:
        char = source[position]
        item = 1
        if char == "\\":
            position += 2
        elif char == "[":  # a class is one item: skip to its closing "]"
            position += 2 if source.startswith("^", position + 1) else 1
            position += 1 if source.startswith("]", position) else 0
            while position < length and source[position] != "]":
                position += 2 if source[position] == "\\" else 1
            position += 1
        elif char == "(":
            frames.append([0, 0])
            position += 1
            continue
        elif char == ")" and len(frames) > 1:
            item = max(1, frames.pop()[0])
            position += 1
        elif char == "{" and (count := _COUNT.match(source, position)) and count.group(0) != "{,}":
            low = count.group(1)
            times = max(1, int(low[:9])) if low else 1
            frame = frames[-1]
            frame[0] += frame[1] * (times - 1)
            frame[1] *= times
            position = count.end()
            continue
        else:
            position += 1
        frames[-1][0] += item
        frames[-1][1] = item
    return sum(frame[0] for frame in frames)


def _pattern(element: Element, where: str) -> Pattern:
    source = element.get("regex")
    if source is None or source == "":
        raise InvalidQuestion(f"{where}: AnswerFormatRegex needs a regex attribute.")
    flags_text = (element.get("flags") or "").strip()
    flags = regex.V0
    for flag in flags_text:
        if flag in _REGEX_FLAGS:
            flags |= _REGEX_FLAGS[flag]
        elif flag not in _IGNORED_FLAGS:
            raise InvalidQuestion(
                f"{where}: AnswerFormatRegex flags {flags_text!r} holds {flag!r}; use i, m, s."
            )
    if "u" not in flags_text:
        flags |= regex.ASCII  # JavaScript's \d, \w and \b are ASCII-only without the u flag
    try:
        compiled = regex.compile(source, flags)
    except (regex.error, ValueError, OverflowError) as exc:
        raise InvalidQuestion(
            f"{where}: AnswerFormatRegex {source!r} is not a valid regular expression: {exc}."
        ) from None
    error_text = (element.get("errorText") or "").strip()
    return Pattern(source, flags_text, error_text, compiled)


# ---- QuestionFormAnswers ------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """One question's answer, as QuestionFormAnswers holds it."""

    question_identifier: str
    free_text: str | None = None
    selections: tuple[str, ...] = ()
    other_text: str | None = None
    uploaded_file_key: str | None = None
    uploaded_file_size: int | None = None


# What XML 1.0 cannot hold (U+0000 and other C0 controls, lone surrogates, U+FFFE/U+FFFF).
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_safe(document: str) -> str:
    """An answers document with what XML cannot hold replaced by U+FFFD: a form field holding
    U+0000 (a broken or hostile task page) would otherwise make the XML unreadable and, on
    PostgreSQL, unstorable, losing the worker's submission."""
    return _NOT_XML.sub("\ufffd", document)


def answers_document(answers: Iterable[Answer]) -> str:
    """QuestionFormAnswers XML (MTurk's 2005-10-01 schema, elements in its order)."""
    root = Element("QuestionFormAnswers", xmlns=ANSWERS_NS)
    for answer in answers:
        node = SubElement(root, "Answer")
        SubElement(node, "QuestionIdentifier").text = answer.question_identifier
        if answer.free_text is not None:
            SubElement(node, "FreeText").text = answer.free_text
        elif answer.uploaded_file_key is not None:
            SubElement(node, "UploadedFileSizeInBytes").text = str(answer.uploaded_file_size)
            SubElement(node, "UploadedFileKey").text = answer.uploaded_file_key
        else:
            for identifier in answer.selections:
                SubElement(node, "SelectionIdentifier").text = identifier
            if answer.other_text is not None:
                SubElement(node, "OtherSelectionText").text = answer.other_text
    return xml_safe('<?xml version="1.0" encoding="UTF-8"?>' + tostring(root, encoding="unicode"))


def read_answers(xml: str) -> dict[str, Answer]:
    """The answers of a QuestionFormAnswers document, by QuestionIdentifier (unreadable XML:
    ``InvalidQuestion``)."""
    try:
        root = SafeET.fromstring(xml)
    except Exception as exc:
        raise InvalidQuestion(f"QuestionFormAnswers is not well-formed XML: {exc}") from None
    ns = {"a": ANSWERS_NS}
    found: dict[str, Answer] = {}
    for node in root.findall("a:Answer", ns):
        identifier = (node.findtext("a:QuestionIdentifier", "", ns) or "").strip()
        size = node.findtext("a:UploadedFileSizeInBytes", None, ns)
        found[identifier] = Answer(
            identifier,
            free_text=node.findtext("a:FreeText", None, ns),
            selections=tuple(
                (item.text or "").strip() for item in node.findall("a:SelectionIdentifier", ns)
            ),
            other_text=node.findtext("a:OtherSelectionText", None, ns),
            uploaded_file_key=node.findtext("a:UploadedFileKey", None, ns),
            uploaded_file_size=_size(size),
        )
    return found


def _size(text: str | None) -> int | None:
    """A byte count as written in the XML; None unless it is plain ASCII digits."""
    text = (text or "").strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 19 else None


# ---- AnswerKey and grading ----------------------------------------------------------------


@dataclass(frozen=True)
class AnswerOption:
    selections: frozenset[str]
    score: int


@dataclass(frozen=True)
class KeyQuestion:
    identifier: str
    options: tuple[AnswerOption, ...]
    default_score: int = 0


@dataclass(frozen=True)
class ScoreRange:
    low: int
    high: int
    value: int


@dataclass(frozen=True)
class AnswerKey:
    """An AnswerKey; ``mapping`` is None (the summed score is the value), ``percentage``
    (``maximum``), ``scale`` (``multiplier``) or ``range`` (``ranges``, ``out_of_range``)."""

    questions: tuple[KeyQuestion, ...]
    mapping: str | None = None
    maximum: int = 0
    multiplier: Decimal = Decimal(1)
    ranges: tuple[ScoreRange, ...] = ()
    out_of_range: int = 0

    def value(self, summed: int) -> int:
        """The qualification value a summed score maps to."""
        if self.mapping == "percentage":
            return _rounded(Decimal(summed) * 100 / self.maximum)
        if self.mapping == "scale":
            return _rounded(Decimal(summed) * self.multiplier)
        if self.mapping == "range":
            return next(
                (r.value for r in self.ranges if r.low <= summed <= r.high), self.out_of_range
            )
        return summed

    def score(self, answers: dict[str, Answer]) -> int:
        """The summed score: each question's matching AnswerOption (exactly the selections
        it names, no others) or else its DefaultScore."""
        total = 0
        for question in self.questions:
            answer = answers.get(question.identifier)
            chosen = frozenset(answer.selections) if answer else frozenset()
            total += next(
                (option.score for option in question.options if option.selections == chosen),
                question.default_score,
            )
        return total


def _rounded(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def parse_answer_key(xml: str, form: QuestionForm) -> AnswerKey:
    """Read an AnswerKey for ``form`` and check that it fits it: every question it names is a
    SelectionAnswer question of the form, every SelectionIdentifier one of that question's."""
    root = _root(xml, "AnswerKey")
    if root.tag != f"{{{ANSWER_KEY_NS}}}AnswerKey":
        raise InvalidQuestion(f"AnswerKey must be in the namespace {ANSWER_KEY_NS}.")
    reader = _Reader(ANSWER_KEY_NS)
    questions: list[KeyQuestion] = []
    mapping: dict[str, Any] = {}
    for name, child in reader.children(root, "AnswerKey"):
        if name == "Question":
            questions.append(_key_question(reader, child, form))
        elif name == "QualificationValueMapping" and not mapping:
            mapping = _mapping(reader, child)
        else:
            raise InvalidQuestion(
                _unexpected(name, "AnswerKey", "Question, one QualificationValueMapping")
            )
    if not questions:
        raise InvalidQuestion("AnswerKey must contain at least one Question.")
    named = [question.identifier for question in questions]
    twice = sorted({i for i in named if named.count(i) > 1})
    if twice:
        raise InvalidQuestion(f"AnswerKey names Question {twice[0]!r} more than once.")
    return AnswerKey(tuple(questions), **mapping)


def _key_question(reader: _Reader, element: Element, form: QuestionForm) -> KeyQuestion:
    identifier = ""
    options: list[AnswerOption] = []
    default = 0
    for name, child in reader.children(element, "AnswerKey Question"):
        if name == "QuestionIdentifier":
            identifier = _text(child).strip()
        elif name == "AnswerOption":
            chosen: set[str] = set()
            score: int | None = None
            for item_name, item in reader.children(child, "AnswerOption"):
                if item_name == "SelectionIdentifier":
                    chosen.add(_text(item).strip())
                elif item_name == "AnswerScore":
                    score = _integer(item, "AnswerScore")
                else:
                    allowed = "SelectionIdentifier, AnswerScore"
                    raise InvalidQuestion(_unexpected(item_name, "AnswerOption", allowed))
            if not chosen or score is None:
                raise InvalidQuestion(
                    "Every AnswerOption needs at least one SelectionIdentifier and an AnswerScore."
                )
            options.append(AnswerOption(frozenset(chosen), score))
        elif name == "DefaultScore":
            default = _integer(child, "DefaultScore")
        else:
            allowed = "QuestionIdentifier, AnswerOption, DefaultScore"
            raise InvalidQuestion(_unexpected(name, "AnswerKey Question", allowed))
    question = form.question(identifier)
    if question is None:
        raise InvalidQuestion(
            f"AnswerKey names Question {identifier!r}, which the QuestionForm does not have."
        )
    if not isinstance(question.answer, SelectionAnswer):
        raise InvalidQuestion(
            f"AnswerKey names Question {identifier!r}, which is not a SelectionAnswer question: "
            "only selections can be graded."
        )
    if not options:
        raise InvalidQuestion(f"AnswerKey Question {identifier!r} needs an AnswerOption.")
    known = {selection.identifier for selection in question.answer.selections}
    for option in options:
        unknown = sorted(option.selections - known)
        if unknown:
            raise InvalidQuestion(
                f"AnswerKey Question {identifier!r} names SelectionIdentifier {unknown[0]!r}, "
                "which that question does not offer."
            )
    return KeyQuestion(identifier, tuple(options), default)


def _mapping(reader: _Reader, element: Element) -> dict[str, Any]:
    kinds = reader.children(element, "QualificationValueMapping")
    if len(kinds) != 1:
        raise InvalidQuestion(
            "QualificationValueMapping must hold one of PercentageMapping, ScaleMapping, "
            "RangeMapping."
        )
    name, child = kinds[0]
    fields = reader.children(child, name)
    if name == "PercentageMapping":
        values = dict(fields)
        maximum = _integer(values.get("MaximumSummedScore"), "MaximumSummedScore", low=1)
        return {"mapping": "percentage", "maximum": maximum}
    if name == "ScaleMapping":
        text = _text(dict(fields).get("SummedScoreMultiplier")).strip()
        try:
            multiplier = Decimal(text)
        except InvalidOperation:
            raise InvalidQuestion(
                f"SummedScoreMultiplier must be a number, not {text!r}."
            ) from None
        if not multiplier.is_finite():
            raise InvalidQuestion("SummedScoreMultiplier must be a finite number.")
        return {"mapping": "scale", "multiplier": multiplier}
    if name == "RangeMapping":
        ranges: list[ScoreRange] = []
        out_of_range: int | None = None
        for field_name, item in fields:
            if field_name == "SummedScoreRange":
                bounds = dict(reader.children(item, "SummedScoreRange"))
                low = _integer(bounds.get("InclusiveLowerBound"), "InclusiveLowerBound")
                high = _integer(bounds.get("InclusiveUpperBound"), "InclusiveUpperBound")
                value = _integer(bounds.get("QualificationValue"), "QualificationValue")
                if low > high:
                    raise InvalidQuestion(
                        f"SummedScoreRange: InclusiveLowerBound {low} is greater than "
                        f"InclusiveUpperBound {high}."
                    )
                ranges.append(ScoreRange(low, high, value))
            elif field_name == "OutOfRangeQualificationValue":
                out_of_range = _integer(item, "OutOfRangeQualificationValue")
            else:
                allowed = "SummedScoreRange, OutOfRangeQualificationValue"
                raise InvalidQuestion(_unexpected(field_name, "RangeMapping", allowed))
        if not ranges or out_of_range is None:
            raise InvalidQuestion(
                "RangeMapping needs at least one SummedScoreRange and an "
                "OutOfRangeQualificationValue."
            )
        return {"mapping": "range", "ranges": tuple(ranges), "out_of_range": out_of_range}
    raise InvalidQuestion(
        _unexpected(
            name, "QualificationValueMapping", "PercentageMapping, ScaleMapping, RangeMapping"
        )
    )


def grade(answer_key_xml: str, form: QuestionForm, answers_xml: str) -> int:
    """The qualification value an AnswerKey gives these answers."""
    key = parse_answer_key(answer_key_xml, form)
    return key.value(key.score(read_answers(answers_xml)))
