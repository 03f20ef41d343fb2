from __future__ import annotations

from decimal import Decimal

import pytest

from mturk.fees import commission, format_amount, hit_cost
from mturk.questions import (
    InvalidQuestion,
    answers_xml,
    cdata,
    html_question,
    parse_question,
)


@pytest.mark.parametrize(
    ("reward", "assignments", "fee"),
    [
        ("0.50", 1, "0.10"),
        ("0.50", 9, "0.10"),
        ("0.50", 10, "0.20"),
        ("0.01", 1, "0.01"),  # the minimum
        ("0.02", 20, "0.01"),
        ("0.07", 1, "0.01"),  # 0.014 rounds to a cent
        ("0.08", 1, "0.02"),  # 0.016 rounds up
        ("12.34", 1, "2.47"),
    ],
)
def test_commission(reward, assignments, fee):
    assert commission(Decimal(reward), assignments) == Decimal(fee)


def test_hit_cost_is_every_assignment_paid_with_its_fee():
    assert hit_cost(Decimal("0.25"), 3) == Decimal("0.90")
    assert hit_cost(Decimal("1.00"), 10) == Decimal("14.00")
    assert format_amount(Decimal("5")) == "5.00"


@pytest.mark.parametrize("html", ["plain", "a ]]> b", "]]>]]>", "<![CDATA[x]]>", "x]]"])
def test_html_question_round_trips_any_html(html):
    question = html_question(html, frame_height=450)
    parsed = parse_question(question)
    assert (parsed.kind, parsed.content, parsed.frame_height) == ("html", html, 450)


def test_cdata_never_contains_a_bare_terminator():
    assert cdata("a]]>b").count("]]>") == 2  # one split, one real end


@pytest.mark.parametrize(
    "xml",
    [
        "not xml",
        "<Other/>",
        '<!DOCTYPE x [<!ENTITY a "aaaa">]><HTMLQuestion/>',
        '<ExternalQuestion xmlns="http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/'
        '2006-07-14/ExternalQuestion.xsd"><ExternalURL>http://insecure.example</ExternalURL>'
        "<FrameHeight>0</FrameHeight></ExternalQuestion>",
    ],
)
def test_unacceptable_questions(xml):
    with pytest.raises(InvalidQuestion):
        parse_question(xml)


def test_external_question():
    xml = (
        '<ExternalQuestion xmlns="http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/'
        '2006-07-14/ExternalQuestion.xsd"><ExternalURL> https://tasks.example/q?a=1 </ExternalURL>'
        "<FrameHeight>600</FrameHeight></ExternalQuestion>"
    )
    assert parse_question(xml).content == "https://tasks.example/q?a=1"


def test_answers_xml_groups_repeated_names_and_escapes():
    xml = answers_xml([("choice", "a"), ("note", "<b>&"), ("choice", "c")])
    assert xml.count("<Answer>") == 2
    assert "<FreeText>a|c</FreeText>" in xml
    assert "<FreeText>&lt;b&gt;&amp;</FreeText>" in xml
    assert "QuestionFormAnswers.xsd" in xml
