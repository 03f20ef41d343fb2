"""Which of MTurk's crowd HTML elements the marketplace's stand-in script provides.

Task pages load MTurk's ``crowd-html-elements.js``; with no Amazon to serve it, the task
content origin serves a stand-in (``mturk/service/static/crowd-html-elements.js``) that knows
the elements listed here and no others. An element it does not know would render as plain
text and submit nothing, so a page that loads the script and uses one is refused when it is
published (CreateHIT here, a hitblock's template in Hitblocks), naming the element.

One list for both: Hitblocks (``app/``) and the service import it, and a test checks that the
script defines exactly these.
"""

from __future__ import annotations

from functools import lru_cache
from urllib.parse import urlsplit

from mturk.html_tags import start_tags

KNOWN_ELEMENTS: frozenset[str] = frozenset(
    {
        "crowd-form",
        "crowd-input",
        "crowd-text-area",
        "crowd-button",
        "crowd-checkbox",
        "crowd-radio-group",
        "crowd-radio-button",
        "crowd-classifier",
        "crowd-classifier-multi-select",
        "crowd-image-classifier",
        "crowd-instructions",
        "crowd-alert",
    }
)
SCRIPT_NAME = "crowd-html-elements.js"
PREFIX = "crowd-"


@lru_cache(maxsize=256)
def _read(html: str) -> tuple[tuple[str, ...], bool]:
    """The page's ``crowd-*`` tags, in order of first use, and whether it loads the script.
    Markup inside scripts and comments is not a tag and does not count (``html_tags``: one
    linear pass that no page can make fail)."""
    tags: dict[str, None] = {}
    loads_script = False
    for tag, attributes in start_tags(html):
        if tag.startswith(PREFIX):
            tags.setdefault(tag)
        elif tag == "script" and not loads_script:
            try:
                path = urlsplit((attributes.get("src") or "").strip()).path
            except ValueError:  # not a URL at all: it loads nothing
                continue
            loads_script = path.rsplit("/", 1)[-1].lower() == SCRIPT_NAME
    return tuple(tags), loads_script


def crowd_elements(html: str) -> list[str]:
    """Every ``crowd-*`` element the page uses (lower case, each once, in order of use)."""
    return list(_read(html)[0])


def unknown_elements(html: str) -> list[str]:
    """The ``crowd-*`` elements the page uses that the stand-in does not provide."""
    return [tag for tag in _read(html)[0] if tag not in KNOWN_ELEMENTS]


def loads_crowd_elements(html: str) -> bool:
    """Whether the page loads ``crowd-html-elements.js`` (Amazon's copy or any other)."""
    return _read(html)[1]


def refused_elements(html: str) -> list[str]:
    """What publishing refuses: unknown ``crowd-*`` elements of a page that loads the script.
    A page that does not load it may define elements of its own under that prefix."""
    return unknown_elements(html) if loads_crowd_elements(html) else []


def refusal_message(elements: list[str], where: str) -> str:
    """Why a page is refused, naming its unknown elements and the ones there are."""
    named = ", ".join(f"<{tag}>" for tag in elements)
    known = ", ".join(sorted(KNOWN_ELEMENTS))
    noun = "element" if len(elements) == 1 else "elements"
    return (
        f"{where} uses the crowd HTML {noun} {named}, which this marketplace's "
        f"crowd-html-elements.js does not provide. Supported: {known}."
    )
