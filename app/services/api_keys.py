"""An account's API keys as the console manages them: by row id, always within the account
(``accounts`` serves the command line, which names accounts and presents whole keys)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from app.auth import generate_key, hash_key
from app.domain import NotFound
from app.models import ApiKey, utcnow
from app.services import DbSession, transaction


@dataclass(frozen=True)
class KeyRow:
    id: int
    last4: str
    created: datetime
    revoked_at: datetime | None


def list_account_keys(session: DbSession, account_id: int) -> list[KeyRow]:
    """The account's keys, newest first; the keys themselves are not stored."""
    with transaction(session):
        rows = session.execute(
            select(ApiKey.id, ApiKey.last4, ApiKey.created, ApiKey.revoked_at)
            .where(ApiKey.account_id == account_id)
            .order_by(ApiKey.id.desc())
        ).all()
    return [KeyRow(*row) for row in rows]


def create_account_key(session: DbSession, account_id: int) -> str:
    """A new key for the account: the only time it is shown."""
    key = generate_key()
    with transaction(session):
        session.add(ApiKey(account_id=account_id, key_hash=hash_key(key), last4=key[-4:]))
    return key


def revoke_account_key(session: DbSession, account_id: int, key_id: int) -> KeyRow:
    """Revoke one of the account's keys (a repeat changes nothing); another account's key
    is as missing as one that never was."""
    with transaction(session):
        api_key = session.scalar(
            select(ApiKey).where(ApiKey.id == key_id, ApiKey.account_id == account_id)
        )
        if api_key is None:
            raise NotFound("API key", key_id)
        if api_key.revoked_at is None:
            api_key.revoked_at = utcnow()
        return KeyRow(api_key.id, api_key.last4, api_key.created, api_key.revoked_at)
