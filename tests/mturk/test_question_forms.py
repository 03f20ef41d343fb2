"""MTurk's QuestionForm: read and checked at CreateHIT, drawn by the marketplace, answered
through the worker site (file uploads too) as QuestionFormAnswers, graded by an AnswerKey;
uploaded files reached through GetFileUploadURL."""

from __future__ import annotations

import io
import re
import time
import urllib.error
import urllib.request
from typing import Any

import defusedxml.ElementTree as SafeET
import pytest
from botocore.exceptions import ClientError
from sqlalchemy import event, func, select
from werkzeug.datastructures import FileStorage, MultiDict

from mturk import question_form_xml
from mturk.answers import parse_answer
from mturk.question_form_xml import (
    ANSWER_KEY_NS,
    MAX_UPLOAD_BYTES,
    QUESTION_FORM_NS_2005,
    read_answers,
)
from mturk.questions import ANSWERS_NS, InvalidQuestion, parse_question
from mturk.service import local_store, uploads
from mturk.service.question_forms import collect, grade, parse_answer_key, parse_form, render
from mturk.service.store import UploadedFile
from tests.helpers.question_forms import SURVEY, multipart, post_multipart, question_form
from tests.helpers.requesters import client_for, new_requester
from tests.worker_site import Worker

NS = {"a": ANSWERS_NS}
NOT_ACCEPTED = "ASSIGNMENT_ID_NOT_AVAILABLE"


def free_text(identifier: str, constraints: str = "", required: bool = True, extra: str = ""):
    return (
        f"<Question><QuestionIdentifier>{identifier}</QuestionIdentifier>"
        f"<IsRequired>{'true' if required else 'false'}</IsRequired>"
        f"<QuestionContent><Text>{identifier}?</Text></QuestionContent>"
        f"<AnswerSpecification><FreeTextAnswer>{constraints}{extra}</FreeTextAnswer>"
        "</AnswerSpecification></Question>"
    )


def choice(identifier: str, options: str = "a b c", counts: str = "", other: str = "") -> str:
    selections = "".join(
        f"<Selection><SelectionIdentifier>{o}</SelectionIdentifier><Text>{o.upper()}</Text>"
        "</Selection>"
        for o in options.split()
    )
    return (
        f"<Question><QuestionIdentifier>{identifier}</QuestionIdentifier>"
        f"<QuestionContent><Text>Pick</Text></QuestionContent><AnswerSpecification>"
        f"<SelectionAnswer>{counts}<Selections>{selections}{other}</Selections>"
        "</SelectionAnswer></AnswerSpecification></Question>"
    )


def answers_of(xml: str) -> dict[str, dict[str, list[str]]]:
    """Each answer's child elements by local name: {QuestionIdentifier: {tag: [texts]}}."""
    root = SafeET.fromstring(xml)
    assert root.tag == f"{{{ANSWERS_NS}}}QuestionFormAnswers"
    found: dict[str, dict[str, list[str]]] = {}
    for answer in root.findall("a:Answer", NS):
        identifier = answer.findtext("a:QuestionIdentifier", namespaces=NS)
        fields: dict[str, list[str]] = {}
        for child in answer:
            tag = child.tag.split("}")[1]
            if tag != "QuestionIdentifier":
                fields.setdefault(tag, []).append(child.text or "")
        found[identifier] = fields
    return found


# ---- reading a QuestionForm -------------------------------------------------------------


def test_a_question_form_is_read_with_its_content_and_answer_specifications():
    form = parse_form(SURVEY)
    assert [q.identifier for q in form.questions] == ["colour", "things", "count", "note", "photo"]
    assert [part.identifier for part in form.parts[1:]] == [q.identifier for q in form.questions]
    [overview] = form.overview
    assert [c.kind for c in overview] == ["title", "text", "formatted"]
    colour, things, count, note, photo = form.questions
    assert colour.required and colour.display_name == "Main colour"
    assert colour.answer.style == "radiobutton" and colour.answer.other is not None
    assert (things.answer.min_count, things.answer.max_count) == (1, 3)
    assert things.answer.style == "checkbox"
    assert (count.answer.numeric, count.answer.min_value, count.answer.max_value) == (True, 0, 50)
    assert not note.required and note.answer.max_length == 200 and note.answer.lines == 3
    assert (photo.answer.min_size, photo.answer.max_size) == (2, 1024)


