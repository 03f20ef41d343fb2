"""Request bodies: JSON or form fields (``curl -d``), read into one dict for marshmallow."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import flask_smorest
from flask import Request
from marshmallow import RAISE, Schema, ValidationError
from webargs import core
from webargs.flaskparser import FlaskParser

from app.errors import ApiError, invalid

FORM_MIMETYPES = {"application/x-www-form-urlencoded", "multipart/form-data"}
_BRACKETS = re.compile(r"\[([^\[\]]*)\]")
# Deeper bodies are refused: no request needs them, and recursive code (json, marshmallow,
# the databases' JSON) could fail on them.
MAX_DEPTH = 64
# A JSON string can hold U+0000 or a lone surrogate only through these escapes.
_MAYBE_UNSTORABLE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")


class BodyParser(FlaskParser):
    """webargs parser with a ``body`` location that takes JSON or form bodies alike."""

    DEFAULT_VALIDATION_STATUS = 400
    DEFAULT_UNKNOWN_BY_LOCATION = {**FlaskParser.DEFAULT_UNKNOWN_BY_LOCATION, "query": RAISE}

    def __init__(self) -> None:
        super().__init__()
        self.location_loader("body")(self.load_body)

    def load_body(self, req: Request, schema: Schema) -> Any:
        return read_body(req)


def read_body(req: Request) -> Any:
    """The body as Python data: a JSON value, or form fields with Stripe's ``a[b]`` nesting.

    A string no database can store (U+0000, a lone surrogate), as a value or a name, is
    refused as a validation error naming its param, as a bad value would be.
    """
    if req.mimetype in FORM_MIMETYPES:
        pairs = list(req.form.items(multi=True))
        for key, value in pairs:
            for text in (key, value):
                if (reason := unstorable_reason(text)) is not None:
                    raise ValidationError({_printable(key): [reason]})
        return nest_form_fields(pairs)
    raw = req.get_data(cache=True)
    if not raw.strip():
        return {}
    if core.is_json(req.mimetype) or not req.mimetype:
        data = parse_json(raw)
        problem = find_unstorable(data) if might_be_unstorable(raw) else None
        if problem is not None:
            raise ValidationError(_nest_message(problem.path, problem.reason))
        return data
    raise ApiError(
        400,
        f"Unsupported Content-Type {req.mimetype!r}: send application/json or form fields.",
        code="unsupported_content_type",
    )


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:20]} is out of range")
    return value


def load_json(raw: bytes) -> Any:
    """Strict JSON, or ValueError saying why not: NaN, Infinity and numbers beyond a double
    (``1e400``) are refused, as no database could store them as JSON, and so is nesting
    deeper than ``MAX_DEPTH``. The one JSON reader for request bodies."""
    try:
        data = json.loads(raw, parse_constant=_reject_constant, parse_float=_finite_float)
    except RecursionError:  # json's decoder recurses once per level; Python stops it cleanly
        raise ValueError(f"nested deeper than {MAX_DEPTH} levels") from None
    if raw.count(b"[") + raw.count(b"{") > MAX_DEPTH and _deeper_than(data, MAX_DEPTH):
        raise ValueError(f"nested deeper than {MAX_DEPTH} levels")
    return data


def parse_json(raw: bytes) -> Any:
    """``load_json``, answering 400 ``invalid_json`` for a body it refuses."""
    try:
        return load_json(raw)
    except ValueError as exc:  # UnicodeDecodeError included
        raise invalid(f"Invalid JSON body: {exc}", code="invalid_json") from None


def _deeper_than(data: Any, limit: int) -> bool:
    """Whether objects and arrays nest deeper than ``limit``: level by level, not recursing
    (a few milliseconds for a batch of 10,000 rows)."""
    level = [data] if isinstance(data, dict | list) else []
    depth = 1
    while level:
        if depth > limit:
            return True
        deeper = []
        for node in level:
            for child in node.values() if isinstance(node, dict) else node:
                if isinstance(child, dict | list):
                    deeper.append(child)
        level, depth = deeper, depth + 1
    return False


@dataclass(frozen=True)
class Unstorable:
    """Where a string that cannot be stored sits (keys of objects, indexes of arrays)."""

    path: tuple[str | int, ...]
    reason: str

    @property
    def param(self) -> str | None:
        """The path as Stripe names params: ``params[note]``, ``a[0][b]``."""
        if not self.path:
            return None
        head, *rest = (_printable(str(part)) for part in self.path)
        return head + "".join(f"[{part}]" for part in rest)


def unstorable_reason(text: str) -> str | None:
    """Why ``text`` cannot be stored (PostgreSQL refuses U+0000 and lone surrogates), if so."""
    if "\x00" in text:
        return "must not contain the NUL character (U+0000)."
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return "must not contain a lone surrogate (U+D800 to U+DFFF)."
    return None


def might_be_unstorable(raw: bytes) -> bool:
    """A quick look at a JSON body: False when no string in it can hold U+0000 or a surrogate."""
    return _MAYBE_UNSTORABLE.search(raw) is not None


def find_unstorable(data: Any) -> Unstorable | None:
    """The first string, value or key, in ``data`` that cannot be stored."""
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(data, ())]
    while stack:
        node, path = stack.pop()
        if isinstance(node, str):
            if (reason := unstorable_reason(node)) is not None:
                return Unstorable(path, reason)
        elif isinstance(node, dict):
            for key in node:
                if (reason := unstorable_reason(key)) is not None:
                    return Unstorable((*path, key), reason)
            stack.extend(reversed([(value, (*path, key)) for key, value in node.items()]))
        elif isinstance(node, list):
            stack.extend(reversed([(value, (*path, index)) for index, value in enumerate(node)]))
    return None


def _printable(name: str) -> str:
    """A param name fit for an error message: U+0000 and surrogates written as escapes."""
    return name.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\u0000")


def _nest_message(path: tuple[str | int, ...], reason: str) -> Any:
    """A marshmallow-style message at ``path``, so the error names the param Stripe's way."""
    if not path:
        return {"_schema": [f"The body {reason}"]}
    message: Any = [reason]
    for part in reversed(path):
        message = {_printable(str(part)): message}
    return message


