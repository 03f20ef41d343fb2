"""The start tags of an HTML page, found in one pass: time linear in the page's length, and
never an exception, whatever the page holds.

Task pages and templates are untrusted input. Python's ``html.parser`` takes quadratic time on
some malformed markup (``"<a " * 20000`` takes tens of seconds) and raises ``AssertionError``
on others (``<![`` followed by no name), so pages are read here instead. Like a browser's
tokenizer, this skips comments and the text of raw-text elements (``<script>``, ``<style>``,
``<textarea>``...), lower-cases tag and attribute names, keeps an attribute's first value and
decodes character references in values.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from html import unescape

# "<" and a letter opens a start tag; "<!--" a comment. Anything else is text here.
_OPEN = re.compile(r"<(?:(!--)|([a-zA-Z][^\s/>]*))")
# One attribute (its name may not start with whitespace, "/" or ">"), after any separators.
# Every part is possessive in effect: nothing can match in more than one way.
_ATTRIBUTE = re.compile(r"""[\s/]*(?:([^\s/>][^\s/>=]*)(?:\s*=\s*("[^"]*"?|'[^']*'?|[^\s>]*))?)?""")
# Elements whose content is text, not markup, up to their own end tag.
RAW_TEXT = frozenset(
    {"script", "style", "textarea", "title", "xmp", "iframe", "noembed", "noframes", "noscript"}
)
_END = {name: re.compile(rf"</{name}(?=[\s/>]|\Z)", re.IGNORECASE) for name in RAW_TEXT}


def start_tags(html: str) -> Iterator[tuple[str, dict[str, str | None]]]:
    """Each start tag's name and attributes (a value-less attribute's is None), in order."""
    position = 0
    while (found := _OPEN.search(html, position)) is not None:
        position = found.end()
        if found.group(1):  # a comment: up to "-->" ("<!-->" and "<!--->" are empty ones)
            if html.startswith(">", position) or html.startswith("->", position):
                position = html.index(">", position) + 1
                continue
            end = html.find("-->", position)
            if end < 0:
                return
            position = end + 3
            continue
        name = found.group(2).lower()
        attributes: dict[str, str | None] = {}
        while True:
            attribute = _ATTRIBUTE.match(html, position)
            assert attribute is not None  # every part of the pattern is optional
            position = attribute.end()
            if attribute.group(1) is None:  # at ">", or the page ended inside the tag
                if position >= len(html):
                    return  # a browser drops a tag the page ends in
                position += 1
                break
            value = attribute.group(2)
            if value is not None and value[:1] in ("'", '"'):
                value = value[1:-1] if len(value) > 1 and value[-1] == value[0] else value[1:]
            key = attribute.group(1).lower()
            if key not in attributes:
                attributes[key] = unescape(value) if value is not None else None
        yield name, attributes
        if name in RAW_TEXT:
            end_tag = _END[name].search(html, position)
            if end_tag is None:
                return
            position = end_tag.start()
