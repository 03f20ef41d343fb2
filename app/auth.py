"""API keys: issued once, stored as SHA-256, presented by HTTP Basic or Bearer."""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets

from flask import Request
from sqlalchemy import select

from app.errors import AUTHENTICATION, ApiError
from app.extensions import DbSession
from app.models import ApiKey

KEY_PREFIX = "hb_"
CHALLENGE = 'Basic realm="Hitblocks API", Bearer realm="Hitblocks API"'


def generate_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    """A fast hash is right here: keys carry 256 random bits, so there is nothing to brute-force."""
    return hashlib.sha256(key.encode()).hexdigest()


def mask(key: str) -> str:
    return f"{key[:3]}****{key[-4:]}" if len(key) > 8 else "****"


def presented_key(req: Request) -> str:
    """The key from ``Authorization: Basic`` (key as username) or ``Bearer``."""
    header = req.headers.get("Authorization", "")
    if not header:
        raise auth_error(
            "No API key provided. Use HTTP Basic auth with your API key as the username "
            "and no password, or 'Authorization: Bearer YOUR_KEY'."
        )
    scheme, _, credentials = header.partition(" ")
    credentials = credentials.strip()
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(credentials, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise auth_error("Malformed Basic credentials: expected base64 of 'KEY:'.") from None
        key = decoded.partition(":")[0]
    elif scheme.lower() == "bearer":
        # Hybrid's documentation shows 'Bearer KEY:'; forgive the trailing colon.
        key = credentials.removesuffix(":")
    else:
        raise auth_error(f"Unsupported authorization scheme {scheme!r}: use Basic or Bearer.")
    if not key:
        raise auth_error("No API key provided in the Authorization header.")
    return key


def authenticate(session: DbSession, key: str) -> int:
    """Return the account id that owns this active key."""
    account_id = session.scalar(
        select(ApiKey.account_id).where(
            ApiKey.key_hash == hash_key(key), ApiKey.revoked_at.is_(None)
        )
    )
    if account_id is None:
        raise auth_error(f"Invalid API key provided: {mask(key)}")
    return account_id


def auth_error(message: str) -> ApiError:
    return ApiError(401, message, type=AUTHENTICATION, headers={"WWW-Authenticate": CHALLENGE})
