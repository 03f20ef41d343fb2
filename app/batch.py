"""Batch bodies: a JSON array of items, or CSV whose header names the fields (MTurk's batches)."""

from __future__ import annotations

import csv
import io
from typing import Any

from flask import Request

from app.domain import BadRow
from app.errors import ApiError, invalid
from app.parsing import find_unstorable, might_be_unstorable, parse_json

CSV_MIMETYPES = {"text/csv", "application/csv"}

Row = tuple[dict[str, int], Any]


def read_batch_rows(req: Request) -> list[Row]:
    """Rows paired with where they stand: ``{"index": i}`` in JSON, ``{"line": n}`` in CSV."""
    if req.mimetype == "multipart/form-data":
        upload = req.files.get("file")
        if upload is None:
            raise invalid("Upload the CSV as a multipart file field named 'file'.", "file")
        return read_csv(upload.read())
    raw = req.get_data(cache=True)
    if req.mimetype in CSV_MIMETYPES:
        return read_csv(raw)
    if req.mimetype and req.mimetype != "application/json":
        raise invalid(
            f"Unsupported Content-Type {req.mimetype!r}: send a JSON array, text/csv, "
            "or a multipart CSV file.",
            code="unsupported_content_type",
        )
    data = parse_json(raw) if raw.strip() else None
    if not isinstance(data, list):
        raise invalid("A JSON batch must be an array of items.", code="batch_not_array")
    rows: list[Row] = [({"index": index}, row) for index, row in enumerate(data)]
    if might_be_unstorable(raw):
        refuse_unstorable(rows)
    return rows


def read_csv(raw: bytes) -> list[Row]:
    """Parse CSV; empty cells count as absent, so optional fields can be left blank."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise invalid("The CSV must be UTF-8 encoded.", "file") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise invalid("The CSV is empty: its first line must name the fields.", "file") from None
    except csv.Error as exc:
        raise invalid(f"The CSV cannot be read: {exc}.", "file") from None
    names = [name.strip() for name in header]
    if any(not name for name in names) or len(set(names)) != len(names):
        raise invalid("The CSV header must name each column once, with no blank names.", "file")
    rows: list[Row] = []
    try:
        for values in reader:
            if not any(value.strip() for value in values):
                continue
            where = {"line": reader.line_num}
            if len(values) != len(names):
                row: Any = BadRow(
                    f"This line has {len(values)} columns where the header has {len(names)}."
                )
            else:
                row = {name: value for name, value in zip(names, values, strict=True) if value}
            rows.append((where, row))
    except csv.Error as exc:
        raise invalid(f"The CSV cannot be read at line {reader.line_num}: {exc}.", "file") from None
    if "\x00" in text:
        refuse_unstorable(rows)
    return rows


def refuse_unstorable(rows: list[Row]) -> None:
    """Reject the batch if a cell holds what no database can store (U+0000, a lone
    surrogate), listing each such row as the batch's other errors are listed."""
    errors = []
    for where, row in rows:
        problem = find_unstorable(row)
        if problem is not None:
            param = problem.param
            message = f"{param or 'The row'} {problem.reason}"
            errors.append({**where, "param": param, "message": message})
    if errors:
        raise ApiError(
            400,
            f"{len(errors)} of {len(rows)} rows are invalid; no item was created.",
            code="batch_invalid",
            extra={"errors": errors},
        )