def test_the_2005_namespace_is_accepted_and_parse_question_knows_a_form():
    xml = question_form(free_text("name"), QUESTION_FORM_NS_2005)
    assert parse_form(xml).questions[0].identifier == "name"
    question = parse_question(SURVEY)
    assert (question.kind, question.content) == ("form", SURVEY)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (free_text("a") + free_text("a"), "QuestionIdentifier 'a' is used by more than one"),
        (free_text("a", '<Constraints><AnswerFormatRegex regex="(["/></Constraints>'),
         "is not a valid regular expression"),
        (free_text("a", '<Constraints><IsNumeric minValue="5" maxValue="1"/></Constraints>'),
         "minValue 5 is greater than maxValue 1"),
        (free_text("a", '<Constraints><Length minLength="9" maxLength="2"/></Constraints>'),
         "minLength 9 is greater than maxLength 2"),
        (free_text("a", '<Constraints><AnswerFormatRegex regex="x" flags="q"/></Constraints>'),
         "flags 'q'"),
        (choice("c", counts="<MinSelectionCount>3</MinSelectionCount>"
                "<MaxSelectionCount>2</MaxSelectionCount>"),
         "MinSelectionCount 3 is greater than MaxSelectionCount 2"),
        (choice("c", "a b", counts="<MinSelectionCount>3</MinSelectionCount>"
                "<MaxSelectionCount>3</MaxSelectionCount>"),
         "more than the 2 choices"),
        (choice("c", "a a"), "SelectionIdentifier 'a' is used by more than one"),
        (choice("c", counts="<StyleSuggestion>wheel</StyleSuggestion>"), "StyleSuggestion"),
        (free_text("a", extra="<Colour>red</Colour>"), "Unexpected element 'Colour'"),
        ("<Overview><Text>only an overview</Text></Overview>", "at least one Question"),
        (free_text(""), "non-empty QuestionIdentifier"),
        ("<Question><QuestionIdentifier>f</QuestionIdentifier><QuestionContent/>"
         "<AnswerSpecification><FileUploadAnswer><MinFileSizeInBytes>9</MinFileSizeInBytes>"
         "<MaxFileSizeInBytes>3</MaxFileSizeInBytes></FileUploadAnswer></AnswerSpecification>"
         "</Question>", "MinFileSizeInBytes 9 is greater than MaxFileSizeInBytes 3"),
        ("<Question><QuestionIdentifier>f</QuestionIdentifier><QuestionContent/>"
         "<AnswerSpecification><FileUploadAnswer><MinFileSizeInBytes>999999999"
         "</MinFileSizeInBytes></FileUploadAnswer></AnswerSpecification></Question>",
         "more than this marketplace accepts"),
        ("<Question><QuestionIdentifier>b</QuestionIdentifier><QuestionContent><Binary>"
         "<MimeType><Type>image</Type></MimeType><DataURL>javascript:alert(1)</DataURL>"
         "<AltText>x</AltText></Binary></QuestionContent><AnswerSpecification>"
         "<FreeTextAnswer/></AnswerSpecification></Question>", "DataURL must be an http"),
    ],
)  # fmt: skip
def test_an_invalid_form_is_refused_naming_the_problem(body, message):
    with pytest.raises(InvalidQuestion, match=re.escape(message)):
        parse_form(question_form(body))


@pytest.mark.parametrize(
    ("xml", "message"),
    [
        ("<QuestionForm", "not well-formed XML"),
        ('<QuestionForm xmlns="urn:other"><Question/></QuestionForm>', "namespace"),
        (
            '<!DOCTYPE q [<!ENTITY e "x">]><QuestionForm xmlns="urn:x">&e;</QuestionForm>',
            "not well-formed XML",
        ),
    ],
)
def test_what_is_not_a_question_form_is_refused(xml, message):
    with pytest.raises(InvalidQuestion, match=message):
        parse_form(xml)


# ---- drawing it -------------------------------------------------------------------------


def test_formatted_content_is_sanitised_and_other_text_escaped():
    body = (
        "<Overview><Title>&lt;b&gt;bold?&lt;/b&gt;</Title><FormattedContent><![CDATA["
        '<p onclick="steal()">Hi <b>there</b><script>alert(1)</script>'
        '<img src="https://img.test/a.png" onerror="alert(2)" alt="pic">'
        '<a href="javascript:alert(3)">x</a><a href="https://ok.test/">ok</a>'
        "<style>body{display:none}</style><iframe src='https://evil.test'></iframe></p>"
        "]]></FormattedContent></Overview>" + free_text("a")
    )
    html = str(render(parse_form(question_form(body)), action="/submit", hidden={}))
    assert "<script" not in html and "alert(" not in html
    assert "onerror" not in html and "onclick" not in html and "javascript:" not in html
    assert "<iframe" not in html and "display:none" not in html
    assert "<b>there</b>" in html and 'src="https://img.test/a.png"' in html
    assert 'href="https://ok.test/"' in html
    assert "&lt;b&gt;bold?&lt;/b&gt;" in html  # a Title is text, never markup


