"""Console users: the service (create, authenticate, sessions stamps, passwords, disabling)
and the ``hitblocks users`` commands."""

from __future__ import annotations

import os
import stat
import time

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from app import create_app
from app.cli import main
from app.console import SECRET_KEY_FILE, instance_secret_key
from app.domain import Conflict, InvalidInput, NotFound
from app.extensions import db
from app.models import Account, User
from app.services.users import (
    authenticate,
    create_user,
    list_users,
    session_stamp,
    set_disabled,
    set_password,
    signed_in_user,
)
from tests.helpers.console import PASSWORD, signed_in_client


def test_a_user_is_made_with_a_normalised_email_and_a_hashed_password(session):
    user = create_user(
        session, "acme", "  Ann@Example.COM ", PASSWORD, "reviewer", create_account=True
    )
    assert user.email == "ann@example.com" and user.role == "reviewer"
    assert user.password_hash.startswith("$argon2id$") and PASSWORD not in user.password_hash
    account = session.scalar(select(Account).where(Account.name == "acme"))
    assert account is not None and user.account_id == account.id  # made, as it was missing
    again = create_user(session, "acme", "bob@example.com", PASSWORD, "admin", create_account=True)
    assert again.account_id == account.id  # the existing account


@pytest.mark.parametrize(
    ("email", "password", "role", "param"),
    [
        ("not an email", PASSWORD, "admin", "email"),
        ("a@b.test", "short", "admin", "password"),
        ("a@b.test", "x" * 1025, "admin", "password"),
        ("a@b.test", PASSWORD, "owner", "role"),
    ],
)
def test_bad_input_is_refused(session, email, password, role, param):
    with pytest.raises(InvalidInput) as refused:
        create_user(session, "acme", email, password, role, create_account=True)
    assert refused.value.param == param
    assert session.scalar(select(User)) is None


def test_an_unknown_account_is_refused_unless_asked_to_make_it(session):
    with pytest.raises(NotFound) as refused:
        create_user(session, "acmee", "ann@example.com", PASSWORD, "admin")
    assert refused.value.kind == "account"
    assert session.scalar(select(Account)) is None and session.scalar(select(User)) is None
    made = create_user(session, "acme", "ann@example.com", PASSWORD, "admin", create_account=True)
    user = create_user(session, "acme", "bob@example.com", PASSWORD, "reviewer")  # it exists
    assert user.account_id == made.account_id


def test_an_email_is_one_user_whatever_its_case(session):
    create_user(session, "acme", "ann@example.com", PASSWORD, "admin", create_account=True)
    with pytest.raises(Conflict):
        create_user(session, "globex", "ANN@example.com", PASSWORD, "admin", create_account=True)


def test_authenticate_takes_the_right_password_of_an_active_user_only(session):
    create_user(session, "acme", "ann@example.com", PASSWORD, "admin", create_account=True)
    assert authenticate(session, "ANN@example.com ", PASSWORD).email == "ann@example.com"
    assert authenticate(session, "ann@example.com", PASSWORD + "!") is None
    assert authenticate(session, "nobody@example.com", PASSWORD) is None
    set_disabled(session, "ann@example.com", True)
    assert authenticate(session, "ann@example.com", PASSWORD) is None
    set_disabled(session, "ann@example.com", False)
    assert authenticate(session, "ann@example.com", PASSWORD) is not None


def test_an_unknown_email_takes_as_long_to_refuse_as_a_wrong_password(session):
    create_user(session, "acme", "ann@example.com", PASSWORD, "admin", create_account=True)
    authenticate(session, "nobody@example.com", PASSWORD)  # the decoy hash, made once

    def seconds(email: str) -> float:
        start = time.perf_counter()
        for _ in range(3):
            authenticate(session, email, "wrong password")
        return time.perf_counter() - start

    wrong, unknown = seconds("ann@example.com"), seconds("nobody@example.com")
    assert unknown > wrong / 3  # both verify an Argon2 hash; no shortcut for unknown emails


def test_a_new_password_changes_the_session_stamp(session):
    user = create_user(session, "acme", "ann@example.com", PASSWORD, "admin", create_account=True)
    stamp = session_stamp(user)
    assert signed_in_user(session, user.id, stamp) is not None
    set_password(session, "ann@example.com", "another good password")
    assert signed_in_user(session, user.id, stamp) is None
    user = session.get(User, user.id)
    assert signed_in_user(session, user.id, session_stamp(user)) is not None
    with pytest.raises(NotFound):
        set_password(session, "nobody@example.com", "another good password")


def test_list_users_by_account(session):
    create_user(session, "acme", "b@acme.test", PASSWORD, "reviewer", create_account=True)
    create_user(session, "acme", "a@acme.test", PASSWORD, "admin", create_account=True)
    create_user(session, "globex", "c@globex.test", PASSWORD, "admin", create_account=True)
    assert [(u.email, u.role) for u in list_users(session, "acme")] == [
        ("a@acme.test", "admin"),
        ("b@acme.test", "reviewer"),
    ]
    assert len(list_users(session)) == 3


