"""``/v1/item/{id}``: the seed spells these paths singular; the plural is served too."""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask.views import MethodView

from app.extensions import db
from app.gateway import mturk_gateway
from app.parsing import ApiBlueprint
from app.schemas import DeletedSchema, HITSchema, ItemSchema
from app.services import items, publishing, removal
from app.views import ID, account_id

blp = ApiBlueprint("items", __name__, url_prefix="/v1", description="Items and their responses.")


@blp.routes(f"/item/<{ID}:item_id>", f"/items/<{ID}:item_id>", endpoint="item")
class ItemById(MethodView):
    @blp.response(200, ItemSchema)
    def get(self, item_id: int) -> Any:
        """Retrieve an item with its responses."""
        return items.get_item(db.session, account_id(), item_id)

    @blp.response(200, DeletedSchema)
    def delete(self, item_id: int) -> Any:
        """Delete an item (a published one's HIT is expired); it answers 404 afterwards."""
        return removal.delete_item(db.session, mturk_gateway(), account_id(), item_id)


@blp.routes(f"/item/<{ID}:item_id>/post", f"/items/<{ID}:item_id>/post", endpoint="item_post")
class ItemPost(MethodView):
    @blp.response(200, HITSchema)
    def post(self, item_id: int) -> Any:
        """Publish the item to MTurk as a HIT (posting it again answers the same HIT)."""
        return publishing.post_item(
            db.session,
            mturk_gateway(),
            account_id(),
            item_id,
            notify=current_app.config["MTURK_NOTIFICATION_QUEUE_URL"] or None,
        )