def test_the_form_carries_the_browsers_constraint_attributes():
    html = str(render(parse_form(SURVEY), action="https://site.test/submit", hidden={"a": "1"}))
    assert 'action="https://site.test/submit"' in html
    assert 'enctype="multipart/form-data"' in html
    assert '<input type="hidden" name="a" value="1">' in html
    number = re.search(r'<input[^>]*name="answer:count"[^>]*>', html).group(0)
    assert 'type="number"' in number and 'min="0"' in number and 'max="50"' in number
    assert " required" in number
    assert re.search(r'<textarea[^>]*name="answer:note"[^>]*maxlength="200"', html)
    assert re.search(r'<input type="radio"[^>]*name="answer:colour" value="red"', html)
    assert re.search(r'<input type="checkbox"[^>]*name="answer:things" value="cat"', html)
    assert re.search(r'<input[^>]*type="file"[^>]*name="answer:photo"[^>]*required', html)
    assert "<fieldset disabled>" not in html


def test_a_regex_becomes_a_pattern_and_a_preview_is_disabled():
    constraints = (
        '<Constraints><AnswerFormatRegex regex="^[A-Z]{2}\\d+$" errorText="Like AB12"/>'
        '<Length minLength="3" maxLength="9"/></Constraints>'
    )
    form = parse_form(question_form(free_text("code", constraints)))
    html = str(render(form, action="/s", hidden={}, disabled=True))
    field = re.search(r'<input[^>]*name="answer:code"[^>]*>', html).group(0)
    assert 'pattern="(?=[\\s\\S]*(?:^[A-Z]{2}\\d+$))[\\s\\S]*"' in field
    assert 'title="Like AB12"' in field
    assert 'minlength="3"' in field and 'maxlength="9"' in field
    assert "<fieldset disabled>" in html


def test_a_refused_submission_is_shown_again_with_its_values_and_problems():
    form = parse_form(SURVEY)
    values = MultiDict(
        [("answer:colour", "blue"), ("answer:things", "dog"), ("answer:count", "<99>")]
    )
    html = str(render(form, action="/s", hidden={}, values=values, errors={"count": "Too many"}))
    assert re.search(r'value="blue" checked', html)
    assert re.search(r'value="dog" checked', html) and not re.search(r'value="cat" checked', html)
    assert 'value="&lt;99&gt;"' in html
    assert 'id="qf-problems"' in html and "Too many" in html


def binary(kind: str, url: str, alt: str) -> str:
    return (
        f"<Binary><MimeType><Type>{kind}</Type></MimeType><DataURL>{url}</DataURL>"
        f"<AltText>{alt}</AltText></Binary>"
    )


def test_selection_styles_and_media_are_drawn_with_native_controls():
    dropdown = choice(
        "size", "s m", "<StyleSuggestion>dropdown</StyleSuggestion>", "<OtherSelection/>"
    )
    listed = choice(
        "tags",
        "x y z",
        "<MaxSelectionCount>2</MaxSelectionCount><StyleSuggestion>multichooser</StyleSuggestion>",
    ).replace("<Text>Z</Text>", binary("image", "https://img.test/z.png", "A zebra"))
    content = (
        "<Overview>"
        + binary("image", "https://img.test/a.png", "A cat")
        + binary("audio", "https://snd.test/a.mp3", "A purr")
        + binary("video", "https://vid.test/a.mp4", "A jump")
        + "<List><ListItem>one</ListItem><ListItem>two</ListItem></List></Overview>"
    )
    html = str(render(parse_form(question_form(content + dropdown + listed)), action="/s",
                      hidden={}))  # fmt: skip
    size = re.search(r'<select[^>]*name="answer:size".*?</select>', html, re.S).group(0)
    assert "multiple" not in size and '<option value="">Choose…</option>' in size
    assert '<option value="__other__">Other (write it below)</option>' in size
    assert 'name="other:size"' in html
    tags = re.search(r'<select[^>]*name="answer:tags".*?</select>', html, re.S).group(0)
    assert " multiple" in tags and 'size="3"' in tags
    assert '<option value="z">A zebra</option>' in tags  # a picture's alt text in a list
    assert '<img class="qf-media" src="https://img.test/a.png" alt="A cat"' in html
    assert '<audio class="qf-media" controls preload="none" src="https://snd.test/a.mp3"' in html
    assert '<video class="qf-media" controls preload="none" src="https://vid.test/a.mp4"' in html
    assert "<li>one</li><li>two</li>" in html
    form = parse_form(question_form(dropdown))
    chosen = collect(form, MultiDict({"answer:size": "", "other:size": "XL"}), None)
    assert answers_of(chosen.answers_xml) == {"size": {"OtherSelectionText": ["XL"]}}


# ---- collecting answers -----------------------------------------------------------------


def upload(name: str, data: bytes, kind: str = "image/png") -> FileStorage:
    return FileStorage(io.BytesIO(data), filename=name, content_type=kind)


def good_values(**changes: list[str]) -> MultiDict:
    values = {
        "answer:colour": ["red"],
        "answer:things": ["cat", "tree"],
        "answer:count": ["3"],
        "answer:note": [""],
    }
    values.update(changes)
    return MultiDict([(k, v) for k, vs in values.items() for v in vs])


