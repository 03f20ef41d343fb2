"""Sending one webhook: Standard Webhooks signing, a short timeout, and no private targets.

Standard Webhooks (https://www.standardwebhooks.com): headers ``webhook-id`` (stable across
retries), ``webhook-timestamp`` (Unix seconds) and ``webhook-signature``:
``v1,`` + base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}")), the key being the base64
after the secret's ``whsec_`` prefix.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import secrets
import socket
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from urllib.parse import urlsplit

SECRET_PREFIX = "whsec_"
TIMEOUT_SECONDS = 5.0
MAX_ERROR_BODY = 500


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


class RefusedDestination(ValueError):
    pass


def check_destination(url: str, allow_private: bool, must_resolve: bool = True) -> None:
    """Refuse URLs that are not http(s) or that resolve to private, loopback, link-local or
    otherwise internal addresses (unless allowed), so that webhooks cannot reach our network.

    Checked when an endpoint is saved (a host that does not resolve yet is let through then)
    and again before every attempt, since DNS answers change.
    """
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise RefusedDestination("the URL must be http or https with a host")
    if allow_private:
        return
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 443, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        if not must_resolve:
            return
        raise RefusedDestination(f"the host does not resolve: {exc}") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global or address.is_multicast:
            raise RefusedDestination(f"{parts.hostname} resolves to a non-public address")


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    latency_ms: int
    error: str | None
    retry_after: float | None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def send(url: str, secret: str, message_id: str, body: bytes, allow_private: bool) -> Outcome:
    """POST one signed message; never raises (the outcome says what happened)."""
    started = time.monotonic()

    def outcome(status: int | None, error: str | None, retry_after: float | None = None) -> Outcome:
        return Outcome(status, int((time.monotonic() - started) * 1000), error, retry_after)

    try:
        check_destination(url, allow_private)
    except RefusedDestination as exc:
        return outcome(None, f"refused: {exc}")
    timestamp = int(time.time())
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "Hitblocks-Webhooks/1",
            "webhook-id": message_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(secret, message_id, timestamp, body),
        },
    )
    opener = urllib.request.build_opener(_NoRedirects)
    try:
        with opener.open(request, timeout=TIMEOUT_SECONDS) as response:
            return outcome(response.status, None)
    except urllib.error.HTTPError as error:
        detail = error.read(MAX_ERROR_BODY).decode(errors="replace")
        return outcome(
            error.code, detail or error.reason, _retry_after(error.headers.get("Retry-After"))
        )
    except (urllib.error.URLError, OSError) as error:
        return outcome(None, f"{type(error).__name__}: {error}")


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer, not an instruction: following it could reach a private host."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
