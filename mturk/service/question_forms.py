"""MTurk's QuestionForm: questions the marketplace renders itself (QuestionForm HITs and
qualification tests), the answers it gives back as QuestionFormAnswers XML, and the
AnswerKey that grades a qualification test at once.

Reading and grading are ``mturk.question_form_xml`` (no web framework; re-exported here).
This module draws a form as HTML (a Jinja template of its own, so that the worker site and
the task content origin, two apps, draw it alike) and checks what a worker posted against
the form's constraints: the browser's own checks (``required``, ``pattern``, ``min``...) are a
convenience, ``collect`` is the rule.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from html import unescape
from pathlib import Path
from typing import Any

import nh3
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from mturk.question_form_xml import (
    MAX_UPLOAD_BYTES,
    Answer,
    AnswerKey,
    Content,
    FileUploadAnswer,
    FormQuestion,
    FreeTextAnswer,
    InvalidQuestion,
    QuestionForm,
    SelectionAnswer,
    answers_document,
    grade,
    parse_answer_key,
    parse_form,
)

__all__ = [
    "MAX_SUBMISSION_BYTES",
    "MAX_UPLOAD_BYTES",
    "AnswerKey",
    "Collected",
    "InvalidQuestion",
    "QuestionForm",
    "Upload",
    "collect",
    "field_name",
    "grade",
    "other_field_name",
    "page",
    "parse_answer_key",
    "parse_form",
    "render",
]

# The most one submission may carry in all (Flask's MAX_CONTENT_LENGTH for the service).
MAX_SUBMISSION_BYTES = 50 * 1024 * 1024
TEMPLATES = Path(__file__).resolve().parent / "templates"
# MTurk's XHTML subset for FormattedContent (FormattedContentXHTMLSubset.xsd): no scripts,
# styles, event handlers, frames or forms; only these tags and attributes.
FORMATTED_TAGS = {
    "a", "area", "b", "big", "blockquote", "br", "caption", "center", "cite", "code", "col",
    "colgroup", "dd", "del", "dl", "dt", "em", "font", "h1", "h2", "h3", "h4", "h5", "h6", "hr",
    "i", "img", "ins", "li", "map", "ol", "p", "pre", "q", "s", "small", "strike", "strong",
    "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "tt", "u", "ul",
}  # fmt: skip
_CELL = {"align", "valign", "colspan", "rowspan", "width", "height", "bgcolor", "nowrap"}
FORMATTED_ATTRIBUTES = {
    "*": {"title", "lang", "dir"},
    "a": {"href", "name"},
    "area": {"shape", "coords", "href", "alt"},
    "blockquote": {"cite"},
    "col": {"span", "width", "align", "valign"},
    "colgroup": {"span", "width", "align", "valign"},
    "del": {"cite", "datetime"},
    "font": {"color", "face", "size"},
    "h1": {"align"}, "h2": {"align"}, "h3": {"align"},
    "h4": {"align"}, "h5": {"align"}, "h6": {"align"},
    "hr": {"align", "size", "width", "noshade"},
    "img": {"src", "alt", "width", "height", "border", "align", "hspace", "vspace", "usemap"},
    "ins": {"cite", "datetime"},
    "li": {"type", "value"},
    "map": {"name"},
    "ol": {"type", "start"},
    "p": {"align"},
    "q": {"cite"},
    "table": {"border", "cellpadding", "cellspacing", "width", "align", "bgcolor", "summary"},
    "td": _CELL,
    "th": _CELL,
    "tr": {"align", "valign", "bgcolor"},
    "ul": {"type"},
}  # fmt: skip
_SANITISER = nh3.Cleaner(
    tags=FORMATTED_TAGS,
    clean_content_tags={"script", "style", "noscript", "template", "iframe", "object"},
    attributes=FORMATTED_ATTRIBUTES,
    url_schemes={"http", "https", "mailto", "ftp"},
    url_relative="deny",
)
_PLAIN = nh3.Cleaner(tags=set(), clean_content_tags={"script", "style"})
# Characters XML 1.0 cannot carry: removed from what workers type before it becomes XML.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_MEDIA_TYPE = re.compile(r"^[a-z0-9!#$&^_.+-]{1,100}/[a-z0-9!#$&^_.+-]{1,100}$")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")
# The time all of one submission's AnswerFormatRegex checks may take together (each one at
# most PATTERN_SECONDS): a form of many slow patterns cannot hold a request (and the database
# transaction it runs in) for minutes. Past it, a pattern counts as not matching.
PATTERN_SECONDS = 0.25
PATTERNS_SECONDS = 1.0


@dataclass(frozen=True)
class Upload:
    """A file given for a FileUpload question."""

    question_identifier: str
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class Collected:
    """What a submitted QuestionForm gave: its QuestionFormAnswers XML and uploads, or, when
    any answer breaks its question's constraints, ``errors`` (QuestionIdentifier: why)."""

    answers_xml: str = ""
    uploads: tuple[Upload, ...] = ()
    errors: dict[str, str] = field(default_factory=dict)