def test_collected_answers_are_mturks_question_form_answers():
    files = MultiDict([("answer:photo", upload("../../me.png", b"\x89PNG-data"))])
    collected = collect(parse_form(SURVEY), good_values(), files, assignment_id="ASSIGN1")
    assert collected.errors == {}
    assert answers_of(collected.answers_xml) == {
        "colour": {"SelectionIdentifier": ["red"]},
        "things": {"SelectionIdentifier": ["cat", "tree"]},
        "count": {"FreeText": ["3"]},
        "note": {"FreeText": [""]},
        "photo": {"UploadedFileSizeInBytes": ["9"], "UploadedFileKey": ["ASSIGN1/photo"]},
    }
    [stored] = collected.uploads
    assert (stored.question_identifier, stored.filename, stored.content_type, stored.data) == (
        "photo",
        "me.png",
        "image/png",
        b"\x89PNG-data",
    )


def test_other_selection_text_is_an_answer_of_its_own():
    values = good_values(**{"answer:colour": ["__other__"], "other:colour": ["teal"]})
    files = MultiDict([("answer:photo", upload("p.png", b"12"))])
    collected = collect(parse_form(SURVEY), values, files)
    assert answers_of(collected.answers_xml)["colour"] == {"OtherSelectionText": ["teal"]}
    typed_only = good_values(**{"answer:colour": [], "other:colour": ["teal"]})
    files = MultiDict([("answer:photo", upload("p.png", b"12"))])
    collected = collect(parse_form(SURVEY), typed_only, files)
    assert answers_of(collected.answers_xml)["colour"] == {"OtherSelectionText": ["teal"]}


@pytest.mark.parametrize(
    ("changes", "question", "message"),
    [
        ({"answer:colour": []}, "colour", "needs an answer"),
        ({"answer:colour": ["red", "blue"]}, "colour", "at most 1 option"),
        ({"answer:colour": ["green"]}, "colour", "not one this question offers"),
        ({"answer:colour": ["__other__"]}, "colour", 'next to "Other"'),
        ({"answer:things": []}, "things", "needs an answer"),
        ({"answer:things": ["cat", "dog", "tree", "car"]}, "things", "at most 3 options"),
        ({"answer:count": ["many"]}, "count", "must be a number"),
        ({"answer:count": ["51"]}, "count", "at most 50"),
        ({"answer:count": ["-1"]}, "count", "at least 0"),
        ({"answer:count": [" "]}, "count", "needs an answer"),
        ({"answer:note": ["x" * 201]}, "note", "at most 200 characters"),
    ],
)
def test_an_answer_that_breaks_its_constraints_is_refused(changes, question, message):
    files = MultiDict([("answer:photo", upload("p.png", b"12"))])
    collected = collect(parse_form(SURVEY), good_values(**changes), files)
    assert list(collected.errors) == [question]
    assert message in collected.errors[question]
    assert collected.answers_xml == "" and collected.uploads == ()


@pytest.mark.parametrize(
    ("data", "message"),
    [(None, "needs a file"), (b"1", "at least 2 bytes"), (b"x" * 1025, "larger than 1 KB")],
)
def test_an_upload_outside_its_sizes_is_refused(data, message):
    files = MultiDict([("answer:photo", upload("p.png", data))] if data is not None else [])
    collected = collect(parse_form(SURVEY), good_values(), files)
    assert message in collected.errors["photo"]


def test_an_upload_is_capped_by_the_marketplace_whatever_the_form_allows():
    body = (
        "<Question><QuestionIdentifier>big</QuestionIdentifier><QuestionContent/>"
        "<AnswerSpecification><FileUploadAnswer><MaxFileSizeInBytes>2000000000"
        "</MaxFileSizeInBytes><MinFileSizeInBytes>1</MinFileSizeInBytes></FileUploadAnswer>"
        "</AnswerSpecification></Question>"
    )
    form = parse_form(question_form(body))
    assert form.questions[0].answer.effective_max == MAX_UPLOAD_BYTES
    files = MultiDict([("answer:big", upload("b.bin", b"x" * (MAX_UPLOAD_BYTES + 1)))])
    assert "larger than 20 MB" in collect(form, MultiDict(), files).errors["big"]


def test_regexes_are_checked_as_javascript_does_with_their_error_text():
    constraints = (
        '<Constraints><AnswerFormatRegex regex="^[a-z]+$" flags="i" errorText="Letters only"/>'
        '<AnswerFormatRegex regex="\\d" errorText="A digit somewhere"/></Constraints>'
    )
    form = parse_form(question_form(free_text("a", constraints)))
    assert collect(form, MultiDict({"answer:a": "ab1"}), None).errors == {"a": "Letters only"}
    assert collect(form, MultiDict({"answer:a": "AbC"}), None).errors == {"a": "A digit somewhere"}
    assert parse_form(question_form(free_text("b", constraints.replace("\\d", "x")))).questions
    # A pattern that runs away is stopped and counts as not matching.
    slow = '<Constraints><AnswerFormatRegex regex="^(a+)+$"/></Constraints>'
    form = parse_form(question_form(free_text("s", slow)))
    started = time.monotonic()
    assert collect(form, MultiDict({"answer:s": "a" * 40 + "!"}), None).errors
    assert time.monotonic() - started < 5


