"""MTurk question and answer XML: HTMLQuestion out, QuestionFormAnswers in both directions."""

from __future__ import annotations

from dataclasses import dataclass
from xml.etree.ElementTree import Element, SubElement, tostring

import defusedxml.ElementTree as SafeET

HTML_QUESTION_NS = (
    "http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2011-11-11/HTMLQuestion.xsd"
)
EXTERNAL_QUESTION_NS = (
    "http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2006-07-14/"
    "ExternalQuestion.xsd"
)
ANSWERS_NS = (
    "http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2005-10-01/"
    "QuestionFormAnswers.xsd"
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
    """A parsed question: HTML to render in a frame, or an external URL to frame."""

    kind: str  # "html" or "external"
    content: str  # the HTML, or the external URL
    frame_height: int


class InvalidQuestion(ValueError):
    pass


def parse_question(xml: str) -> Question:
    """Read an HTMLQuestion or ExternalQuestion, as MTurk accepts them (untrusted input)."""
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
        if content is not None and not content.strip().startswith("https://"):
            raise InvalidQuestion("ExternalURL must use HTTPS.")
    else:
        raise InvalidQuestion("Question must be an HTMLQuestion or an ExternalQuestion.")
    if not content or not content.strip():
        raise InvalidQuestion("Question has no content.")
    try:
        frame_height = int((height or "").strip())
    except ValueError:
        raise InvalidQuestion("FrameHeight must be a whole number.") from None
    return Question(kind, content.strip() if kind == "external" else content, frame_height)


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
    return '<?xml version="1.0" encoding="UTF-8"?>' + tostring(root, encoding="unicode")
