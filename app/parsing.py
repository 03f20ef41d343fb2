"""Request bodies: JSON or form fields (``curl -d``), read into one dict for marshmallow."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import flask_smorest
from flask import Request
from marshmallow import RAISE, Schema
from webargs import core
from webargs.flaskparser import FlaskParser

from app.errors import ApiError, invalid

FORM_MIMETYPES = {"application/x-www-form-urlencoded", "multipart/form-data"}
_BRACKETS = re.compile(r"\[([^\[\]]*)\]")


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
    """The body as Python data: a JSON value, or form fields with Stripe's ``a[b]`` nesting."""
    if req.mimetype in FORM_MIMETYPES:
        return nest_form_fields(req.form.items(multi=True))
    raw = req.get_data(cache=True)
    if not raw.strip():
        return {}
    if core.is_json(req.mimetype) or not req.mimetype:
        return parse_json(raw)
    raise ApiError(
        400,
        f"Unsupported Content-Type {req.mimetype!r}: send application/json or form fields.",
        code="unsupported_content_type",
    )


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_json(raw: bytes) -> Any:
    """Strict JSON: NaN and Infinity are refused (no database could store them as JSON)."""
    try:
        return json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise invalid(f"Invalid JSON body: {exc}", code="invalid_json") from exc


def nest_form_fields(pairs: Any) -> dict[str, Any]:
    """Turn ``params[image_url]=x`` and ``labels[]=a`` form keys into nested data, as Stripe does.

    A key repeated without brackets becomes a list; a dict whose keys are all indexes
    (``a[0][b]``) becomes a list in index order.
    """
    root: dict[str, Any] = {}
    for key, value in pairs:
        head = key.split("[", 1)[0]
        parts = [head, *_BRACKETS.findall(key[len(head) :])]
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