def test_all_of_a_submissions_regex_checks_share_one_time_limit():
    """Each runaway pattern stops after 0.25 s, but 250 questions of them held a worker's
    submit (and its database transaction) for over a minute: together they get 1 s (revA)."""
    slow = '<Constraints><AnswerFormatRegex regex="^(a|a)*$"/></Constraints>'
    form = parse_form(question_form("".join(free_text(f"q{i}", slow) for i in range(40))))
    values = MultiDict({f"answer:q{i}": "a" * 40 + "b" for i in range(40)})
    started = time.monotonic()
    assert len(collect(form, values, None).errors) == 40
    assert time.monotonic() - started < 3  # 40 x 0.25 s = 10 s without the shared limit
    fine = MultiDict({f"answer:q{i}": "aaa" for i in range(40)})
    assert collect(form, fine, None).errors == {}  # a fresh limit for every submission


def test_a_question_not_required_may_be_left_blank():
    body = free_text("a", required=False) + choice("c").replace(
        "<QuestionContent>", "<IsRequired>false</IsRequired><QuestionContent>"
    )
    collected = collect(parse_form(question_form(body)), MultiDict(), MultiDict())
    assert answers_of(collected.answers_xml) == {"a": {"FreeText": [""]}, "c": {}}


# ---- reading answers (mturk/answers.py) ---------------------------------------------------


def test_hitblocks_reads_selections_other_text_and_uploads():
    files = MultiDict([("answer:photo", upload("p.png", b"1234"))])
    values = good_values(**{"answer:colour": ["__other__"], "other:colour": ["teal"]})
    collected = collect(parse_form(SURVEY), values, files, assignment_id="A9")
    parsed = parse_answer(collected.answers_xml, multi_valued={"things"})
    assert parsed.error is None
    assert parsed.data == {
        "colour": "teal",
        "things": ["cat", "tree"],
        "count": "3",
        "note": "",
        "photo": {"UploadedFileKey": "A9/photo", "UploadedFileSizeInBytes": 4},
    }


@pytest.mark.parametrize("size", ["\u00b2", "\u0663", "9" * 5000])
def test_an_upload_size_int_cannot_read_is_none_not_an_exception(size):
    """ "²".isdigit() is true but int("²") raises, as does int() of 5,000 digits: one hostile
    answer made parse_answer raise, which stops a poll cycle (review revA)."""
    xml = (
        f'<QuestionFormAnswers xmlns="{ANSWERS_NS}"><Answer><QuestionIdentifier>f'
        f"</QuestionIdentifier><UploadedFileSizeInBytes>{size}</UploadedFileSizeInBytes>"
        "<UploadedFileKey>A/f</UploadedFileKey></Answer></QuestionFormAnswers>"
    )
    parsed = parse_answer(xml)
    assert parsed.data == {"f": {"UploadedFileKey": "A/f", "UploadedFileSizeInBytes": None}}
    assert read_answers(xml)["f"].uploaded_file_size is None


# ---- grading ------------------------------------------------------------------------------

TEST_FORM = question_form(
    choice("q1", "a b c")
    + choice("q2", "x y z", counts="<MaxSelectionCount>3</MaxSelectionCount>")
    + free_text("why", required=False)
)


def answer_key(mapping: str = "", default: str = "") -> str:
    return (
        f'<AnswerKey xmlns="{ANSWER_KEY_NS}">'
        "<Question><QuestionIdentifier>q1</QuestionIdentifier>"
        "<AnswerOption><SelectionIdentifier>b</SelectionIdentifier>"
        "<AnswerScore>10</AnswerScore></AnswerOption>"
        f"{default}</Question>"
        "<Question><QuestionIdentifier>q2</QuestionIdentifier>"
        "<AnswerOption><SelectionIdentifier>x</SelectionIdentifier>"
        "<SelectionIdentifier>y</SelectionIdentifier><AnswerScore>5</AnswerScore></AnswerOption>"
        "<AnswerOption><SelectionIdentifier>x</SelectionIdentifier>"
        "<AnswerScore>2</AnswerScore></AnswerOption></Question>"
        f"{mapping}</AnswerKey>"
    )


def answered(q1: list[str], q2: list[str]) -> str:
    form = parse_form(TEST_FORM)
    values = MultiDict([("answer:q1", v) for v in q1] + [("answer:q2", v) for v in q2])
    collected = collect(form, values, None)
    assert collected.errors == {}
    return collected.answers_xml


