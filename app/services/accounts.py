"""Accounts and their API keys."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError

from app.auth import generate_key, hash_key
from app.models import Account, ApiKey, utcnow
from app.services import DbSession, transaction


@dataclass(frozen=True)
class IssuedKey:
    account_id: int
    account_name: str
    key: str


def create_key(session: DbSession, account_name: str) -> IssuedKey:
    """Create the account if it does not exist, and a new key for it (shown only now)."""
    with transaction(session):
        account = session.scalar(select(Account).where(Account.name == account_name))
        if account is None:
            account = Account(name=account_name)
            session.add(account)
        key = generate_key()
        session.add(ApiKey(account=account, key_hash=hash_key(key), last4=key[-4:]))
        session.flush()
        return IssuedKey(account.id, account.name, key)


@dataclass(frozen=True)
class KeyInfo:
    account_name: str
    last4: str
    created: datetime
    revoked_at: datetime | None


def list_keys(session: DbSession, account_name: str | None = None) -> list[KeyInfo]:
    stmt = select(Account.name, ApiKey.last4, ApiKey.created, ApiKey.revoked_at).join(
        ApiKey.account
    )
    if account_name is not None:
        stmt = stmt.where(Account.name == account_name)
    rows = session.execute(stmt.order_by(Account.name, ApiKey.id)).all()
    return [KeyInfo(*row) for row in rows]


def revoke_key(session: DbSession, key: str) -> bool:
    """Revoke a key; False when no active key matches."""
    with transaction(session):
        api_key = session.scalar(
            select(ApiKey).where(ApiKey.key_hash == hash_key(key), ApiKey.revoked_at.is_(None))
        )
        if api_key is None:
            return False
        api_key.revoked_at = utcnow()
        return True


def bootstrap_first_account(session: DbSession, account_name: str) -> IssuedKey | None:
    """On an empty database, create the first account and key so the quick start just works.
    None when there are accounts already, or another process just created the first."""
    with transaction(session):
        has_accounts = session.scalar(select(exists().select_from(Account)))
    if has_accounts:
        return None
    try:
        return create_key(session, account_name)
    except IntegrityError:  # another process (a gunicorn worker) made it first
        return None
