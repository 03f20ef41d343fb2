"""The one place that knows which MTurk endpoint is in use and builds its boto3 client."""

from __future__ import annotations

import configparser
import functools
import threading
from dataclasses import dataclass

import boto3
from botocore.config import Config

AWS_ENDPOINTS = {
    "production": (
        "https://mturk-requester.us-east-1.amazonaws.com",
        "https://worker.mturk.com/projects/{group_id}/tasks",
    ),
    "sandbox": (
        "https://mturk-requester-sandbox.us-east-1.amazonaws.com",
        "https://workersandbox.mturk.com/projects/{group_id}/tasks",
    ),
}


@dataclass(frozen=True)
class Endpoint:
    """Where requests go, and where a worker previews a HIT there."""

    url: str
    preview_template: str  # "{hit_id}" and "{group_id}" are filled in
    is_aws: bool

    def preview_url(self, hit_id: str, group_id: str) -> str:
        return self.preview_template.format(hit_id=hit_id, group_id=group_id)


def resolve_endpoint(name: str, local_url: str) -> Endpoint:
    """``local`` (the bundled service), ``sandbox``, ``production``, or any service's URL."""
    if name in AWS_ENDPOINTS:
        url, preview = AWS_ENDPOINTS[name]
        return Endpoint(url, preview, is_aws=True)
    if name == "local":
        name = local_url
    if name.startswith(("http://", "https://")):
        base = name.rstrip("/")
        return Endpoint(base, base + "/worker/hits/{hit_id}", is_aws=False)
    raise ValueError(
        f"Unknown MTurk endpoint {name!r}: use local, sandbox, production or an http(s) URL."
    )


@dataclass(frozen=True)
class Credentials:
    """An access key pair (never logged: ``repr`` hides the secret)."""

    access_key_id: str
    secret_access_key: str

    def __repr__(self) -> str:
        return f"Credentials(access_key_id={self.access_key_id!r}, secret_access_key=...)"


def load_credentials_file(path: str, profile: str = "default") -> Credentials | None:
    """A profile of a file in ``~/.aws/credentials`` format, or None if it has none."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(path, encoding="utf-8")
    if not parser.has_section(profile):
        return None
    key_id = parser.get(profile, "aws_access_key_id", fallback="").strip()
    secret = parser.get(profile, "aws_secret_access_key", fallback="").strip()
    return Credentials(key_id, secret) if key_id and secret else None


def make_client(
    endpoint: Endpoint,
    *,
    credentials: Credentials | None = None,
    region: str = "us-east-1",
    max_attempts: int = 5,
    max_pool_connections: int = 10,
    read_timeout: float = 30.0,
) -> object:
    """A boto3 ``mturk`` client with retries set explicitly.

    botocore's "standard" retry mode retries ThrottlingException and other throttling codes,
    5xx answers and connection errors, with exponential backoff and jitter, up to
    ``max_attempts`` tries in all. Requests are signed with ``credentials`` if given, else
    with what the standard AWS credential chain finds.
    """
    session = _session()
    keys: dict[str, str] = {}
    if credentials is not None:
        keys = {
            "aws_access_key_id": credentials.access_key_id,
            "aws_secret_access_key": credentials.secret_access_key,
        }
    config = Config(
        retries={"mode": "standard", "total_max_attempts": max_attempts},
        connect_timeout=5,
        read_timeout=read_timeout,
        max_pool_connections=max_pool_connections,
    )
    with _lock:  # creating clients from one session is not thread-safe; using them is
        return session.client(
            "mturk", endpoint_url=endpoint.url, region_name=region, config=config, **keys
        )


_lock = threading.Lock()


@functools.cache
def _session() -> boto3.session.Session:
    """One boto3 session per process: it loads the service model once for every client."""
    return boto3.session.Session()