def test_grading_sums_the_scores_of_exactly_matching_options():
    form = parse_form(TEST_FORM)
    assert grade(answer_key(), form, answered(["b"], ["x", "y"])) == 15
    assert grade(answer_key(), form, answered(["b"], ["x"])) == 12
    assert grade(answer_key(), form, answered(["b"], ["x", "y", "z"])) == 10  # not exactly
    default = "<DefaultScore>-3</DefaultScore>"
    assert grade(answer_key(default=default), form, answered(["a"], ["y"])) == -3


def test_grading_with_each_qualification_value_mapping():
    form = parse_form(TEST_FORM)
    best, some = answered(["b"], ["x", "y"]), answered(["b"], ["x"])
    percentage = (
        "<QualificationValueMapping><PercentageMapping><MaximumSummedScore>15"
        "</MaximumSummedScore></PercentageMapping></QualificationValueMapping>"
    )
    assert grade(answer_key(percentage), form, best) == 100
    assert grade(answer_key(percentage), form, some) == 80
    scale = (
        "<QualificationValueMapping><ScaleMapping><SummedScoreMultiplier>2.5"
        "</SummedScoreMultiplier></ScaleMapping></QualificationValueMapping>"
    )
    assert grade(answer_key(scale), form, some) == 30
    ranges = (
        "<QualificationValueMapping><RangeMapping>"
        "<SummedScoreRange><InclusiveLowerBound>0</InclusiveLowerBound>"
        "<InclusiveUpperBound>12</InclusiveUpperBound><QualificationValue>1"
        "</QualificationValue></SummedScoreRange>"
        "<SummedScoreRange><InclusiveLowerBound>13</InclusiveLowerBound>"
        "<InclusiveUpperBound>14</InclusiveUpperBound><QualificationValue>2"
        "</QualificationValue></SummedScoreRange>"
        "<OutOfRangeQualificationValue>99</OutOfRangeQualificationValue>"
        "</RangeMapping></QualificationValueMapping>"
    )
    assert grade(answer_key(ranges), form, some) == 1
    assert grade(answer_key(ranges), form, best) == 99  # 15: in no range


@pytest.mark.parametrize(
    ("key", "message"),
    [
        (answer_key().replace(">q2<", ">q9<"), "'q9', which the QuestionForm does not have"),
        (answer_key().replace(">q2<", ">why<"), "not a SelectionAnswer question"),
        (answer_key().replace(">y<", ">w<"), "SelectionIdentifier 'w'"),
        (answer_key("<QualificationValueMapping><PercentageMapping><MaximumSummedScore>0"
                    "</MaximumSummedScore></PercentageMapping></QualificationValueMapping>"),
         "MaximumSummedScore must be at least 1"),
        (answer_key().replace(ANSWER_KEY_NS, "urn:x"), "namespace"),
    ],
)  # fmt: skip
def test_an_answer_key_that_does_not_fit_its_form_is_refused(key, message):
    with pytest.raises(InvalidQuestion, match=re.escape(message)):
        parse_answer_key(key, parse_form(TEST_FORM))


# ---- through the service: boto3, the content origin, the worker site -------------------------


def create_form_hit(client, question: str = SURVEY) -> str:
    hit = client.create_hit(
        Title="Describe a picture",
        Description="A few questions about one picture.",
        Reward="0.25",
        AssignmentDurationInSeconds=600,
        LifetimeInSeconds=3600,
        MaxAssignments=2,
        Question=question,
    )
    return str(hit["HIT"]["HITId"])