def field_name(question: FormQuestion) -> str:
    """The form field that carries a question's answer (prefixed, so that no
    QuestionIdentifier can clash with the hidden fields, e.g. assignmentId)."""
    return f"answer:{question.identifier}"


def other_field_name(question: FormQuestion) -> str:
    """The text field of a SelectionAnswer's OtherSelection."""
    return f"other:{question.identifier}"


# ---- rendering ----------------------------------------------------------------------------


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["formatted"] = sanitise
    env.filters["plain"] = plain_text
    env.globals.update(
        field_name=field_name,
        other_field_name=other_field_name,
        html_pattern=html_pattern,
        describe_size=describe_size,
        is_free_text=lambda spec: isinstance(spec, FreeTextAnswer),
        is_selection=lambda spec: isinstance(spec, SelectionAnswer),
        is_upload=lambda spec: isinstance(spec, FileUploadAnswer),
        is_question=lambda part: isinstance(part, FormQuestion),
    )
    return env


def sanitise(html: str) -> Markup:
    """FormattedContent as safe HTML: MTurk's XHTML subset, nothing that runs."""
    return Markup(_SANITISER.clean(html))  # nh3 output: sanitised HTML


def plain_text(content: Content) -> str:
    """A selection's content as plain text (for a dropdown's option)."""
    if content.kind == "binary" and content.binary is not None:
        return content.binary.alt_text or content.binary.url
    if content.kind == "formatted":
        return " ".join(unescape(_PLAIN.clean(content.text)).split())  # escaped once, by Jinja
    return content.text


def html_pattern(spec: FreeTextAnswer) -> str | None:
    """The browser's ``pattern`` for a free-text answer's regexes (MTurk's check finds a
    regex anywhere in the answer; ``pattern`` must match all of it, hence the lookaheads).
    Patterns with flags are left to the server's check."""
    usable = [p.source for p in spec.patterns if not set(p.flags) - set("gu")]
    if not usable or len(usable) != len(spec.patterns):
        return None
    return "".join(f"(?=[\\s\\S]*(?:{source}))" for source in usable) + "[\\s\\S]*"


def describe_size(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.3g} MB"
    if size >= 1024:
        return f"{size / 1024:.3g} KB"
    return f"{size} bytes"


def _values(values: Any, name: str) -> list[str]:
    if values is None:
        return []
    if hasattr(values, "getlist"):
        return [str(v) for v in values.getlist(name)]
    value = values.get(name)
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list | tuple) else [str(value)]


_ENV = _environment()


