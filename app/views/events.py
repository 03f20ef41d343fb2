"""``/v1/events``: what happened, newest first, as Stripe lists its events."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from app.extensions import db
from app.parsing import ApiBlueprint
from app.schemas import EventListArgsSchema, EventListSchema, EventSchema
from app.services import events
from app.views import ID, account_id, as_list

blp = ApiBlueprint("events", __name__, url_prefix="/v1", description="Events.")


@blp.routes("/events", endpoint="events")
class Events(MethodView):
    @blp.arguments(EventListArgsSchema, location="query")
    @blp.response(200, EventListSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """List events, newest first; ``type`` filters by event type."""
        return as_list(events.list_events(db.session, account_id(), args))


@blp.routes(f"/events/<{ID}:event_id>", endpoint="event")
class EventById(MethodView):
    @blp.response(200, EventSchema)
    def get(self, event_id: int) -> Any:
        """Retrieve an event."""
        return events.find_event(db.session, account_id(), event_id)
