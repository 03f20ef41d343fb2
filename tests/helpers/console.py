"""Console users and signed-in clients for the console's tests: a user made with the
service's own function, a Flask test client signed in through the sign-in form (the CSRF
token taken from the page, as a browser would), and the same in Playwright.

Beware of the ``session`` fixture (and ``account_id``, which uses it) in tests that sign a
client in: it keeps an app context open for the whole test, and the test client's requests
then share it, with its ``g``: Flask-WTF keeps the CSRF token in ``g``, so a token from
before the sign-in (which starts a fresh session) would be handed out again, and refused.
Use ``account_of`` and ``with app.app_context():`` instead."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.extensions import db
from app.models import Account
from app.services.users import create_user

PASSWORD = "correct horse battery staple"
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


def make_user(
    app: Flask, account_name: str, email: str, password: str = PASSWORD, role: str = "admin"
) -> int:
    """A user of the account ``account_name`` (made if missing); the user's id."""
    with app.app_context():
        return create_user(db.session, account_name, email, password, role, create_account=True).id


def account_of(app: Flask, account_name: str) -> int:
    """The id of the account of this name (made by ``make_user`` or ``create_key``)."""
    with app.app_context():
        account_id = db.session.scalar(select(Account.id).where(Account.name == account_name))
        db.session.rollback()
    assert account_id is not None, account_name
    return account_id


def csrf_token(client: FlaskClient, path: str = "/console/sign-in") -> str:
    """The CSRF token of the client's session, from a console page's meta tag."""
    page = client.get(path)
    found = CSRF_META.search(page.get_data(as_text=True))
    assert found, f"no csrf-token meta tag on {path} ({page.status_code})"
    return found.group(1)


def sign_in_client(client: FlaskClient, email: str, password: str = PASSWORD) -> Any:
    """Sign ``client`` in through the form; the sign-in's response."""
    token = csrf_token(client)
    return client.post(
        "/console/sign-in", data={"email": email, "password": password, "csrf_token": token}
    )


def signed_in_client(app: Flask, email: str, password: str = PASSWORD) -> FlaskClient:
    """A new test client, signed in as the user with this email."""
    client = app.test_client()
    response = sign_in_client(client, email, password)
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


def json_headers(client: FlaskClient, path: str = "/console") -> dict[str, str]:
    """Headers a console page's script sends with a JSON call: the CSRF token."""
    return {"X-CSRFToken": csrf_token(client, path), "Accept": "application/json"}


def sign_in(page: Any, base_url: str, email: str, password: str = PASSWORD) -> None:
    """A user signs in on the console's sign-in page (Playwright), and lands on a page."""
    page.goto(f"{base_url}/console/sign-in")
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("#sign-in")
    page.wait_for_selector("#user-email")
