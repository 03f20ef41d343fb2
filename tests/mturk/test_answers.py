from __future__ import annotations

from mturk.answers import MAX_ANSWER_BYTES, parse_answer
from mturk.questions import ANSWERS_NS, answers_xml


def qfa(body: str) -> str:
    return f'<QuestionFormAnswers xmlns="{ANSWERS_NS}">{body}</QuestionFormAnswers>'


def test_every_answer_is_a_list_of_its_values():
    xml = qfa(
        "<Answer><QuestionIdentifier>total</QuestionIdentifier><FreeText>12.00</FreeText></Answer>"
        "<Answer><QuestionIdentifier>colour</QuestionIdentifier>"
        "<SelectionIdentifier>red</SelectionIdentifier>"
        "<SelectionIdentifier>blue</SelectionIdentifier></Answer>"
        "<Answer><QuestionIdentifier>none</QuestionIdentifier></Answer>"
    )
    parsed = parse_answer(xml)
    assert parsed.error is None
    assert parsed.data == {"total": ["12.00"], "colour": ["red", "blue"], "none": []}


def test_external_submit_answers_round_trip():
    parsed = parse_answer(answers_xml([("a", "1"), ("b", "<x> & y")]))
    assert parsed.data == {"a": ["1"], "b": ["<x> & y"]}


def test_crowd_form_task_answers_are_unpacked_into_fields():
    answer = '[{"label": "cat", "sure": {"on": true}}]'
    parsed = parse_answer(answers_xml([("taskAnswers", answer)]))
    assert parsed.data == {"label": "cat", "sure": {"on": True}}


def test_task_answers_that_are_not_one_object_stay_as_text():
    parsed = parse_answer(answers_xml([("taskAnswers", "[1, NaN]")]))
    assert parsed.data == {"taskAnswers": ["[1, NaN]"]}


def test_hostile_or_broken_answers_are_reported_not_raised():
    bomb = (
        '<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        f'<QuestionFormAnswers xmlns="{ANSWERS_NS}">&b;</QuestionFormAnswers>'
    )
    external = (
        '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
        f'<QuestionFormAnswers xmlns="{ANSWERS_NS}">&e;</QuestionFormAnswers>'
    )
    for xml in [bomb, external, "not xml", "<Other/>", "x" * (MAX_ANSWER_BYTES + 1)]:
        parsed = parse_answer(xml)
        assert parsed.data == {} and parsed.error
