"""Worker accounts: sign-up (by invitation, or open), passwords, sign-in, disabling; and the
``hitblocks workers`` commands that manage them.

Passwords are hashed with Argon2id (argon2-cffi, OWASP's first choice) and never kept in
clear; invitation tokens are kept as SHA-256 hashes (they are random, so a fast hash is
enough). Hashing takes tens of milliseconds and memory, so it is done outside transactions,
which on SQLite hold the database's write lock. Nothing here knows about HTTP.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlencode

import click
from flask import Flask
from flask.cli import with_appcontext
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mturk import web_sessions
from mturk.service import qualifications
from mturk.service.store import (
    ID_ALPHABET,
    Store,
    WorkerAccount,
    WorkerInvitation,
    now,
)
from mturk.web_sessions import MAX_PASSWORD, password_stamp
from mturk.web_sessions import decoy_hash as _decoy_hash
from mturk.web_sessions import password_hasher as _hasher
from mturk.web_sessions import verify_password as _verify

ACTIVE = "active"
DISABLED = "disabled"
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# MTurk's WorkerId shape, as the requester API accepts it.
WORKER_ID = re.compile(r"^A[A-Z0-9]{1,63}$")
MIN_PASSWORD = 8
INVITATION_DAYS = 7
SECRET_KEY_FILE = "mturk-service-secret-key"


class WorkerError(Exception):
    """Why an account operation was refused, in words fit for the person who asked."""


def normalize_email(email: str) -> str:
    return email.strip().lower()


def new_worker_id() -> str:
    """``A`` and 13 random uppercase letters and digits: the shape of MTurk's WorkerIds."""
    return "A" + "".join(secrets.choice(ID_ALPHABET) for _ in range(13))


def hash_password(password: str) -> str:
    """The Argon2id hash of an acceptable password."""
    if len(password) < MIN_PASSWORD:
        raise WorkerError(f"A password has at least {MIN_PASSWORD} characters.")
    if len(password) > MAX_PASSWORD:
        raise WorkerError(f"A password has at most {MAX_PASSWORD} characters.")
    return _hasher.hash(password)


def session_stamp(account: WorkerAccount) -> str:
    """Kept in the worker's signed session and checked on every request: a new password
    changes it, so resetting a password ends the sessions opened with the old one."""
    return password_stamp(account.password_hash)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _by_email(session: Session, email: str) -> WorkerAccount | None:
    return session.scalar(
        select(WorkerAccount).where(WorkerAccount.email == normalize_email(email))
    )


def _add_account(
    session: Session, email: str, password_hash: str, worker_id: str | None
) -> WorkerAccount:
    email = normalize_email(email)
    if not EMAIL.match(email) or len(email) > 254:
        raise WorkerError("That is not an email address.")
    if _by_email(session, email) is not None:
        raise WorkerError("A worker with this email address already exists.")
    if worker_id is not None and not WORKER_ID.match(worker_id):
        raise WorkerError("A worker ID is an A followed by uppercase letters and digits.")
    worker_id = worker_id or new_worker_id()
    if session.scalar(select(WorkerAccount).where(WorkerAccount.id == worker_id)) is not None:
        raise WorkerError(f"The worker ID {worker_id} is taken.")
    account = WorkerAccount(id=worker_id, email=email, password_hash=password_hash, status=ACTIVE)
    session.add(account)
    try:
        session.flush()
    except IntegrityError:  # the same email or id, added at the same moment
        raise WorkerError("A worker with this email address already exists.") from None
    return account


def create_worker(
    store: Store, email: str, password: str, worker_id: str | None = None
) -> WorkerAccount:
    """A new active worker. ``worker_id`` keeps an id the worker already has (a workforce
    moving from MTurk, so that qualifications and blocks keyed by it still apply); by
    default the service draws one."""
    password_hash = hash_password(password)
    with store.transaction() as session:
        return _add_account(session, email, password_hash, worker_id)


def sign_up(
    store: Store, email: str, password: str, invitation: str | None, open_signup: bool
) -> WorkerAccount:
    """A new worker, by invitation (used up here, in the same transaction) or, when sign-up
    is open, without one."""
    password_hash = hash_password(password)
    with store.transaction() as session:
        if invitation:
            at = now()
            used = session.execute(
                update(WorkerInvitation)
                .where(
                    WorkerInvitation.token_hash == _token_hash(invitation),
                    WorkerInvitation.used_at.is_(None),
                    WorkerInvitation.expires_at > at,
                )
                .values(used_at=at)
            )
            if used.rowcount != 1:  # type: ignore[attr-defined]
                raise WorkerError("This invitation link is not valid: it expired or was used.")
            account = _add_account(session, email, password_hash, None)
            session.execute(
                update(WorkerInvitation)
                .where(WorkerInvitation.token_hash == _token_hash(invitation))
                .values(worker_id=account.id)
            )
            return account
        if not open_signup:
            raise WorkerError("Signing up needs an invitation link.")
        return _add_account(session, email, password_hash, None)


