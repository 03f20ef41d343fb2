"""Console users: people of an account who sign in with an email and a password.

Passwords are hashed with Argon2id (argon2-cffi, as the bundled service hashes workers'),
outside transactions: hashing takes tens of milliseconds and memory, and on SQLite a
transaction holds the database's write lock. A signed-in session keeps the user's id and a
*stamp* derived from the password hash, checked on every request, so that a new password
or a disabled user ends the sessions opened before.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.domain import Conflict, InvalidInput, NotFound, UserRole
from app.models import Account, User, utcnow
from app.services import DbSession, transaction
from mturk.web_sessions import MAX_PASSWORD, password_stamp
from mturk.web_sessions import decoy_hash as _decoy_hash
from mturk.web_sessions import password_hasher as _hasher
from mturk.web_sessions import verify_password as _verify

ADMIN = UserRole.ADMIN
REVIEWER = UserRole.REVIEWER
ROLES = tuple(role.value for role in UserRole)  # plain strings, for click
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD = 8


def normalize_email(email: str) -> str:
    return email.strip().lower()


def hash_password(password: str) -> str:
    """The Argon2id hash of an acceptable password."""
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(f"A password has at least {MIN_PASSWORD} characters.", param="password")
    if len(password) > MAX_PASSWORD:
        raise InvalidInput(f"A password has at most {MAX_PASSWORD} characters.", param="password")
    return _hasher.hash(password)


def session_stamp(user: User) -> str:
    """Kept in the signed session and checked on every request: a new password changes it."""
    return password_stamp(user.password_hash)


def _check_email(email: str) -> str:
    email = normalize_email(email)
    if not EMAIL.match(email) or len(email) > 254:
        raise InvalidInput("That is not an email address.", param="email")
    return email


def create_user(
    session: DbSession,
    account_name: str,
    email: str,
    password: str,
    role: str,
    *,
    create_account: bool = False,
) -> User:
    """A new user of the account ``account_name``. An unknown account is refused (a typo
    would otherwise make an empty account for the user) unless ``create_account``."""
    if role not in ROLES:
        raise InvalidInput(f"A role is one of: {', '.join(ROLES)}.", param="role")
    email = _check_email(email)
    password_hash = hash_password(password)  # before the transaction: see the module's note
    try:
        with transaction(session):
            if session.scalar(select(User.id).where(User.email == email)) is not None:
                raise Conflict("A user with this email address already exists.", param="email")
            account = session.scalar(select(Account).where(Account.name == account_name))
            if account is None and not create_account:
                raise NotFound("account", account_name)
            if account is None:
                account = Account(name=account_name)
                session.add(account)
                session.flush()
            user = User(
                account_id=account.id,
                email=email,
                password_hash=password_hash,
                role=UserRole(role),
            )
            session.add(user)
    except IntegrityError:  # the same email, made meanwhile by another process
        raise Conflict("A user with this email address already exists.", param="email") from None
    return user


def authenticate(session: DbSession, email: str, password: str) -> User | None:
    """The active user with this email and password; None otherwise (same time either way)."""
    with transaction(session):
        user = session.scalar(select(User).where(User.email == normalize_email(email)))
    if user is None:
        _verify(_decoy_hash(), password)
        return None
    if not _verify(user.password_hash, password) or user.disabled is not None:
        return None
    return user


def signed_in_user(session: DbSession, user_id: int, stamp: str) -> User | None:
    """The user a session names, while active and the session is still good for them."""
    user = session.get(User, user_id)
    if user is None or user.disabled is not None:
        return None
    if not secrets.compare_digest(session_stamp(user), stamp):
        return None
    return user


def set_password(session: DbSession, email: str, password: str) -> None:
    """A new password, which ends every session opened with the old one."""
    password_hash = hash_password(password)
    with transaction(session):
        user = session.scalar(select(User).where(User.email == normalize_email(email)))
        if user is None:
            raise NotFound("user", normalize_email(email))
        user.password_hash = password_hash


def set_disabled(session: DbSession, email: str, disabled: bool) -> None:
    """Disable (ending the user's sessions) or enable a user again."""
    with transaction(session):
        user = session.scalar(select(User).where(User.email == normalize_email(email)))
        if user is None:
            raise NotFound("user", normalize_email(email))
        if disabled and user.disabled is None:
            user.disabled = utcnow()
        elif not disabled:
            user.disabled = None


@dataclass(frozen=True)
class UserInfo:
    account_name: str
    email: str
    role: str
    created: datetime
    disabled: datetime | None


def list_users(session: DbSession, account_name: str | None = None) -> list[UserInfo]:
    stmt = select(Account.name, User.email, User.role, User.created, User.disabled).join(
        User.account
    )
    if account_name is not None:
        stmt = stmt.where(Account.name == account_name)
    with transaction(session):
        rows = session.execute(stmt.order_by(Account.name, User.email)).all()
    return [UserInfo(*row) for row in rows]
