"""Which fields of a template answer with several values (``app/templates.py``)."""

from __future__ import annotations

import time

from app.templates import (
    HITBLOCK_TYPES,
    default_template,
    item_multi_valued_fields,
    multi_valued_fields,
)


def test_a_checkbox_group_and_a_multi_select_are_multi_valued():
    template = """
    <form>
      <input type="hidden" name="assignmentId">
      <label><input type="checkbox" name="topics" value="shop"> Shop</label>
      <label><INPUT TYPE="Checkbox" NAME="topics" value="blog"> Blog</label>
      <label><input type="checkbox" name="sure"> Sure</label>
      <select name="sizes" multiple><option>S</option><option>L</option></select>
      <select name="size"><option>S</option><option>L</option></select>
      <input name="note"><textarea name="comment"></textarea>
    </form>
    """
    assert multi_valued_fields(template) == {"topics", "sizes"}


def test_radio_groups_and_submit_buttons_send_one_value():
    template = """
    <input type="radio" name="label" value="cat"><input type="radio" name="label" value="dog">
    <button name="action" value="save">Save</button>
    <input type="submit" name="action" value="skip">
    <button type="button" name="help"></button><button type="button" name="help"></button>
    <input type="reset" name="again"><input type="reset" name="again">
    """
    assert multi_valued_fields(template) == frozenset()


def test_any_two_controls_sending_the_same_name_are_multi_valued():
    template = '<input name="tag"><input name="tag"><input type="radio" name="x"><input name="x">'
    assert multi_valued_fields(template) == {"tag", "x"}


def test_markup_that_is_not_a_control_does_not_count():
    template = """
    <script>document.write('<input type="checkbox" name="fake"><input name="fake">');</script>
    <!-- <input type="checkbox" name="gone"><input type="checkbox" name="gone"> -->
    <crowd-input name="reason"></crowd-input><crowd-input name="reason"></crowd-input>
    """
    assert multi_valued_fields(template) == frozenset()
    assert multi_valued_fields("<p>not a form <input") == frozenset()


def test_the_built_in_templates_have_single_valued_fields():
    for hitblock_type in HITBLOCK_TYPES.values():
        if hitblock_type.body is not None:
            template = default_template(hitblock_type, ["spam", "ham"])
            assert multi_valued_fields(template) == frozenset()


def test_a_control_named_by_a_placeholder_is_read_from_the_rendered_page():
    """``name="${question}"`` on a checkbox group: the item's own name is multi-valued."""
    template = """<form>
      <input type="checkbox" name="${question}" value="red">
      <input type="checkbox" name="${question}" value="blue">
      <input name="note"></form>"""
    html = HITBLOCK_TYPES["html"]
    assert item_multi_valued_fields(html, template, {"question": "colors"}) == {"colors"}
    assert item_multi_valued_fields(html, "<input name='a'><input name='a'>", {}) == {"a"}


def test_hostile_markup_is_read_quickly_and_never_fails():
    """html.parser raised AssertionError on ``<![`` (every poll of such a hitblock failed) and
    took quadratic time on ``<a <a ...``; a regex for ``name="${...}"`` took seconds on many
    ``name=``: a template is now read in one linear pass (review revA)."""
    html = HITBLOCK_TYPES["html"]
    assert multi_valued_fields("<![ x <input name=a><input name=a>") == {"a"}
    for template in ("name=" * 13_000, "<a " * 21_000, "<!--" * 16_000, "<![" * 20_000):
        started = time.monotonic()
        assert item_multi_valued_fields(html, template + "<input name=b>", {}) == frozenset()
        assert time.monotonic() - started < 1.0, template[:6]
