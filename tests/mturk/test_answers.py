from __future__ import annotations

import json

from mturk.answers import MAX_ANSWER_BYTES, NUL_REMOVED, SURROGATES_REPLACED, parse_answer
from mturk.questions import ANSWERS_NS, answers_xml


def qfa(body: str) -> str:
    return f'<QuestionFormAnswers xmlns="{ANSWERS_NS}">{body}</QuestionFormAnswers>'


def crowd(fields: object) -> str:
    """A crowd-form answer as MTurk records it: taskAnswers, a JSON array of one object."""
    return answers_xml([("taskAnswers", json.dumps([fields]))])


def test_one_value_is_a_string_several_selections_a_list():
    xml = qfa(
        "<Answer><QuestionIdentifier>total</QuestionIdentifier><FreeText>12.00</FreeText></Answer>"
        "<Answer><QuestionIdentifier>colour</QuestionIdentifier>"
        "<SelectionIdentifier>red</SelectionIdentifier>"
        "<SelectionIdentifier>blue</SelectionIdentifier></Answer>"
        "<Answer><QuestionIdentifier>size</QuestionIdentifier>"
        "<SelectionIdentifier>L</SelectionIdentifier></Answer>"
        "<Answer><QuestionIdentifier>none</QuestionIdentifier></Answer>"
    )
    parsed = parse_answer(xml)
    assert parsed.error is None
    assert parsed.data == {"total": "12.00", "colour": ["red", "blue"], "size": "L", "none": []}


def test_a_multi_select_answers_a_list_even_of_one_selection():
    xml = qfa(
        "<Answer><QuestionIdentifier>size</QuestionIdentifier>"
        "<SelectionIdentifier>L</SelectionIdentifier></Answer>"
    )
    assert parse_answer(xml, multi_valued={"size"}).data == {"size": ["L"]}


def test_plain_form_fields_are_strings_and_keep_their_text():
    parsed = parse_answer(answers_xml([("a", "1"), ("b", "<x> & y"), ("note", "a|b"), ("e", "")]))
    assert parsed.error is None
    assert parsed.data == {"a": "1", "b": "<x> & y", "note": "a|b", "e": ""}


def test_a_checkbox_group_answers_a_list_however_many_are_checked():
    """externalSubmit joins a repeated name with "|" into one FreeText, as MTurk does; the
    template says which names are groups, so only those are split."""
    group = {"topics"}
    two = answers_xml([("topics", "shop"), ("topics", "blog"), ("note", "a|b")])
    assert parse_answer(two, group).data == {"topics": ["shop", "blog"], "note": "a|b"}
    one = answers_xml([("topics", "shop"), ("note", "x")])
    assert parse_answer(one, group).data == {"topics": ["shop"], "note": "x"}
    none = answers_xml([("note", "x")])  # an unchecked group sends nothing at all
    assert parse_answer(none, group).data == {"topics": [], "note": "x"}


def test_crowd_form_answers_keep_their_types():
    fields = {
        "label": "cat",
        "count": 3,
        "ratio": 0.5,
        "sure": {"on": True},
        "skip": False,
        "box": {"left": 10, "labels": ["a", "b"]},
        "topics": ["shop", "blog"],
        "none": [],
    }
    parsed = parse_answer(crowd(fields), multi_valued={"topics", "none"})
    assert parsed.error is None
    assert parsed.data == fields


def test_task_answers_that_are_not_one_object_stay_as_text():
    parsed = parse_answer(answers_xml([("taskAnswers", "[1, NaN]")]))
    assert parsed.data == {"taskAnswers": "[1, NaN]"}
    deep = "[" * 100_000 + "]" * 100_000  # deeper than the JSON decoder goes
    parsed = parse_answer(answers_xml([("taskAnswers", deep)]))
    assert parsed.data == {"taskAnswers": deep} and parsed.error is None


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
        parsed = parse_answer(xml, multi_valued={"topics"})
        assert parsed.data == {} and parsed.error


def test_answers_xml_puts_u_fffd_where_xml_cannot_hold_a_character():
    """A NUL a worker's page posted (or a lone surrogate) cannot be put in XML, nor stored on
    PostgreSQL: the answer is kept with U+FFFD in its place."""
    xml = answers_xml([("note", "Bo\x00b\x07"), ("topics", "sh\ud800op")])
    assert "\x00" not in xml and "\x07" not in xml
    parsed = parse_answer(xml, multi_valued={"topics"})
    assert parsed.data == {"note": "Bo\ufffdb\ufffd", "topics": ["sh\ufffdop"]}
    assert parsed.error is None


def test_raw_nul_in_the_xml_is_removed_and_flagged():
    """Another MTurk-compatible service may send a NUL as is; PostgreSQL text cannot hold it."""
    answer = "<Answer><QuestionIdentifier>{}</QuestionIdentifier><FreeText>{}</FreeText></Answer>"
    xml = (
        f'<QuestionFormAnswers xmlns="{ANSWERS_NS}">'
        + answer.format("name\x00", "Bo\x00b")
        + answer.format("topics", "sh\x00op|blog")
        + "</QuestionFormAnswers>"
    )
    parsed = parse_answer(xml, multi_valued={"topics"})
    assert parsed.data == {"name": "Bob", "topics": ["shop", "blog"]}
    assert parsed.error == NUL_REMOVED


def test_escaped_nul_in_crowd_form_json_is_removed_at_any_depth_keys_too():
    fields = {
        "la\u0000bel": "c\u0000at",
        "box": {"tags": ["a\u0000", {"k\u0000": ["\u0000deep"]}], "n": 1},
        "ok": True,
    }
    xml = crowd(fields)
    assert "\x00" not in xml and "\\u0000" in xml
    parsed = parse_answer(xml)
    assert parsed.data == {
        "label": "cat",
        "box": {"tags": ["a", {"k": ["deep"]}], "n": 1},
        "ok": True,
    }
    assert parsed.error == NUL_REMOVED
    assert "\x00" not in json.dumps(parsed.data, ensure_ascii=False)


def test_nul_flag_keeps_the_other_error():
    parsed = parse_answer("not\x00 xml")
    assert parsed.data == {}
    assert parsed.error is not None
    assert parsed.error.startswith(NUL_REMOVED + "; unreadable answer XML")
    assert "\x00" not in parsed.error


def test_clean_answers_carry_no_error():
    assert parse_answer(crowd({"a": "b"})).error is None
    assert parse_answer(answers_xml([("a", "b")])).error is None


def test_lone_surrogates_in_crowd_form_json_are_replaced_and_flagged():
    """json turns ``\\ud800`` into a lone surrogate, which PostgreSQL refuses."""
    xml = crowd({"note": "12\ud800", "k\udfff": ["x\ud800"], "nul": "a\u0000b"})
    parsed = parse_answer(xml)
    assert parsed.data == {"note": "12\ufffd", "k\ufffd": ["x\ufffd"], "nul": "ab"}
    assert parsed.error == f"{NUL_REMOVED}; {SURROGATES_REPLACED}"
    json.dumps(parsed.data, ensure_ascii=False).encode()  # storable: encodes as UTF-8