def invitation_is_valid(store: Store, token: str) -> bool:
    with store.transaction() as session:
        invitation = session.scalar(
            select(WorkerInvitation).where(WorkerInvitation.token_hash == _token_hash(token))
        )
        return (
            invitation is not None and invitation.used_at is None and invitation.expires_at > now()
        )


def create_invitations(store: Store, count: int, days: int = INVITATION_DAYS) -> list[str]:
    """``count`` one-time sign-up tokens, valid for ``days``; shown once, kept hashed."""
    tokens = [secrets.token_urlsafe(32) for _ in range(count)]
    expires_at = now() + days * 86400
    with store.transaction() as session:
        session.add_all(
            WorkerInvitation(token_hash=_token_hash(token), expires_at=expires_at)
            for token in tokens
        )
    return tokens


def authenticate(store: Store, email: str, password: str) -> WorkerAccount:
    """The worker with this email and password, or WorkerError; a disabled worker is told
    so only once the password is right."""
    with store.transaction() as session:
        account = _by_email(session, email)
    if account is None:
        _verify(_decoy_hash(), password)
        raise WorkerError("Wrong email address or password.")
    if not _verify(account.password_hash, password):
        raise WorkerError("Wrong email address or password.")
    if account.status != ACTIVE:
        raise WorkerError("This worker account is disabled.")
    if _hasher.check_needs_rehash(account.password_hash):  # stronger parameters since
        new_hash = _hasher.hash(password)
        with store.transaction() as session:
            session.execute(
                update(WorkerAccount)
                .where(WorkerAccount.seq == account.seq)
                .values(password_hash=new_hash)
            )
        account.password_hash = new_hash
    return account


def signed_in_worker(session: Session, worker_id: str, stamp: str) -> WorkerAccount | None:
    """The active worker a signed session names, if the session is still good for it."""
    account = session.scalar(select(WorkerAccount).where(WorkerAccount.id == worker_id))
    if account is None or account.status != ACTIVE:
        return None
    if not secrets.compare_digest(session_stamp(account), stamp):
        return None
    return account


def is_disabled(session: Session, worker_id: str) -> bool:
    account = session.scalar(select(WorkerAccount).where(WorkerAccount.id == worker_id))
    return account is not None and account.status != ACTIVE


def reset_password(store: Store, email: str, password: str) -> WorkerAccount:
    password_hash = hash_password(password)
    with store.transaction() as session:
        account = _by_email(session, email)
        if account is None:
            raise WorkerError(f"No worker has the email address {normalize_email(email)}.")
        account.password_hash = password_hash
        return account


def disable_worker(store: Store, email: str) -> WorkerAccount:
    """The worker can no longer sign in; open sessions end and its assignments cannot be
    submitted."""
    with store.transaction() as session:
        account = _by_email(session, email)
        if account is None:
            raise WorkerError(f"No worker has the email address {normalize_email(email)}.")
        account.status = DISABLED
        return account


LOCALE_PATTERN = re.compile(r"^([A-Z]{2})(?:-([A-Z0-9]{1,3}))?$")


def parse_locale(text: str) -> qualifications.Score | None:
    """``US`` or ``US-CA`` (ISO 3166-1 country, optional ISO 3166-2 subdivision), or ``none``."""
    if text.strip().lower() == "none":
        return None
    match = LOCALE_PATTERN.match(text.strip().upper())
    if match is None:
        raise WorkerError(f"{text!r} is not a locale: give a country such as US, or US-CA.")
    return qualifications.Score(country=match[1], subdivision=match[2])


def set_profile(
    store: Store, email: str, changes: dict[str, qualifications.Score | None]
) -> tuple[WorkerAccount, dict[str, qualifications.Score | None]]:
    """Set a worker's profile qualifications (Locale, Adult, Masters: ``changes`` by type id,
    None removing one) and answer the worker's whole profile after the change."""
    with store.transaction() as session:
        account = _by_email(session, email)
        if account is None:
            raise WorkerError(f"No worker has the email address {normalize_email(email)}.")
        for type_id, score in changes.items():
            qualifications.set_profile_value(session, account.id, type_id, score)
        session.flush()
        profile = {
            type_id: qualifications.score_of(session, account.id, type_id)
            for type_id in qualifications.PROFILE_TYPES
        }
        return account, profile