def fetch(url: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def survey_fields(assignment_id: str) -> list[tuple[str, str]]:
    return [
        ("assignmentId", assignment_id),
        ("answer:colour", "blue"),
        ("answer:things", "dog"),
        ("answer:things", "car"),
        ("answer:count", "2"),
        ("answer:note", "Sunny <day> & fun"),
    ]


PHOTO = bytes(range(256)) * 3


def test_create_hit_with_a_question_form_and_get_it_back(mturk_local):
    hit_id = create_form_hit(mturk_local.client)
    assert mturk_local.client.get_hit(HITId=hit_id)["HIT"]["Question"] == SURVEY


def test_create_hit_refuses_an_invalid_form_with_a_clear_message(mturk_local):
    bad = question_form(free_text("a") + free_text("a"))
    with pytest.raises(ClientError) as error:
        create_form_hit(mturk_local.client, bad)
    assert error.value.response["TurkErrorCode"] == "AWS.MechanicalTurk.XMLParseError"
    assert "QuestionIdentifier 'a' is used by more than one" in str(error.value)


def test_a_regex_too_costly_to_compile_is_refused_before_compiling(mturk_local, monkeypatch):
    """The regex module writes counted repeats out: ``((a{1000}){1000}){1000}`` exhausted the
    service's memory at CreateHIT, and ``(?:a{1000}){1000}`` took 0.4 s per parse (each page
    view, each submit): such patterns are refused, by their expanded size (review revA)."""

    def regex_form(*patterns: str) -> str:
        constraints = "".join(f'<AnswerFormatRegex regex="{p}"/>' for p in patterns)
        return question_form(free_text("a", f"<Constraints>{constraints}</Constraints>"))

    big = regex_form("^(?:(?:a{1000}){1000}){1000}$")
    with pytest.raises(ClientError) as error:
        create_form_hit(mturk_local.client, big)
    assert error.value.response["TurkErrorCode"] == "AWS.MechanicalTurk.XMLParseError"
    assert "repeats too much" in str(error.value)
    compiled: list[str] = []  # what reaches the regex module's compile
    real_compile = question_form_xml.regex.compile

    def recording_compile(source: str, *args: Any, **kwargs: Any) -> Any:
        compiled.append(source)
        return real_compile(source, *args, **kwargs)

    monkeypatch.setattr(question_form_xml.regex, "compile", recording_compile)
    for slow in (regex_form("(?:a{1000}){1000}"), regex_form(*["(?:[ab]{300}){200}"] * 2)):
        with pytest.raises(InvalidQuestion, match="repeats too much"):
            parse_form(slow)
    assert "(?:a{1000}){1000}" not in compiled  # refused before it was compiled
    assert compiled.count("(?:[ab]{300}){200}") <= 1  # the first fits; the second tips over
    usual = regex_form(r"^\d{3}-\d{3}-\d{4}$", r"^[A-Z]{2}\d{6}$", ".{0,5000}", "(?:ab){300}")
    assert len(parse_form(usual).questions[0].answer.patterns) == 4


def test_the_content_origin_draws_the_form_disabled_in_a_preview(mturk_local):
    hit_id = create_form_hit(mturk_local.client)
    status, headers, body = fetch(f"{mturk_local.content_url}/tasks/{hit_id}?hitId={hit_id}")
    page = body.decode()
    assert status == 200 and headers["Cache-Control"] == "no-store"
    assert f"frame-ancestors {mturk_local.url}" in headers["Content-Security-Policy"]
    assert "<fieldset disabled>" in page and "This is a preview" in page
    assert f'action="{mturk_local.url}/mturk/externalSubmit"' in page
    assert f'name="assignmentId" value="{NOT_ACCEPTED}"' in page


def test_a_worker_answers_a_form_with_a_file_and_the_requester_downloads_it(
    mturk_local, monkeypatch
):
    client = mturk_local.client
    hit_id = create_form_hit(client)
    worker = Worker(mturk_local.url, "AFORMS1")
    worker.sign_in()
    assignment_id = worker.accept(hit_id)
    _, _, task = fetch(
        f"{mturk_local.content_url}/tasks/{hit_id}?assignmentId={assignment_id}&hitId={hit_id}"
    )
    assert f'name="assignmentId" value="{assignment_id}"' in task.decode()
    assert "<fieldset disabled>" not in task.decode()

    files = [("answer:photo", "my photo \u00e9.png", "image/png", PHOTO)]
    status, page = post_multipart(
        worker, "/mturk/externalSubmit", survey_fields(assignment_id), files
    )
    assert status == 200 and "HIT submitted" in page, page

    [assignment] = client.list_assignments_for_hit(HITId=hit_id)["Assignments"]
    assert assignment["AssignmentStatus"] == "Submitted"
    assert answers_of(assignment["Answer"]) == {
        "colour": {"SelectionIdentifier": ["blue"]},
        "things": {"SelectionIdentifier": ["dog", "car"]},
        "count": {"FreeText": ["2"]},
        "note": {"FreeText": ["Sunny <day> & fun"]},
        "photo": {
            "UploadedFileSizeInBytes": [str(len(PHOTO))],
            "UploadedFileKey": [f"{assignment_id}/photo"],
        },
    }

    url = client.get_file_upload_url(AssignmentId=assignment_id, QuestionIdentifier="photo")[
        "FileUploadURL"
    ]
    assert url.startswith(f"{mturk_local.url}/files/")
    status, headers, data = fetch(url)
    assert status == 200 and data == PHOTO
    assert headers["Content-Disposition"].startswith("attachment;")
    assert "filename*=UTF-8''my%20photo%20%C3%A9.png" in headers["Content-Disposition"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Cache-Control"] == "no-store"
    assert headers["Content-Type"] == "image/png"
    with local_store(mturk_local.app).transaction() as session:
        stored = session.scalar(select(UploadedFile))
        assert stored.download_token_hash not in url  # only the token's hash is kept
        assert stored.filename == "my photo \u00e9.png"

    # Valid for 60 seconds, as on MTurk; a new URL replaces the old one.
    real_now = uploads.now
    monkeypatch.setattr(uploads, "now", lambda: real_now() + 61)
    assert fetch(url)[0] == 404
    monkeypatch.setattr(uploads, "now", real_now)
    again = client.get_file_upload_url(AssignmentId=assignment_id, QuestionIdentifier="photo")
    assert fetch(again["FileUploadURL"])[2] == PHOTO
    assert fetch(url)[0] == 404
    assert fetch(f"{mturk_local.url}/files/not-a-token")[0] == 404


def test_a_file_upload_url_does_not_read_the_file(mturk_local):
    """GetFileUploadURL only writes a token: it read the whole file (up to 20 MB) from the
    database on every call (review revA)."""
    client = mturk_local.client
    worker = Worker(mturk_local.url, "AFORMS5")
    worker.sign_in()
    assignment_id = worker.accept(create_form_hit(client))
    files = [("answer:photo", "p.png", "image/png", PHOTO)]
    post_multipart(worker, "/mturk/externalSubmit", survey_fields(assignment_id), files)
    statements: list[str] = []

    def seen(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    engine = local_store(mturk_local.app).engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        url = client.get_file_upload_url(AssignmentId=assignment_id, QuestionIdentifier="photo")
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    reads = [s for s in statements if "FROM uploaded_files" in s]
    assert reads and not any("uploaded_files.data" in s for s in reads), reads
    assert fetch(url["FileUploadURL"])[2] == PHOTO  # the download still sends it


def test_file_upload_urls_only_for_the_callers_own_uploaded_answers(mturk_local):
    client = mturk_local.client
    hit_id = create_form_hit(client)
    worker = Worker(mturk_local.url, "AFORMS2")
    worker.sign_in()
    assignment_id = worker.accept(hit_id)
    with pytest.raises(ClientError) as error:  # still Accepted: not the requester's to see
        client.get_file_upload_url(AssignmentId=assignment_id, QuestionIdentifier="photo")
    assert error.value.response["TurkErrorCode"] == "AWS.MechanicalTurk.AssignmentDoesNotExist"
    files = [("answer:photo", "p.png", "image/png", b"12345")]
    post_multipart(worker, "/mturk/externalSubmit", survey_fields(assignment_id), files)

    other = client_for(mturk_local.url, new_requester(mturk_local.app, "other"))
    with pytest.raises(ClientError) as error:
        other.get_file_upload_url(AssignmentId=assignment_id, QuestionIdentifier="photo")
    assert error.value.response["TurkErrorCode"] == "AWS.MechanicalTurk.AssignmentDoesNotExist"
    with pytest.raises(ClientError) as error:
        client.get_file_upload_url(AssignmentId=assignment_id, QuestionIdentifier="count")
    assert error.value.response["TurkErrorCode"] == "AWS.MechanicalTurk.InvalidParameterValue"
    assert "no uploaded file for the question 'count'" in str(error.value)


def test_a_submission_breaking_the_forms_constraints_changes_nothing(mturk_local):
    client = mturk_local.client
    hit_id = create_form_hit(client)
    worker = Worker(mturk_local.url, "AFORMS3")
    worker.sign_in()
    assignment_id = worker.accept(hit_id)
    fields = [(k, "99" if k == "answer:count" else v) for k, v in survey_fields(assignment_id)]
    status, page = post_multipart(worker, "/mturk/externalSubmit", fields, [])
    assert status == 400
    problems = re.search(r'id="qf-problems".*?</ul>', page, re.S).group(0)
    assert '<a href="#qf-q3">How many people</a>: The answer must be at most 50.' in problems
    assert '<a href="#qf-q5">Your own photo</a>: This question needs a file.' in problems
    assert 'value="99"' in page  # shown again, to fix
    # in the task frame, speaking the frame protocol from the worker site's own assets
    assert f'src="/assets/task-frame.js" data-worker-origin="{mturk_local.url}"' in page
    assert client.list_assignments_for_hit(HITId=hit_id)["Assignments"] == []
    with local_store(mturk_local.app).transaction() as session:
        assert session.scalar(select(func.count()).select_from(UploadedFile)) == 0
    files = [("answer:photo", "p.png", "image/png", b"12345")]
    status, page = post_multipart(
        worker, "/mturk/externalSubmit", survey_fields(assignment_id), files
    )
    assert status == 200, page


def test_a_submission_larger_than_the_service_takes_is_refused_with_413(mturk_local):
    hit_id = create_form_hit(mturk_local.client)
    worker = Worker(mturk_local.url, "AFORMS4")
    worker.sign_in()
    assignment_id = worker.accept(hit_id)
    mturk_local.app.config["MAX_CONTENT_LENGTH"] = 4096
    files = [("answer:photo", "p.png", "image/png", b"x" * 8192)]
    body, content_type = multipart(survey_fields(assignment_id), files)
    response = mturk_local.app.test_client().post(
        "/mturk/externalSubmit", data=body, content_type=content_type
    )
    assert response.status_code == 413
    assert b"too large" in response.data
    assert mturk_local.client.list_assignments_for_hit(HITId=hit_id)["Assignments"] == []