def nest_form_fields(pairs: Any) -> dict[str, Any]:
    """Turn ``params[image_url]=x`` and ``labels[]=a`` form keys into nested data, as Stripe does.

    A key repeated without brackets becomes a list; a dict whose keys are all indexes
    (``a[0][b]``) becomes a list in index order.
    """
    root: dict[str, Any] = {}
    for key, value in pairs:
        head = key.split("[", 1)[0]
        parts = [head, *_BRACKETS.findall(key[len(head) :])]
        if len(parts) > MAX_DEPTH:
            raise invalid(f"Form field {head!r} is nested deeper than {MAX_DEPTH} levels.", head)
        node = root
        for part, next_part in zip(parts, parts[1:], strict=False):
            node = node.setdefault(part, [] if next_part == "" else {})
            if not isinstance(node, dict):
                break
        last = parts[-1]
        if not isinstance(node, dict | list) or (isinstance(node, list) and last != ""):
            raise invalid(f"Form field {key!r} conflicts with another field.", param=head)
        if isinstance(node, list):
            node.append(value)
        elif last in node:
            previous = node[last]
            node[last] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            node[last] = value
    return _index_dicts_to_lists(root)


def _index_dicts_to_lists(node: Any) -> Any:
    if isinstance(node, dict):
        converted = {key: _index_dicts_to_lists(value) for key, value in node.items()}
        if converted and all(key.isdigit() for key in converted):
            return [converted[key] for key in sorted(converted, key=int)]
        return converted
    if isinstance(node, list):
        return [_index_dicts_to_lists(value) for value in node]
    return node


class ApiBlueprint(flask_smorest.Blueprint):
    """Blueprint whose arguments read JSON-or-form bodies and answer 400 on bad input."""

    ARGUMENTS_PARSER = BodyParser()
    DEFAULT_LOCATION_CONTENT_TYPE_MAPPING = {
        **flask_smorest.Blueprint.DEFAULT_LOCATION_CONTENT_TYPE_MAPPING,
        "body": "application/json",
    }

    def body(self, schema: type[Schema]) -> Callable[[Any], Any]:
        """Read the body with ``schema``, documenting both JSON and form-encoded bodies."""
        name = schema.__name__.removesuffix("Schema")
        form = {"schema": {"$ref": f"#/components/schemas/{name}"}}

        def decorator(view: Any) -> Any:
            view = self.arguments(schema, location="body")(view)
            return self.doc(requestBody={"content": {"application/x-www-form-urlencoded": form}})(
                view
            )

        return decorator

    def routes(self, *rules: str, endpoint: str) -> Callable[[Any], Any]:
        """Serve one view under several paths (the seed spells some paths two ways)."""

        def decorator(view: Any) -> Any:
            for index, rule in enumerate(rules):
                self.route(rule, endpoint=f"{endpoint}_{index}")(view)
            return view

        return decorator
