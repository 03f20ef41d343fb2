"""Signature Version 4, checked as AWS checks it: the ``Authorization`` header parsed, the
request time within 15 minutes, and the signature recomputed with botocore's own signer over
the request as received, then compared in constant time.

Failures carry AWS's error types and messages, so that boto3 raises what it raises against
AWS. Nothing here touches the database: the caller finds the key's secret.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.auth import SIGV4_TIMESTAMP, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.compat import HTTPHeaders
from botocore.credentials import Credentials

ALGORITHM = "AWS4-HMAC-SHA256"
SERVICE = "mturk-requester"
MAX_SKEW = datetime.timedelta(minutes=15)
MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check "
    "your AWS Secret Access Key and signing method. Consult the service documentation for "
    "details."
)
_HEX_SIGNATURE = re.compile(r"[0-9a-f]{64}")
_PART = re.compile(r"\s*(Credential|SignedHeaders|Signature)=([^,\s]*)\s*")


class Refused(Exception):
    """An AWS authentication error: ``aws_type`` and ``message`` as AWS sends them."""

    def __init__(self, aws_type: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.aws_type, self.message, self.status = aws_type, message, status


@dataclass(frozen=True)
class Authorization:
    access_key_id: str
    date: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str


@dataclass(frozen=True)
class ReceivedRequest:
    """The request as it came: headers by lowercase name."""

    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes


def parse_authorization(header: str) -> Authorization:
    """``AWS4-HMAC-SHA256 Credential=KEY/DATE/REGION/SERVICE/aws4_request,
    SignedHeaders=a;b, Signature=HEX``; IncompleteSignatureException when a part is missing."""
    parts = {}
    for piece in header.removeprefix(ALGORITHM).split(","):
        match = _PART.fullmatch(piece)
        if match:
            parts[match.group(1)] = match.group(2)
    missing = [
        f"Authorization header requires '{name}' parameter."
        for name in ("Credential", "Signature", "SignedHeaders")
        if not parts.get(name)
    ]
    if missing:
        raise Refused("IncompleteSignatureException", " ".join(missing))
    if not _HEX_SIGNATURE.fullmatch(parts["Signature"]):  # compared as ASCII text below
        raise Refused(
            "IncompleteSignatureException", "Signature must be 64 hexadecimal characters."
        )
    scope = parts["Credential"].split("/")
    if len(scope) != 5 or scope[4] != "aws4_request" or not all(scope):
        raise Refused(
            "IncompleteSignatureException",
            "Credential should be scoped to a valid region, not a malformed scope.",
        )
    if scope[3] != SERVICE:
        raise Refused(
            "InvalidSignatureException",
            f"Credential should be scoped to correct service: '{SERVICE}'. ",
        )
    return Authorization(
        access_key_id=scope[0],
        date=scope[1],
        region=scope[2],
        service=scope[3],
        signed_headers=tuple(parts["SignedHeaders"].lower().split(";")),
        signature=parts["Signature"],
    )


def check_time(amz_date: str, now: datetime.datetime) -> None:
    """Within 15 minutes either side of ``now`` (naive UTC), as AWS requires."""
    try:
        at = datetime.datetime.strptime(amz_date, SIGV4_TIMESTAMP)
    except ValueError:
        raise Refused(
            "IncompleteSignatureException",
            f"Date must be in ISO-8601 'basic format'. Got '{amz_date}'.",
        ) from None
    stamp = now.strftime(SIGV4_TIMESTAMP)
    if at < now - MAX_SKEW:
        earliest = (now - MAX_SKEW).strftime(SIGV4_TIMESTAMP)
        raise Refused(
            "InvalidSignatureException",
            f"Signature expired: {amz_date} is now earlier than {earliest} ({stamp} - 15 min.)",
        )
    if at > now + MAX_SKEW:
        latest = (now + MAX_SKEW).strftime(SIGV4_TIMESTAMP)
        raise Refused(
            "InvalidSignatureException",
            f"Signature not yet current: {amz_date} is still later than {latest} "
            f"({stamp} + 15 min.)",
        )


def verify(
    request: ReceivedRequest, authorization: Authorization, secret: str, now: datetime.datetime
) -> None:
    """Raise ``Refused`` unless the request is fresh and signed with ``secret``."""
    amz_date = request.headers.get("x-amz-date", "")
    check_time(amz_date, now)
    if authorization.date != amz_date[:8] or "host" not in authorization.signed_headers:
        raise Refused("InvalidSignatureException", MISMATCH)
    declared_hash = request.headers.get("x-amz-content-sha256")
    if declared_hash is not None and declared_hash != hashlib.sha256(request.body).hexdigest():
        raise Refused("InvalidSignatureException", MISMATCH)  # the body must be signed too
    expected = expected_signature(request, authorization, secret, amz_date)
    if not hmac.compare_digest(expected, authorization.signature):
        raise Refused("InvalidSignatureException", MISMATCH)


def expected_signature(
    request: ReceivedRequest, authorization: Authorization, secret: str, amz_date: str
) -> str:
    """botocore's SigV4 over the headers the client signed, at the time it signed."""
    signed = {name: request.headers.get(name) for name in authorization.signed_headers}
    rebuilt = AWSRequest(
        method=request.method,
        url=request.url,
        headers={name: value for name, value in signed.items() if value is not None},
        data=request.body,
    )
    rebuilt.context["timestamp"] = amz_date
    signer = _SignedHeadersOnly(
        Credentials(authorization.access_key_id, secret),
        authorization.service,
        authorization.region,
        authorization.signed_headers,
    )
    canonical = signer.canonical_request(rebuilt)
    signature: str = signer.signature(signer.string_to_sign(rebuilt, canonical), rebuilt)
    return signature


class _SignedHeadersOnly(SigV4Auth):  # type: ignore[misc]
    """botocore's signer, signing exactly the headers the client listed in SignedHeaders
    (botocore on its own leaves some out, such as User-Agent, that other SDKs may sign)."""

    def __init__(
        self, credentials: Credentials, service: str, region: str, names: tuple[str, ...]
    ) -> None:
        super().__init__(credentials, service, region)
        self._names = names

    def headers_to_sign(self, request: Any) -> HTTPHeaders:
        headers = HTTPHeaders()
        for name in self._names:
            if name in request.headers:
                headers[name] = request.headers[name]
        return headers
