"""API keys of the account (admins only): list, create (the key shown once), revoke."""

from __future__ import annotations

from flask import flash, redirect, url_for
from werkzeug.wrappers import Response

from app.console.site import blueprint, current_user, render_page, signed_in
from app.extensions import db
from app.services.api_keys import create_account_key, list_account_keys, revoke_account_key
from app.services.users import ADMIN
from app.views import ID


@blueprint.get("/api-keys")
@signed_in(ADMIN)
def api_keys() -> Response:
    keys = list_account_keys(db.session, current_user().account_id)
    return render_page("console/api_keys.html", keys=keys)


@blueprint.post("/api-keys")
@signed_in(ADMIN)
def create_api_key() -> Response:
    """The new key on the answer itself (never in a redirect's session or a URL), once."""
    account_id = current_user().account_id
    issued = create_account_key(db.session, account_id)
    keys = list_account_keys(db.session, account_id)
    return render_page("console/api_keys.html", keys=keys, issued=issued)


@blueprint.post(f"/api-keys/<{ID}:key_id>/revoke")
@signed_in(ADMIN)
def revoke_api_key(key_id: int) -> Response:
    row = revoke_account_key(db.session, current_user().account_id, key_id)
    flash(f"Revoked the key ending in {row.last4}: requests with it now answer 401.")
    return redirect(url_for("console.api_keys"))
