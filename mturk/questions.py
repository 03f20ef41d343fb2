"""MTurk question and answer XML: HTMLQuestion out, QuestionFormAnswers in both directions;
QuestionForms are read by ``question_form_xml``."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit
from xml.etree.ElementTree import Element, SubElement, tostring

import defusedxml.ElementTree as SafeET

from mturk.question_form_xml import (
    ANSWERS_NS,
    InvalidQuestion,
    is_question_form,
    parse_form,
    suggested_frame_height,
    xml_safe,
)

HTML_QUESTION_NS = (
    "http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2011-11-11/HTMLQuestion.xsd"
)
EXTERNAL_QUESTION_NS = (
    "http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2006-07-14/"
    "ExternalQuestion.xsd"
)
MAX_QUESTION_BYTES = 65_535


def cdata(text: str) -> str:
    """Wrap text in CDATA so that no value, not even one holding ``]]>``, can end it early."""
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def html_question(html: str, frame_height: int = 0) -> str:
    """An HTMLQuestion document; frame height 0 lets the worker's page size the frame."""
    return (
        f'<HTMLQuestion xmlns="{HTML_QUESTION_NS}">'
        f"<HTMLContent>{cdata(html)}</HTMLContent>"
        f"<FrameHeight>{int(frame_height)}</FrameHeight>"
        "</HTMLQuestion>"
    )


@dataclass(frozen=True)
class Question:
    """A parsed question: HTML to render in a frame, an external URL to frame, or a
    QuestionForm that the marketplace renders itself."""

    kind: str  # "html", "external" or "form"
    content: str  # the HTML, the external URL, or the QuestionForm XML
    frame_height: int


class InsecureExternalURL(InvalidQuestion):
    """An ExternalURL that is not HTTPS: MTurk refuses it (the worker site is HTTPS, and a
    plain page in its frame could be read or changed on the way)."""

    def __init__(self, url: str) -> None:
        super().__init__(
            f'The value "{url}" is not valid for the parameter ExternalURL. '
            "This URL must use the HTTPS protocol."
        )


def parse_question(xml: str, *, allow_http: bool = False) -> Question:
    """Read an HTMLQuestion, ExternalQuestion or QuestionForm, as MTurk accepts them
    (untrusted input); a QuestionForm is checked whole (``question_form_xml.parse_form``).

    ``allow_http``: accept a plain ``http://`` ExternalURL too (local development only).
    """
    try:
        root = SafeET.fromstring(xml)
    except Exception as exc:  # defusedxml raises several kinds; all mean "not acceptable"
        raise InvalidQuestion(f"Question is not well-formed XML: {exc}") from None
    if root.tag == f"{{{HTML_QUESTION_NS}}}HTMLQuestion":
        content = root.findtext(f"{{{HTML_QUESTION_NS}}}HTMLContent")
        height = root.findtext(f"{{{HTML_QUESTION_NS}}}FrameHeight")
        kind = "html"
    elif root.tag == f"{{{EXTERNAL_QUESTION_NS}}}ExternalQuestion":
        content = root.findtext(f"{{{EXTERNAL_QUESTION_NS}}}ExternalURL")
        height = root.findtext(f"{{{EXTERNAL_QUESTION_NS}}}FrameHeight")
        kind = "external"
        if content is not None and content.strip():
            _check_external_url(content.strip(), allow_http)
    elif is_question_form(root.tag):
        return Question("form", xml, suggested_frame_height(parse_form(xml)))
    else:
        raise InvalidQuestion(
            "Question must be an HTMLQuestion, an ExternalQuestion or a QuestionForm."
        )
    if not content or not content.strip():
        raise InvalidQuestion("Question has no content.")
    try:
        frame_height = int((height or "").strip())
    except ValueError:
        raise InvalidQuestion("FrameHeight must be a whole number.") from None
    return Question(kind, content.strip() if kind == "external" else content, frame_height)


def _check_external_url(url: str, allow_http: bool) -> None:
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        host = None
    scheme = url.split(":", 1)[0].lower()
    if scheme == "http" and not allow_http:
        raise InsecureExternalURL(url)
    if scheme not in ("https", "http") or not host or any(ch.isspace() for ch in url):
        raise InvalidQuestion(f"ExternalURL {url!r} is not a valid HTTPS URL.")


def answers_xml(fields: list[tuple[str, str]]) -> str:
    """QuestionFormAnswers with one FreeText answer per field, as externalSubmit records them.

    A name given several times (checkboxes) becomes one answer, values joined by ``|``.
    """
    grouped: dict[str, list[str]] = {}
    for name, value in fields:
        grouped.setdefault(name, []).append(value)
    root = Element("QuestionFormAnswers", xmlns=ANSWERS_NS)
    for name, values in grouped.items():
        answer = SubElement(root, "Answer")
        SubElement(answer, "QuestionIdentifier").text = name
        SubElement(answer, "FreeText").text = "|".join(values)
    return xml_safe('<?xml version="1.0" encoding="UTF-8"?>' + tostring(root, encoding="unicode"))
