"""Requester accounts: who may call the requester API, with which access key, and the money
they have (a prepaid balance, explained by a ledger). Also ``hitblocks requesters ...``.

An access key is AWS-shaped (``AKIA`` + 16 characters, a 40-character secret) so that boto3
and every MTurk tool take it as they take AWS's. The secret is stored as is: SigV4 signs with
the secret itself, so checking a signature needs it (it cannot be hashed like a password). It
is shown once, when issued, and never logged.
"""

from __future__ import annotations

import datetime
import os
import secrets
import string
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from mturk.client import Credentials, load_credentials_file
from mturk.fees import format_amount
from mturk.service.store import AccessKey, LedgerEntry, Requester, Store
from mturk.service.store import now as clock

KEY_ALPHABET = string.ascii_uppercase + string.digits
SECRET_ALPHABET = string.ascii_letters + string.digits + "+/"
# Hitblocks' own requester on the bundled service (the zero-configuration quick start).
LOCAL_REQUESTER = "hitblocks"
LOCAL_CREDENTIALS_MARK = "# Written by Hitblocks for its requester on the bundled MTurk service."
# How stale a key's "last used" may get before a call rewrites it (not one write per call).
LAST_USED_PRECISION = 60.0


class RequesterError(Exception):
    """A request about requesters that cannot be done (the CLI prints the message)."""


@dataclass(frozen=True)
class IssuedKey:
    """A key as issued: the only time its secret is shown."""

    requester: str
    access_key_id: str
    secret_access_key: str

    @property
    def credentials(self) -> Credentials:
        return Credentials(self.access_key_id, self.secret_access_key)


@dataclass(frozen=True)
class KeyRow:
    access_key_id: str
    status: str
    created: float
    last_used: float | None


@dataclass(frozen=True)
class RequesterRow:
    name: str
    balance: Decimal
    created: float
    keys: list[KeyRow]


def new_access_key_id() -> str:
    return "AKIA" + "".join(secrets.choice(KEY_ALPHABET) for _ in range(16))


def new_secret() -> str:
    return "".join(secrets.choice(SECRET_ALPHABET) for _ in range(40))


def cents_of(amount: Decimal) -> int:
    """Whole cents of a positive amount with at most two decimals."""
    if not amount.is_finite() or amount <= 0 or amount != amount.quantize(Decimal("0.01")):
        raise RequesterError(f"{amount} is not a positive amount in dollars and cents.")
    return int(amount * 100)


def parse_amount(text: str) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation:
        raise RequesterError(f"{text!r} is not an amount such as 25.00.") from None


# ---- accounts and keys -----------------------------------------------------------------


def create_requester(session: Session, name: str, balance: Decimal = Decimal(0)) -> IssuedKey:
    name = name.strip()
    if not name or len(name) > 128:
        raise RequesterError("A requester's name is 1 to 128 characters.")
    if session.scalar(select(Requester).where(Requester.name == name)) is not None:
        raise RequesterError(f"There is already a requester named {name!r}.")
    requester = Requester(name=name, balance_cents=0, created_at=clock())
    session.add(requester)
    session.flush()
    if balance:
        _credit(session, requester, cents_of(balance))
    return _issue(session, requester)


def create_key(session: Session, name: str) -> IssuedKey:
    """A further key for a requester (to rotate: create one, switch, revoke the old one)."""
    requester = session.scalar(select(Requester).where(Requester.name == name))
    if requester is None:
        raise RequesterError(f"There is no requester named {name!r}.")
    return _issue(session, requester)


def revoke_key(session: Session, access_key_id: str) -> None:
    """Make a key inactive: calls signed with it are refused from now on."""
    key = session.get(AccessKey, access_key_id)
    if key is None:
        raise RequesterError(f"There is no access key {access_key_id}.")
    key.status = "Inactive"


def _issue(session: Session, requester: Requester) -> IssuedKey:
    key = AccessKey(
        id=new_access_key_id(),
        requester_id=requester.id,
        secret=new_secret(),
        status="Active",
        created_at=clock(),
    )
    session.add(key)
    session.flush()
    return IssuedKey(requester.name, key.id, key.secret)


