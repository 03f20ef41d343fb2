"""Hitblocks: a Stripe-style REST API in front of the MTurk Requester API."""

from __future__ import annotations

from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from app import http
from app.config import configure
from app.console import init_console
from app.extensions import HitblocksApi, db, migrate
from app.ratelimit import init_rate_limits
from app.schemas import Money, UnixTime
from app.views import ID, IdConverter, id_param_schema
from app.views import events as event_views
from app.views import hitblocks as hitblock_views
from app.views import items as item_views
from app.views import quality as quality_views
from app.views import responses as response_views
from app.views import results as result_views
from app.views import webhooks as webhook_views


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """The application factory: the only place that wires things together."""
    app = Flask(__name__, instance_relative_config=True, static_folder=None)
    configure(app, config)
    app.json.sort_keys = False  # type: ignore[attr-defined]

    db.init_app(app)
    migrate.init_app(app, db)
    app.config["API_SPEC_OPTIONS"] = {
        "components": {
            "securitySchemes": {
                "basicAuth": {"type": "http", "scheme": "basic"},
                "bearerAuth": {"type": "http", "scheme": "bearer"},
            }
        },
        "security": [{"basicAuth": []}, {"bearerAuth": []}],
    }
    api = HitblocksApi(app)
    api.register_field(Money, "number", None)
    api.register_field(UnixTime, "integer", None)
    app.url_map.converters[ID] = IdConverter
    api.register_converter(IdConverter, id_param_schema)

    for views in (
        hitblock_views,
        item_views,
        response_views,
        result_views,
        quality_views,
        event_views,
        webhook_views,
    ):
        api.register_blueprint(views.blp)
    http.install(app)
    init_rate_limits(app)
    init_console(app)
    hops = int(app.config["PROXY_HOPS"])
    if hops:  # behind a TLS proxy: the client's address (rate limits) and scheme
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops
        )
    return app
