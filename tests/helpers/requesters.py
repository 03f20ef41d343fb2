"""Requesters of a local MTurk service, made in its store, and boto3 clients signing as them."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from flask import Flask

from mturk.client import make_client, resolve_endpoint
from mturk.service import local_store
from mturk.service.requesters import IssuedKey, create_requester


def new_requester(service: Flask, name: str, balance: str = "10000.00") -> IssuedKey:
    with local_store(service).transaction() as session:
        return create_requester(session, name, Decimal(balance))


def client_for(url: str, issued: IssuedKey, max_attempts: int = 1) -> Any:
    """A real boto3 client of the service at ``url``, signing with ``issued``'s key."""
    endpoint = resolve_endpoint(url, url)
    return make_client(endpoint, credentials=issued.credentials, max_attempts=max_attempts)
