"""``/v1/webhook_endpoints`` and ``/v1/webhook_deliveries``."""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask.views import MethodView

from app.extensions import db
from app.parsing import ApiBlueprint
from app.schemas import (
    DeletedSchema,
    DeliveryDetailSchema,
    DeliveryListArgsSchema,
    DeliveryListSchema,
    ListArgsSchema,
    WebhookEndpointCreateSchema,
    WebhookEndpointListSchema,
    WebhookEndpointSchema,
    WebhookEndpointUpdateSchema,
)
from app.services import deliveries
from app.views import ID, account_id, as_list

blp = ApiBlueprint("webhooks", __name__, url_prefix="/v1", description="Webhooks.")


def _allow_private() -> bool:
    return bool(current_app.config["CALLBACKS_ALLOW_PRIVATE"])


@blp.routes("/webhook_endpoints", endpoint="endpoints")
class Endpoints(MethodView):
    @blp.arguments(ListArgsSchema, location="query")
    @blp.response(200, WebhookEndpointListSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """List webhook endpoints."""
        return as_list(deliveries.list_endpoints(db.session, account_id(), args))

    @blp.body(WebhookEndpointCreateSchema)
    @blp.response(200, WebhookEndpointSchema)
    def post(self, fields: dict[str, Any]) -> Any:
        """Create an endpoint; its signing ``secret`` is in this answer only."""
        return deliveries.create_endpoint(db.session, account_id(), fields, _allow_private())


@blp.routes(f"/webhook_endpoints/<{ID}:endpoint_id>", endpoint="endpoint")
class EndpointById(MethodView):
    @blp.response(200, WebhookEndpointSchema)
    def get(self, endpoint_id: int) -> Any:
        """Retrieve an endpoint."""
        return deliveries.find_endpoint(db.session, account_id(), endpoint_id)

    @blp.body(WebhookEndpointUpdateSchema)
    @blp.response(200, WebhookEndpointSchema)
    def post(self, changes: dict[str, Any], endpoint_id: int) -> Any:
        """Update an endpoint's url, enabled_events, or disabled."""
        return deliveries.update_endpoint(
            db.session, account_id(), endpoint_id, changes, _allow_private()
        )

    @blp.response(200, DeletedSchema)
    def delete(self, endpoint_id: int) -> Any:
        """Delete an endpoint."""
        return deliveries.delete_endpoint(db.session, account_id(), endpoint_id)


@blp.routes("/webhook_deliveries", endpoint="deliveries")
class Deliveries(MethodView):
    @blp.arguments(DeliveryListArgsSchema, location="query")
    @blp.response(200, DeliveryListSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """List deliveries (of an ``endpoint`` or an ``event``), newest first."""
        return as_list(deliveries.list_deliveries(db.session, account_id(), args))


def _with_attempts(delivery: Any) -> Any:
    delivery.attempt_log = deliveries.attempts_of(db.session, delivery.id)
    return delivery


@blp.routes(f"/webhook_deliveries/<{ID}:delivery_id>", endpoint="delivery")
class DeliveryById(MethodView):
    @blp.response(200, DeliveryDetailSchema)
    def get(self, delivery_id: int) -> Any:
        """Retrieve a delivery with every attempt (status, latency, error)."""
        return _with_attempts(deliveries.find_delivery(db.session, account_id(), delivery_id))


@blp.routes(f"/webhook_deliveries/<{ID}:delivery_id>/retry", endpoint="retry")
class Retry(MethodView):
    @blp.response(200, DeliveryDetailSchema)
    def post(self, delivery_id: int) -> Any:
        """Send the delivery again at the next run."""
        return _with_attempts(deliveries.retry_delivery(db.session, account_id(), delivery_id))