def render(
    form: QuestionForm,
    *,
    action: str,
    hidden: dict[str, str],
    values: Any = None,
    errors: dict[str, str] | None = None,
    disabled: bool = False,
    submit_label: str = "Submit",
) -> Markup:
    """The form as HTML (a ``<form method=post enctype=multipart/form-data>`` to ``action``
    with ``hidden`` fields, every question and a submit button), safe to put on a page:
    FormattedContent is sanitised, every other text escaped. ``values`` (a MultiDict of what
    was posted) and ``errors`` show a refused submission again; ``disabled``: a preview, shown
    but not answerable."""
    posted = values is not None

    def given(question: FormQuestion) -> list[str]:
        return _values(values, field_name(question))

    def other_text(question: FormQuestion) -> str:
        found = _values(values, other_field_name(question))
        return found[0] if found else ""

    def text_value(question: FormQuestion) -> str:
        if posted:
            found = given(question)
            return found[0] if found else ""
        spec = question.answer
        return spec.default_text if isinstance(spec, FreeTextAnswer) else ""

    html = _ENV.get_template("question_form.html").render(
        form=form,
        action=action,
        hidden=hidden,
        errors=errors or {},
        disabled=disabled,
        submit_label=submit_label,
        has_uploads=any(isinstance(q.answer, FileUploadAnswer) for q in form.questions),
        given=given,
        other_text=other_text,
        text_value=text_value,
    )
    return Markup(html)  # rendered by an autoescaping template


def page(title: str, form_html: Markup, *, notice: str = "", head: Markup | None = None) -> str:
    """A whole page holding a rendered form (the task content origin's QuestionForm task, and
    the worker site's answer to a refused submission, shown in the task frame); ``head``:
    tags for its head (the content origin's frame tags)."""
    return _ENV.get_template("question_form_page.html").render(
        title=title, form_html=form_html, notice=notice, head=head or ""
    )


# ---- collecting -------------------------------------------------------------------------


def collect(form: QuestionForm, values: Any, files: Any, *, assignment_id: str = "") -> Collected:
    """Check posted ``values`` (MultiDict of str) and ``files`` (MultiDict of werkzeug
    FileStorage) against the form's constraints and build QuestionFormAnswers: an Answer for
    every free-text and selection question (empty when a question that is not required was
    left blank, as MTurk sends), and for every file given. An upload's UploadedFileKey is
    ``<assignment_id>/<QuestionIdentifier>``."""
    answers: list[Answer] = []
    uploads: list[Upload] = []
    errors: dict[str, str] = {}
    deadline = time.monotonic() + PATTERNS_SECONDS
    for question in form.questions:
        spec = question.answer
        try:
            if isinstance(spec, FreeTextAnswer):
                answers.append(_free_text(question, spec, values, deadline))
            elif isinstance(spec, SelectionAnswer):
                answers.append(_selection(question, spec, values, deadline))
            else:
                upload = _upload(question, spec, files)
                if upload is not None:
                    key = (
                        f"{assignment_id}/{question.identifier}"
                        if assignment_id
                        else (question.identifier)
                    )
                    uploads.append(upload)
                    answers.append(
                        Answer(
                            question.identifier,
                            uploaded_file_key=key,
                            uploaded_file_size=len(upload.data),
                        )
                    )
        except _Refused as refused:
            errors[question.identifier] = str(refused)
    if errors:
        return Collected(errors=errors)
    return Collected(answers_document(answers), tuple(uploads))


class _Refused(Exception):
    """Why one answer is not acceptable (said to the worker)."""


def _first(values: Any, name: str) -> str:
    found = _values(values, name)
    return _NOT_XML.sub("", found[0]).replace("\r\n", "\n") if found else ""


def _free_text(
    question: FormQuestion, spec: FreeTextAnswer, values: Any, deadline: float
) -> Answer:
    text = _first(values, field_name(question))
    if not text.strip():
        if question.required:
            raise _Refused("This question needs an answer.")
        return Answer(question.identifier, free_text="")
    _check_text(text, spec, deadline)
    return Answer(question.identifier, free_text=text)


