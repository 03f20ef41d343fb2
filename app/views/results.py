"""``/v1/hitblocks/{id}/results``: the responses in MTurk's batch results CSV (or JSON Lines),
streamed; and that CSV posted back with Approve / Reject filled in to review in bulk."""

from __future__ import annotations

import io
from typing import IO, Any

from flask import Request, Response, current_app, request, stream_with_context
from flask.views import MethodView

from app.batch import CSV_MIMETYPES
from app.errors import invalid
from app.extensions import db
from app.gateway import mturk_gateway
from app.parsing import ApiBlueprint
from app.schemas import ResultsArgsSchema, ResultsUploadSchema
from app.services import results
from app.views import ID, account_id

blp = ApiBlueprint(
    "results",
    __name__,
    url_prefix="/v1",
    description="A hitblock's results in MTurk's batch results format, and review by upload.",
)

CSV = "text/csv"
NDJSON = "application/x-ndjson"

EXPORT_RESPONSE = {
    "description": "One row (CSV) or line (JSON Lines) per response, streamed. CSV: MTurk's "
    "batch results columns (HITId ... Last7DaysApprovalRate), then Input.<field>, "
    "Answer.<field>, Approve, Reject; times in US Pacific time as MTurk wrote them. JSON "
    "Lines: objects `result` with the item's input and the answer as stored.",
    "headers": {
        "Content-Disposition": {
            "description": 'attachment; filename="hitblock-<id>-results.csv" (or .jsonl)',
            "schema": {"type": "string"},
        }
    },
    "content": {
        CSV: {"schema": {"type": "string"}},
        NDJSON: {"schema": {"type": "string"}},
    },
}

UPLOAD_BODY = {
    "required": True,
    "description": "The results CSV (a text/csv body, or a multipart file field named `file`) "
    'with a filled Approve cell (any text, "x") to approve a row, or a Reject cell (the '
    "feedback shown to the worker) to reject it. Only AssignmentId, Approve and Reject are "
    "read; other columns may be left out.",
    "content": {
        CSV: {"schema": {"type": "string"}},
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {"file": {"type": "string", "format": "binary"}},
            }
        },
    },
}


def export_format(args: dict[str, Any], req: Request) -> str:
    """``?format=`` when given; else JSON Lines if the Accept header prefers it; else CSV."""
    if args.get("format"):
        return str(args["format"])
    return "jsonl" if req.accept_mimetypes.best_match([CSV, NDJSON]) == NDJSON else "csv"


def upload_text(req: Request) -> IO[str]:
    """The uploaded CSV as text, decoded as it is read (a byte-order mark is dropped)."""
    if req.mimetype == "multipart/form-data":
        upload = req.files.get("file")
        if upload is None:
            raise invalid("Upload the CSV as a multipart file field named 'file'.", "file")
        raw: IO[bytes] = upload.stream
    elif req.mimetype in CSV_MIMETYPES:
        raw = io.BytesIO(req.get_data(cache=True))
    else:
        raise invalid(
            f"Unsupported Content-Type {req.mimetype!r}: send text/csv, or a multipart CSV file.",
            code="unsupported_content_type",
        )
    return io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")


@blp.routes(
    f"/hitblocks/<{ID}:hitblock_id>/results",
    f"/hitblock/<{ID}:hitblock_id>/results",
    endpoint="results",
)
class Results(MethodView):
    # What GET may answer besides JSON, for content negotiation (``Accept``).
    media_types = (CSV, NDJSON)

    @blp.arguments(ResultsArgsSchema, location="query")
    @blp.doc(responses={"200": EXPORT_RESPONSE})
    def get(self, args: dict[str, Any], hitblock_id: int) -> Any:
        """Download the results: MTurk's batch results CSV, or JSON Lines."""
        if export_format(args, request) == "jsonl":
            chunks = results.export_jsonl(db.session, account_id(), hitblock_id)
            mimetype, extension = NDJSON, "jsonl"
        else:
            chunks = results.export_csv(
                db.session, account_id(), hitblock_id, escape_formulas=args["escape_formulas"]
            )
            mimetype, extension = CSV, "csv"
        response = Response(stream_with_context(chunks), mimetype=mimetype)
        response.headers["Content-Disposition"] = (
            f'attachment; filename="hitblock-{hitblock_id}-results.{extension}"'
        )
        return response

    @blp.doc(requestBody=UPLOAD_BODY)
    @blp.response(200, ResultsUploadSchema)
    def post(self, hitblock_id: int) -> Any:
        """Review by upload: approve and reject the rows so marked, each on MTurk first."""
        return results.review_from_csv(
            db.session,
            mturk_gateway(),
            account_id(),
            hitblock_id,
            upload_text(request),
            int(current_app.config["MTURK_CONCURRENCY"]),
            max_decisions=int(current_app.config["BATCH_MAX_ROWS"]),
        )
