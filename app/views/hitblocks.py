"""``/v1/hitblocks``: the seed spells these paths singular and plural; both are served."""

from __future__ import annotations

from typing import Any

from flask import current_app, request
from flask.views import MethodView

from app.batch import read_batch_rows
from app.extensions import db
from app.gateway import mturk_gateway
from app.parsing import ApiBlueprint
from app.schemas import (
    HitblockCreateSchema,
    HitblockListSchema,
    HitblockPublicationSchema,
    HitblockSchema,
    HitblockUpdateSchema,
    ItemBatchSchema,
    ItemCreateSchema,
    ItemListSchema,
    ItemSchema,
    ListArgsSchema,
)
from app.services import hitblocks, items, lifecycle, publishing
from app.views import ID, account_id, as_list

blp = ApiBlueprint(
    "hitblocks", __name__, url_prefix="/v1", description="Hitblocks and the items in them."
)


@blp.routes("/hitblocks", "/hitblock", endpoint="hitblocks")
class Hitblocks(MethodView):
    @blp.arguments(ListArgsSchema, location="query")
    @blp.response(200, HitblockListSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """List hitblocks, newest first."""
        return as_list(hitblocks.list_hitblocks(db.session, account_id(), args))

    @blp.body(HitblockCreateSchema)
    @blp.response(200, HitblockSchema)
    def post(self, fields: dict[str, Any]) -> Any:
        """Create a hitblock (JSON or form fields)."""
        return hitblocks.create_hitblock(db.session, account_id(), fields)


@blp.routes(f"/hitblocks/<{ID}:hitblock_id>", f"/hitblock/<{ID}:hitblock_id>", endpoint="hitblock")
class HitblockById(MethodView):
    @blp.response(200, HitblockSchema)
    def get(self, hitblock_id: int) -> Any:
        """Retrieve a hitblock."""
        return hitblocks.get_hitblock(db.session, account_id(), hitblock_id)

    @blp.body(HitblockUpdateSchema)
    @blp.response(200, HitblockSchema)
    def post(self, changes: dict[str, Any], hitblock_id: int) -> Any:
        """Update a hitblock: only the fields sent change."""
        return hitblocks.update_hitblock(db.session, account_id(), hitblock_id, changes)

    @blp.body(HitblockUpdateSchema)
    @blp.response(200, HitblockSchema)
    def patch(self, changes: dict[str, Any], hitblock_id: int) -> Any:
        """Update a hitblock (same as POST)."""
        return hitblocks.update_hitblock(db.session, account_id(), hitblock_id, changes)


@blp.routes(
    f"/hitblocks/<{ID}:hitblock_id>/items", f"/hitblock/<{ID}:hitblock_id>/items", endpoint="items"
)
class HitblockItems(MethodView):
    @blp.arguments(ListArgsSchema, location="query")
    @blp.response(200, ItemListSchema)
    def get(self, args: dict[str, Any], hitblock_id: int) -> Any:
        """List a hitblock's items with their responses, newest first."""
        return as_list(items.list_items(db.session, account_id(), hitblock_id, args))

    @blp.body(ItemCreateSchema)
    @blp.response(200, ItemSchema)
    def post(self, fields: dict[str, Any], hitblock_id: int) -> Any:
        """Create an item: its fields at the top level (as ``curl -d``) or under ``params``."""
        return items.create_item(db.session, account_id(), hitblock_id, fields)


BATCH_BODY = {
    "required": True,
    "description": "A JSON array of items, or CSV whose header names the item fields "
    "(a text/csv body, or a multipart file field named `file`).",
    "content": {
        "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
        "text/csv": {"schema": {"type": "string"}},
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {"file": {"type": "string", "format": "binary"}},
            }
        },
    },
}


@blp.routes(
    f"/hitblocks/<{ID}:hitblock_id>/items/batch",
    f"/hitblock/<{ID}:hitblock_id>/items/batch",
    endpoint="items_batch",
)
class HitblockItemsBatch(MethodView):
    @blp.doc(requestBody=BATCH_BODY)
    @blp.response(200, ItemBatchSchema)
    def post(self, hitblock_id: int) -> Any:
        """Create many items at once, all or nothing; a bad row rejects the batch."""
        item_ids = items.create_items_batch(
            db.session,
            account_id(),
            hitblock_id,
            read_batch_rows(request),
            current_app.config["BATCH_MAX_ROWS"],
        )
        return {"hitblock": hitblock_id, "count": len(item_ids), "item_ids": item_ids}


@blp.routes(
    f"/hitblocks/<{ID}:hitblock_id>/post", f"/hitblock/<{ID}:hitblock_id>/post", endpoint="post"
)
class HitblockPost(MethodView):
    @blp.response(200, HitblockPublicationSchema)
    def post(self, hitblock_id: int) -> Any:
        """Publish every pending item as a HIT and set the hitblock in progress."""
        return publishing.post_hitblock(
            db.session,
            mturk_gateway(),
            account_id(),
            hitblock_id,
            current_app.config["MTURK_CONCURRENCY"],
            notify=current_app.config["MTURK_NOTIFICATION_QUEUE_URL"] or None,
        )


def _lifecycle_route(action: str, change: Any, summary: str) -> None:
    """``POST /v1/hitblocks/{id}/<action>`` (both spellings), answering the hitblock."""

    class HitblockLifecycle(MethodView):
        @blp.response(200, HitblockSchema)
        def post(self, hitblock_id: int) -> Any:
            return change(
                db.session,
                mturk_gateway(),
                account_id(),
                hitblock_id,
                current_app.config["MTURK_CONCURRENCY"],
            )

    HitblockLifecycle.__name__ = f"Hitblock{action.capitalize()}"
    HitblockLifecycle.post.__doc__ = summary
    blp.routes(
        f"/hitblocks/<{ID}:hitblock_id>/{action}",
        f"/hitblock/<{ID}:hitblock_id>/{action}",
        endpoint=action,
    )(HitblockLifecycle)


_lifecycle_route(
    "pause",
    lifecycle.pause_hitblock,
    "Pause an in-progress hitblock.\n\nIts open HITs expire: accepted work can still be "
    "submitted and is collected. Nothing is published until it resumes. A repeat expires "
    "whatever is still open.",
)
_lifecycle_route(
    "resume",
    lifecycle.resume_hitblock,
    "Resume a paused hitblock.\n\nEach open HIT gets back the lifetime it had left when paused.",
)
_lifecycle_route(
    "cancel",
    lifecycle.cancel_hitblock,
    "Cancel a hitblock for good.\n\nIts open HITs expire; submitted work is kept and "
    "collected; pending items are never published. A repeat expires whatever is still open.",
)