def _check_text(text: str, spec: FreeTextAnswer, deadline: float) -> None:
    """``deadline``: when the submission's time for regex checks runs out (``collect``)."""
    if spec.numeric:
        number = text.strip()
        if not _NUMBER.match(number):
            raise _Refused("The answer must be a number.")
        try:
            value = Decimal(number)
        except InvalidOperation:
            raise _Refused("The answer must be a number.") from None
        if spec.min_value is not None and value < spec.min_value:
            raise _Refused(f"The answer must be at least {spec.min_value}.")
        if spec.max_value is not None and value > spec.max_value:
            raise _Refused(f"The answer must be at most {spec.max_value}.")
    if spec.min_length is not None and len(text) < spec.min_length:
        raise _Refused(f"The answer must be at least {spec.min_length} characters long.")
    if spec.max_length is not None and len(text) > spec.max_length:
        raise _Refused(f"The answer must be at most {spec.max_length} characters long.")
    for pattern in spec.patterns:
        left = min(PATTERN_SECONDS, deadline - time.monotonic())
        if left <= 0 or not pattern.matches(text, timeout=left):
            raise _Refused(pattern.error_text or "The answer is not in the expected format.")


def _selection(
    question: FormQuestion, spec: SelectionAnswer, values: Any, deadline: float
) -> Answer:
    known = {selection.identifier for selection in spec.selections}
    chosen: list[str] = []
    other_chosen = False
    for value in _values(values, field_name(question)):
        if spec.other is not None and value == spec.other_value:
            other_chosen = True
        elif value == "":
            continue  # a dropdown left on its placeholder
        elif value not in known:
            raise _Refused("That choice is not one this question offers.")
        elif value not in chosen:
            chosen.append(value)
    other_text: str | None = None
    if spec.other is not None:
        typed = _first(values, other_field_name(question))
        if typed.strip():
            other_chosen = True  # typing in "Other" chooses it
        if other_chosen:
            if not typed.strip():
                raise _Refused('Write your answer next to "Other", or choose another option.')
            _check_text(typed, spec.other, deadline)
            other_text = typed
    count = len(chosen) + (1 if other_chosen else 0)
    if count == 0:
        if question.required:
            raise _Refused("This question needs an answer.")
        return Answer(question.identifier)
    if count < spec.min_count:
        raise _Refused(f"Choose at least {spec.min_count} options.")
    if count > spec.max_count:
        noun = "option" if spec.max_count == 1 else "options"
        raise _Refused(f"Choose at most {spec.max_count} {noun}.")
    return Answer(question.identifier, selections=tuple(chosen), other_text=other_text)


def _upload(question: FormQuestion, spec: FileUploadAnswer, files: Any) -> Upload | None:
    storage = files.get(field_name(question)) if files is not None else None
    if storage is None or not getattr(storage, "filename", ""):
        if question.required:
            raise _Refused("This question needs a file.")
        return None
    limit = spec.effective_max
    data = storage.read(limit + 1)
    if len(data) > limit:
        raise _Refused(f"The file is larger than {describe_size(limit)}.")
    if not data:
        raise _Refused("The file is empty.")
    if len(data) < spec.min_size:
        raise _Refused(f"The file must be at least {describe_size(spec.min_size)}.")
    return Upload(question.identifier, safe_filename(storage.filename), _media_type(storage), data)


def safe_filename(name: str) -> str:
    """The file's own name (no directories, nothing XML or a header cannot carry), at most
    255 characters."""
    base = re.split(r"[\\/]", name)[-1]
    base = "".join(ch for ch in _NOT_XML.sub("", base) if ch.isprintable()).strip()
    return (base or "upload")[:255]


def _media_type(storage: Any) -> str:
    kind = str(getattr(storage, "mimetype", "") or "").lower()
    return kind if _MEDIA_TYPE.match(kind) else "application/octet-stream"
