"""Responses: read them, review them (approve, reject, one by one or in bulk), pay bonuses."""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask.views import MethodView

from app.extensions import db
from app.gateway import mturk_gateway
from app.parsing import ApiBlueprint
from app.schemas import (
    ApproveSchema,
    BonusCreateSchema,
    BonusSchema,
    RejectSchema,
    ResponseListArgsSchema,
    ResponseListSchema,
    ResponseSchema,
    ReviewResultSchema,
)
from app.services import responses
from app.services.responses import Decision
from app.views import ID, account_id, as_list

blp = ApiBlueprint(
    "responses", __name__, url_prefix="/v1", description="Workers' responses and their review."
)


def _concurrency() -> int:
    return int(current_app.config["MTURK_CONCURRENCY"])


@blp.routes(
    f"/hitblocks/<{ID}:hitblock_id>/responses",
    f"/hitblock/<{ID}:hitblock_id>/responses",
    endpoint="hitblock_responses",
)
class HitblockResponses(MethodView):
    @blp.arguments(ResponseListArgsSchema, location="query")
    @blp.response(200, ResponseListSchema)
    def get(self, args: dict[str, Any], hitblock_id: int) -> Any:
        """List a hitblock's responses, newest first; ``status=submitted`` for reviewers."""
        return as_list(responses.list_responses(db.session, account_id(), hitblock_id, args))


@blp.routes(f"/responses/<{ID}:response_id>", f"/response/<{ID}:response_id>", endpoint="one")
class ResponseById(MethodView):
    @blp.response(200, ResponseSchema)
    def get(self, response_id: int) -> Any:
        """Retrieve a response."""
        return responses.find_response(db.session, account_id(), response_id)


@blp.routes(
    f"/responses/<{ID}:response_id>/approve",
    f"/response/<{ID}:response_id>/approve",
    endpoint="approve",
)
class Approve(MethodView):
    @blp.body(ApproveSchema)
    @blp.response(200, ResponseSchema)
    def post(self, fields: dict[str, Any], response_id: int) -> Any:
        """Approve on MTurk (paying the worker), then record it; repeating is harmless."""
        decision = Decision("approved", fields.get("feedback"))
        return responses.review(db.session, mturk_gateway(), account_id(), response_id, decision)


@blp.routes(
    f"/responses/<{ID}:response_id>/reject",
    f"/response/<{ID}:response_id>/reject",
    endpoint="reject",
)
class Reject(MethodView):
    @blp.body(RejectSchema)
    @blp.response(200, ResponseSchema)
    def post(self, fields: dict[str, Any], response_id: int) -> Any:
        """Reject on MTurk with feedback for the worker, then record it."""
        decision = Decision("rejected", fields["feedback"])
        return responses.review(db.session, mturk_gateway(), account_id(), response_id, decision)


@blp.routes(
    f"/responses/<{ID}:response_id>/bonus",
    f"/response/<{ID}:response_id>/bonus",
    endpoint="bonus",
)
class PayBonus(MethodView):
    @blp.body(BonusCreateSchema)
    @blp.response(200, BonusSchema)
    def post(self, fields: dict[str, Any], response_id: int) -> Any:
        """Pay the response's worker a bonus (SendBonus, once per bonus)."""
        return responses.pay_bonus(
            db.session,
            mturk_gateway(),
            account_id(),
            response_id,
            fields["amount"],
            fields["reason"],
        )


def _bulk(decision_status: str, schema: type, scope: str) -> type:
    """The bulk review views: every submitted response of an item or a hitblock."""

    class BulkReview(MethodView):
        @blp.body(schema)
        @blp.response(200, ReviewResultSchema)
        def post(self, fields: dict[str, Any], **ids: int) -> Any:
            decision = Decision(decision_status, fields.get("feedback"))
            return responses.review_all(
                db.session,
                mturk_gateway(),
                account_id(),
                decision,
                concurrency=_concurrency(),
                **ids,
            )

    BulkReview.post.__doc__ = (
        f"{'Approve' if decision_status == 'approved' else 'Reject'} every submitted response "
        f"of the {scope} on MTurk, reporting each outcome."
    )
    return BulkReview


for _status, _verb, _schema in (
    ("approved", "approve", ApproveSchema),
    ("rejected", "reject", RejectSchema),
):
    blp.routes(
        f"/hitblocks/<{ID}:hitblock_id>/responses/{_verb}",
        f"/hitblock/<{ID}:hitblock_id>/responses/{_verb}",
        endpoint=f"hitblock_{_verb}",
    )(_bulk(_status, _schema, "hitblock"))
    blp.routes(
        f"/item/<{ID}:item_id>/responses/{_verb}",
        f"/items/<{ID}:item_id>/responses/{_verb}",
        endpoint=f"item_{_verb}",
    )(_bulk(_status, _schema, "item"))
