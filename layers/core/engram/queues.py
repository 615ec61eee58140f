"""The queues port: send a JSON message to one of the SQS queues (embed, extract, deliver)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Literal, Protocol

from engram import aws
from engram.config import get_settings
from engram.errors import ServiceUnavailable

QueueName = Literal["embed", "extract", "deliver"]


SEND_BATCH_LIMIT = 10  # SQS SendMessageBatch takes at most 10 entries


class Queues(Protocol):
    def send(self, queue: QueueName, body: dict[str, Any]) -> str: ...

    def send_many(self, queue: QueueName, bodies: Sequence[dict[str, Any]]) -> list[str]: ...


class SqsQueues:
    """Sends to the queue URLs named in the settings."""

    def __init__(self, sqs_client: Any, urls: dict[str, str | None]) -> None:
        self._sqs = sqs_client
        self._urls = urls

    def send(self, queue: QueueName, body: dict[str, Any]) -> str:
        response = self._sqs.send_message(QueueUrl=self._url(queue), MessageBody=_encode(body))
        return response["MessageId"]

    def send_many(self, queue: QueueName, bodies: Sequence[dict[str, Any]]) -> list[str]:
        """SendMessageBatch, ten at a time, in order. Raises if any message was not accepted
        (the caller undoes its write); the ones sent before stay sent, so consumers must be
        idempotent, as SQS's at-least-once delivery requires anyway."""
        url, ids = self._url(queue), []
        for start in range(0, len(bodies), SEND_BATCH_LIMIT):
            chunk = bodies[start:start + SEND_BATCH_LIMIT]
            response = self._sqs.send_message_batch(QueueUrl=url, Entries=[
                {"Id": str(i), "MessageBody": _encode(body)} for i, body in enumerate(chunk)])
            if response.get("Failed"):
                reasons = "; ".join(f"{f.get('Code')}: {f.get('Message', '')}" for f in response["Failed"])
                raise RuntimeError(f"{len(response['Failed'])} of {len(chunk)} messages were not "
                                   f"queued on {queue} ({reasons}).")
            by_entry = {entry["Id"]: entry["MessageId"] for entry in response.get("Successful", [])}
            ids.extend(by_entry[str(i)] for i in range(len(chunk)))
        return ids

    def _url(self, queue: QueueName) -> str:
        url = self._urls.get(queue)
        if not url:
            raise ServiceUnavailable(f"The {queue} queue is not configured ({queue.upper()}_QUEUE_URL).")
        return url


def _encode(body: dict[str, Any]) -> str:
    return json.dumps(body, sort_keys=True)


def get_queues() -> Queues:
    settings = get_settings()
    urls = {
        "embed": settings.embed_queue_url,
        "extract": settings.extract_queue_url,
        "deliver": settings.deliver_queue_url,
    }
    return SqsQueues(aws.client("sqs"), urls)
