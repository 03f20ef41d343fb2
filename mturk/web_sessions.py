"""Signed cookie sessions for the web pages Hitblocks serves (the bundled service's worker
site, the API's console): one set of rules, so that both are safe from the same attacks;
and what both sites' sign-ins share: the key that signs the cookie, password hashing."""

from __future__ import annotations

import functools
import hashlib
import os
import secrets
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import Flask, Request, has_request_context, request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface

MAX_PASSWORD = 1024  # hashing cost grows with length; no real password is longer

# Argon2id (argon2-cffi, OWASP's first choice). Hashing takes tens of milliseconds and
# memory: callers hash outside transactions, which on SQLite hold the write lock.
password_hasher = PasswordHasher()


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return password_hasher.verify(password_hash, password[:MAX_PASSWORD])
    except (VerificationError, InvalidHashError):
        return False


@functools.cache
def decoy_hash() -> str:
    """Verified against when nobody has the email, so that an unknown email takes as long
    to refuse as a wrong password (no telling which emails have accounts by timing)."""
    return password_hasher.hash(secrets.token_urlsafe(16))


def password_stamp(password_hash: str) -> str:
    """Kept in the signed session and checked on every request: a new password changes it,
    so a password reset ends the sessions opened with the old one."""
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


def instance_secret_key(folder: str | Path, file_name: str) -> str:
    """The key that signs a site's sessions when none is configured: made on first start
    into a file only its owner can read, read from there afterwards, so that sessions
    survive restarts (and all web processes share it)."""
    path = Path(folder) / file_name
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as file:
        file.write(secrets.token_hex(32) + "\n")
    return path.read_text().strip()


class PlantProofSessions(SecureCookieSessionInterface):
    """Flask's signed cookie session, marked Secure whenever the request came over https
    (directly, or through a proxy that ProxyFix trusts), and safe from cookie tossing:
    cookies ignore ports and a sibling host may set cookies for the whole domain, so a task
    page's script could plant its own signed-in session for the site. Over https the
    cookie is ``__Host-`` prefixed (browsers let no other host set it); and a request that
    carries two session cookies (one planted) has no session at all."""

    def get_cookie_secure(self, app: Flask) -> bool:
        configured = bool(app.config["SESSION_COOKIE_SECURE"])
        return configured or (has_request_context() and request.is_secure)

    def get_cookie_name(self, app: Flask) -> str:
        name = super().get_cookie_name(app)
        return f"__Host-{name}" if has_request_context() and request.is_secure else name

    def open_session(self, app: Flask, incoming: Request) -> SecureCookieSession | None:
        if len(incoming.cookies.getlist(self.get_cookie_name(app))) > 1:
            return self.session_class()  # one of them was planted: trust neither
        return super().open_session(app, incoming)