def active_key(session: Session, access_key_id: str) -> AccessKey | None:
    key = session.get(AccessKey, access_key_id)
    return key if key is not None and key.status == "Active" else None


def mark_used(key: AccessKey, at: float) -> None:
    if key.last_used_at is None or at - key.last_used_at >= LAST_USED_PRECISION:
        key.last_used_at = at


def list_requesters(session: Session) -> list[RequesterRow]:
    rows = []
    for requester in session.scalars(select(Requester).order_by(Requester.id)):
        keys = session.scalars(
            select(AccessKey)
            .where(AccessKey.requester_id == requester.id)
            .order_by(AccessKey.created_at)
        )
        rows.append(
            RequesterRow(
                requester.name,
                Decimal(requester.balance_cents) / 100,
                requester.created_at,
                [KeyRow(k.id, k.status, k.created_at, k.last_used_at) for k in keys],
            )
        )
    return rows


# ---- money -------------------------------------------------------------------------------


def fund(session: Session, access_key_id: str, amount: Decimal) -> RequesterRow:
    """Add prepaid money to the balance of the requester owning this key."""
    key = session.get(AccessKey, access_key_id)
    if key is None:
        raise RequesterError(f"There is no access key {access_key_id}.")
    requester = session.get_one(Requester, key.requester_id)
    _credit(session, requester, cents_of(amount))
    return next(row for row in list_requesters(session) if row.name == requester.name)


def _credit(session: Session, requester: Requester, cents: int) -> None:
    requester.balance_cents += cents
    session.add(
        LedgerEntry(
            requester_id=requester.id,
            kind="funding",
            amount_cents=cents,
            fee_cents=0,
            balance_cents=requester.balance_cents,
            at=clock(),
        )
    )


def debit(
    session: Session, requester_id: int, cents: int, fee_cents: int, kind: str, reference: str
) -> bool:
    """Draw ``cents`` (the commission ``fee_cents`` included) from the balance and record why;
    False, changing nothing, when the balance would go negative."""
    balance = session.scalar(
        update(Requester)
        .where(Requester.id == requester_id, Requester.balance_cents >= cents)
        .values(balance_cents=Requester.balance_cents - cents)
        .returning(Requester.balance_cents)
    )
    if balance is None:
        return False
    session.add(
        LedgerEntry(
            requester_id=requester_id,
            kind=kind,
            amount_cents=-cents,
            fee_cents=fee_cents,
            balance_cents=balance,
            reference=reference,
            at=clock(),
        )
    )
    return True


def ledger(session: Session, requester_name: str) -> list[LedgerEntry]:
    requester = session.scalar(select(Requester).where(Requester.name == requester_name))
    if requester is None:
        raise RequesterError(f"There is no requester named {requester_name!r}.")
    return list(
        session.scalars(
            select(LedgerEntry)
            .where(LedgerEntry.requester_id == requester.id)
            .order_by(LedgerEntry.seq)
        )
    )


# ---- Hitblocks' own requester on the bundled service ------------------------------------------


def ensure_local_credentials(database_url: str, path: str, balance: Decimal) -> IssuedKey | None:
    """Make sure ``path`` holds a working key of Hitblocks' own requester on the bundled
    service, creating the requester (with ``balance``) and a key on first start. Returns the
    key when one was issued. A file at ``path`` not written here is never overwritten."""
    existing = load_credentials_file(path) if os.path.exists(path) else None
    store = Store(database_url)
    try:
        with store.transaction() as session:
            if existing is not None and active_key(session, existing.access_key_id):
                return None
            if os.path.exists(path) and not _written_here(path):
                raise RequesterError(
                    f"{path} holds no active key of the bundled MTurk service, and Hitblocks "
                    "did not write it: fix it by hand or remove it."
                )
            if session.scalar(select(Requester).where(Requester.name == LOCAL_REQUESTER)):
                issued = create_key(session, LOCAL_REQUESTER)
            else:
                issued = create_requester(session, LOCAL_REQUESTER, balance)
            write_credentials_file(path, issued)  # inside: no key without its file
        return issued
    finally:
        store.dispose()