# ---- the commands --------------------------------------------------------------------------


@pytest.fixture
def runner(app, monkeypatch):
    monkeypatch.setattr("app.cli.create_app", lambda: app)
    return CliRunner()


def test_users_create_reads_the_password_from_stdin_and_the_user_signs_in(app, runner):
    result = runner.invoke(
        main,
        [
            "users",
            "create",
            "--account",
            "initech",
            "--create-account",
            "--email",
            "Peter@Initech.test",
            "--role",
            "reviewer",
            "--password-stdin",
        ],
        input=PASSWORD + "\n",
    )
    assert result.exit_code == 0, result.output
    assert "Created reviewer peter@initech.test of account 'initech'" in result.output
    assert PASSWORD not in result.output
    client = signed_in_client(app, "peter@initech.test")
    assert client.get("/console").status_code == 200
    assert client.get("/console/api-keys").status_code == 403  # a reviewer

    listed = runner.invoke(main, ["users", "list"])
    assert listed.exit_code == 0, listed.output
    [line] = listed.output.strip().splitlines()
    assert line.startswith("initech\tpeter@initech.test\treviewer\tcreated ") and "active" in line


def test_users_create_refuses_what_it_cannot_make(runner):
    base = [
        "users",
        "create",
        "--account",
        "initech",
        "--create-account",
        "--email",
        "p@initech.test",
    ]
    no_password = runner.invoke(main, [*base, "--password-stdin"], input="")
    assert no_password.exit_code != 0 and "No password on standard input" in no_password.output
    short = runner.invoke(main, [*base, "--password-stdin"], input="short\n")
    assert short.exit_code != 0 and "at least 8 characters" in short.output
    bad_role = runner.invoke(main, [*base, "--role", "owner", "--password-stdin"], input=PASSWORD)
    assert bad_role.exit_code != 0
    assert runner.invoke(main, [*base, "--password-stdin"], input=PASSWORD).exit_code == 0
    twice = runner.invoke(main, [*base, "--password-stdin"], input=PASSWORD)
    assert twice.exit_code != 0 and "already exists" in twice.output


def test_users_create_refuses_an_unknown_account_without_create_account(app, runner):
    """A typo in --account would otherwise make an empty account for the user."""
    base = ["users", "create", "--email", "p@initech.test", "--password-stdin"]
    typo = runner.invoke(main, [*base, "--account", "initec"], input=PASSWORD)
    assert typo.exit_code != 0 and "No such account: initec" in typo.output
    made = runner.invoke(main, [*base, "--account", "initech", "--create-account"], input=PASSWORD)
    assert made.exit_code == 0, made.output
    second = ["users", "create", "--email", "q@initech.test", "--password-stdin"]
    existing = runner.invoke(main, [*second, "--account", "initech"], input=PASSWORD)
    assert existing.exit_code == 0, existing.output
    with app.app_context():
        assert db.session.scalars(select(Account.name)).all() == ["initech"]


def test_set_password_and_disable_end_sessions(app, runner):
    base = [
        "users",
        "create",
        "--account",
        "initech",
        "--create-account",
        "--email",
        "p@initech.test",
    ]
    assert (
        runner.invoke(
            main, [*base, "--role", "admin", "--password-stdin"], input=PASSWORD
        ).exit_code
        == 0
    )
    client = signed_in_client(app, "p@initech.test")
    changed = runner.invoke(
        main,
        ["users", "set-password", "--email", "p@initech.test", "--password-stdin"],
        input="a brand new password\n",
    )
    assert changed.exit_code == 0, changed.output
    assert client.get("/console").status_code == 302
    client = signed_in_client(app, "p@initech.test", "a brand new password")
    disabled = runner.invoke(main, ["users", "disable", "--email", "p@initech.test"])
    assert disabled.exit_code == 0, disabled.output
    assert client.get("/console").status_code == 302
    assert "disabled" in runner.invoke(main, ["users", "list"]).output
    missing = runner.invoke(main, ["users", "disable", "--email", "nobody@initech.test"])
    assert missing.exit_code != 0 and "No such user" in missing.output


# ---- the session key ----------------------------------------------------------------------


def test_the_session_key_is_made_once_in_a_file_only_its_owner_reads(tmp_path):
    key = instance_secret_key(tmp_path)
    path = tmp_path / SECRET_KEY_FILE
    assert len(key) == 64 and path.read_text().strip() == key
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert instance_secret_key(tmp_path) == key  # kept: sessions survive a restart


def test_hitblocks_secret_key_signs_the_sessions_when_set(tmp_path, monkeypatch):
    config = {"DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}", "TESTING": True}
    monkeypatch.setenv("HITBLOCKS_SECRET_KEY", "12345678901234567890")
    assert create_app(config).config["SECRET_KEY"] == "12345678901234567890"  # a str
    monkeypatch.delenv("HITBLOCKS_SECRET_KEY")
    app = create_app(config)
    assert app.config["SECRET_KEY"] == instance_secret_key(app.instance_path)
