"""The SQS adapter of MTurk's notifications: receives its boto3 ``sqs`` client, long-polls
the queue and deletes what was handled, in batches; the rest of Hitblocks sees our own
``QueueMessage`` and ``QueueUnavailable``."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

log = logging.getLogger(__name__)

WAIT_SECONDS = 20  # SQS's longest long poll: an idle queue costs 3 receives a minute
MAX_MESSAGES = 10  # SQS's largest batch, for receiving and deleting alike
_AWS_QUEUE_HOST = re.compile(r"(?:sqs\.([a-z0-9-]+)|([a-z0-9-]+)\.queue)\.amazonaws\.com(?:\.cn)?")


class QueueUnavailable(Exception):
    """The queue could not be read or written (down, unreachable, refused): try again later."""


@dataclass(frozen=True)
class QueueMessage:
    message_id: str
    receipt_handle: str
    body: str
    receive_count: int  # how many times the queue has handed it out, this time included


def queue_region(queue_url: str) -> str | None:
    """The region an AWS queue URL names by its host; None for another service's URL."""
    host = urlsplit(queue_url).hostname or ""
    if host in {"queue.amazonaws.com", "sqs.amazonaws.com"}:
        return "us-east-1"
    match = _AWS_QUEUE_HOST.fullmatch(host)
    return (match.group(1) or match.group(2)) if match else None


def sqs_client(queue_url: str) -> Any:
    """A boto3 SQS client from the standard AWS settings: endpoint from AWS_ENDPOINT_URL_SQS
    or AWS_ENDPOINT_URL (boto3 reads them itself), credentials from its chain, region from the
    queue's URL, else the configured one, else us-east-1. Its read timeout outlasts a long
    poll."""
    session = boto3.session.Session()
    region = queue_region(queue_url) or session.region_name or "us-east-1"
    config = Config(
        retries={"mode": "standard", "max_attempts": 3},
        connect_timeout=5,
        read_timeout=WAIT_SECONDS + 10,
    )
    return session.client("sqs", region_name=region, config=config)


class SqsQueue:
    def __init__(
        self,
        client: Any,
        url: str,
        *,
        wait_seconds: int = WAIT_SECONDS,
        visibility_timeout: int | None = None,
    ) -> None:
        """``visibility_timeout``: how long a received message stays hidden before it is
        handed out again (None: the queue's own setting, 30 s unless changed)."""
        self.client = client
        self.url = url
        self.wait_seconds = wait_seconds
        self.visibility_timeout = visibility_timeout

    def receive(self) -> list[QueueMessage]:
        """Up to ten messages, waiting up to ``wait_seconds`` for the first one."""
        params: dict[str, Any] = {
            "QueueUrl": self.url,
            "MaxNumberOfMessages": MAX_MESSAGES,
            "WaitTimeSeconds": self.wait_seconds,
            "MessageSystemAttributeNames": ["ApproximateReceiveCount"],
        }
        if self.visibility_timeout is not None:
            params["VisibilityTimeout"] = self.visibility_timeout
        try:
            answer = self.client.receive_message(**params)
        except (ClientError, BotoCoreError) as error:
            raise QueueUnavailable(f"receiving from {self.url}: {error}") from error
        return [
            QueueMessage(
                message_id=raw["MessageId"],
                receipt_handle=raw["ReceiptHandle"],
                body=raw.get("Body", ""),
                receive_count=int(raw.get("Attributes", {}).get("ApproximateReceiveCount", 1)),
            )
            for raw in answer.get("Messages", [])
        ]

    def delete(self, messages: list[QueueMessage]) -> None:
        """Delete these messages, ten a call. One SQS would not delete comes back after its
        visibility timeout and is found a duplicate then: logged, not raised."""
        for start in range(0, len(messages), MAX_MESSAGES):
            chunk = messages[start : start + MAX_MESSAGES]
            entries = [
                {"Id": str(n), "ReceiptHandle": message.receipt_handle}
                for n, message in enumerate(chunk)
            ]
            try:
                answer = self.client.delete_message_batch(QueueUrl=self.url, Entries=entries)
            except (ClientError, BotoCoreError) as error:
                raise QueueUnavailable(f"deleting from {self.url}: {error}") from error
            for failed in answer.get("Failed", []):
                log.warning(
                    "SQS did not delete message %s: %s",
                    chunk[int(failed["Id"])].message_id,
                    failed.get("Message", failed.get("Code")),
                )