def _written_here(path: str) -> bool:
    with open(path, encoding="utf-8") as file:
        return file.readline().strip() == LOCAL_CREDENTIALS_MARK


def write_credentials_file(path: str, issued: IssuedKey) -> None:
    """``~/.aws/credentials`` format, readable by its owner only, replaced atomically."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    partial = f"{path}.{secrets.token_hex(4)}.tmp"
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(f"{LOCAL_CREDENTIALS_MARK}\n[default]\n{credentials_lines(issued)}\n")
    os.replace(partial, path)


def credentials_lines(issued: IssuedKey) -> str:
    return (
        f"aws_access_key_id = {issued.access_key_id}\n"
        f"aws_secret_access_key = {issued.secret_access_key}"
    )


# ---- hitblocks requesters ... ------------------------------------------------------------


def _store() -> Store:
    return Store(str(current_app.config["MTURK_LOCAL_DATABASE_URL"]))


@click.group("requesters")
def requesters_group() -> None:
    """Requester accounts of the bundled MTurk service (HITBLOCKS_MTURK_LOCAL_DATABASE_URL)."""


@requesters_group.command("create")
@click.option("--name", required=True, help="The requester's name (unique).")
@click.option("--balance", default="0.00", show_default=True, help="Starting balance, USD.")
@with_appcontext
def create_command(name: str, balance: str) -> None:
    """Create a requester and its first access key; the last two lines are the credentials,
    in ~/.aws/credentials format (the secret is not shown again)."""
    run_in_store(
        lambda session: _print_issued(create_requester(session, name, parse_amount(balance)))
    )


@requesters_group.command("list")
@with_appcontext
def list_command() -> None:
    """Requesters, their balances and their access keys (never the secrets)."""

    def show(session: Session) -> None:
        for row in list_requesters(session):
            click.echo(f"{row.name}\tbalance {format_amount(row.balance)}\t{_when(row.created)}")
            for key in row.keys:
                used = f"last used {_when(key.last_used)}" if key.last_used else "never used"
                click.echo(f"  {key.access_key_id}\t{key.status}\t{used}")

    run_in_store(show)


@requesters_group.command("fund")
@click.option("--access-key-id", required=True, help="Any access key of the requester.")
@click.option("--amount", required=True, help="Amount to add, USD (e.g. 25.00).")
@with_appcontext
def fund_command(access_key_id: str, amount: str) -> None:
    """Add prepaid money to a requester's balance (recorded in its ledger)."""

    def add(session: Session) -> None:
        row = fund(session, access_key_id, parse_amount(amount))
        click.echo(f"{row.name}: balance {format_amount(row.balance)}")

    run_in_store(add)


@requesters_group.group("keys")
def keys_group() -> None:
    """Rotate and revoke requesters' access keys."""


@keys_group.command("create")
@click.option("--name", required=True, help="The requester's name.")
@with_appcontext
def key_create_command(name: str) -> None:
    """Issue another access key (to rotate: create, switch your tools, revoke the old)."""
    run_in_store(lambda session: _print_issued(create_key(session, name)))


@keys_group.command("revoke")
@click.option("--access-key-id", required=True)
@with_appcontext
def key_revoke_command(access_key_id: str) -> None:
    """Make an access key inactive; calls signed with it are refused from now on."""

    def revoke(session: Session) -> None:
        revoke_key(session, access_key_id)
        click.echo(f"Revoked {access_key_id}.")

    run_in_store(revoke)


def run_in_store(action: Callable[[Session], None]) -> None:
    """A command's ``action`` in one transaction of the service's store; a RequesterError
    (or a subclass: ``layouts.LayoutError``) is the command's error message."""
    store = _store()
    try:
        with store.transaction() as session:
            action(session)
    except RequesterError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        store.dispose()


def _print_issued(issued: IssuedKey) -> None:
    click.echo(f"Access key for requester {issued.requester!r} (the secret is not shown again):")
    click.echo(credentials_lines(issued))


def _when(at: float | None) -> str:
    if at is None:
        return "-"
    return datetime.datetime.fromtimestamp(at, datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