def _profile_line(type_id: str, score: qualifications.Score | None) -> str:
    name = qualifications.SYSTEM_TYPES[type_id][0]
    if score is None:
        value = "-"
    elif score.country is not None:
        value = "-".join(filter(None, (score.country, score.subdivision)))
    else:
        value = str(score.integer)
    return f"{name} ({type_id}): {value}"


def instance_secret_key(folder: str | Path) -> str:
    """The key that signs worker sessions (``mturk.web_sessions.instance_secret_key``)."""
    return web_sessions.instance_secret_key(folder, SECRET_KEY_FILE)


def signup_link(site_url: str, token: str) -> str:
    return f"{site_url.rstrip('/')}/worker/signup?{urlencode({'invitation': token})}"


# ---- hitblocks workers ... -------------------------------------------------------------


def command_group(service_app: Callable[[], Flask], site_url: Callable[[], str]) -> click.Group:
    """The ``workers`` commands, acting on the service database of the app ``service_app``
    builds; ``site_url`` is the worker site's address, for invitation links."""

    @contextmanager
    def store() -> Iterator[Store]:
        opened: Store = service_app().extensions["mturk_local_store"]
        try:
            yield opened
        finally:
            opened.dispose()

    def read_password() -> str:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise click.ClickException("Give the password on standard input.")
        return password

    def refused(error: WorkerError) -> click.ClickException:
        return click.ClickException(str(error))

    @click.group("workers")
    def workers() -> None:
        """Manage the worker accounts of the bundled MTurk service."""

    @workers.command("invite")
    @click.option("--count", type=click.IntRange(1, 1000), default=1, show_default=True)
    @click.option("--base-url", help="The worker site's public address (default: its host/port).")
    @with_appcontext
    def invite(count: int, base_url: str | None) -> None:
        """Print one-time sign-up links, valid for 7 days."""
        site = base_url or site_url()
        with store() as opened:
            tokens = create_invitations(opened, count)
        for token in tokens:
            click.echo(signup_link(site, token))

    @workers.command("create")
    @click.option("--email", required=True)
    @click.option("--password-stdin", is_flag=True, required=True, help="Read the password.")
    @click.option("--worker-id", help="Keep this worker's MTurk WorkerId (default: a new one).")
    @with_appcontext
    def create(email: str, password_stdin: bool, worker_id: str | None) -> None:
        """Create a worker; the worker id alone is the last line of output."""
        try:
            with store() as opened:
                account = create_worker(opened, email, read_password(), worker_id)
        except WorkerError as error:
            raise refused(error) from None
        click.echo(f"Created the worker {account.email} with this worker id:")
        click.echo(account.id)

    @workers.command("reset-password")
    @click.option("--email", required=True)
    @click.option("--password-stdin", is_flag=True, required=True, help="Read the password.")
    @with_appcontext
    def reset(email: str, password_stdin: bool) -> None:
        """Set a worker's password; sessions opened with the old one end."""
        try:
            with store() as opened:
                account = reset_password(opened, email, read_password())
        except WorkerError as error:
            raise refused(error) from None
        click.echo(f"New password set for {account.email} ({account.id}).")

    @workers.command("disable")
    @click.option("--email", required=True)
    @with_appcontext
    def disable(email: str) -> None:
        """Disable a worker: no sign-in, no session, no submitting."""
        try:
            with store() as opened:
                account = disable_worker(opened, email)
        except WorkerError as error:
            raise refused(error) from None
        click.echo(f"Disabled {account.email} ({account.id}).")

    @workers.command("profile")
    @click.option("--email", required=True)
    @click.option("--locale", help="Country, or country-subdivision (US, US-CA), or none.")
    @click.option("--adult/--no-adult", default=None, help="Worker_Adult (value 1), or none.")
    @click.option(
        "--masters/--no-masters",
        default=None,
        help="Masters, under both its live and its sandbox id (value 1), or none.",
    )
    @with_appcontext
    def profile(email: str, locale: str | None, adult: bool | None, masters: bool | None) -> None:
        """Show a worker's profile qualifications, setting those given first: requirements
        on Worker_Locale, Worker_Adult and Masters are checked against them."""
        try:
            changes: dict[str, qualifications.Score | None] = {}
            if locale is not None:
                changes[qualifications.LOCALE] = parse_locale(locale)
            if adult is not None:
                changes[qualifications.ADULT] = qualifications.Score(1) if adult else None
            if masters is not None:
                for type_id in (qualifications.MASTERS, qualifications.MASTERS_SANDBOX):
                    changes[type_id] = qualifications.Score(1) if masters else None
            with store() as opened:
                account, values = set_profile(opened, email, changes)
        except WorkerError as error:
            raise refused(error) from None
        click.echo(f"{account.email} ({account.id}):")
        for type_id, score in values.items():
            click.echo(_profile_line(type_id, score))

    return workers
