"""The queues port: send a JSON message to one of the SQS queues (embed, extract, deliver)."""

from __future__ import annotations

import json
from typing import Any, Literal, Protocol

from engram import aws
from engram.config import get_settings
from engram.errors import ServiceUnavailable

QueueName = Literal["embed", "extract", "deliver"]


class Queues(Protocol):
    def send(self, queue: QueueName, body: dict[str, Any]) -> str: ...


class SqsQueues:
    """Sends to the queue URLs named in the settings."""

    def __init__(self, sqs_client: Any, urls: dict[str, str | None]) -> None:
        self._sqs = sqs_client
        self._urls = urls

    def send(self, queue: QueueName, body: dict[str, Any]) -> str:
        url = self._urls.get(queue)
        if not url:
            raise ServiceUnavailable(f"The {queue} queue is not configured ({queue.upper()}_QUEUE_URL).")
        response = self._sqs.send_message(QueueUrl=url, MessageBody=json.dumps(body, sort_keys=True))
        return response["MessageId"]


def get_queues() -> Queues:
    settings = get_settings()
    urls = {
        "embed": settings.embed_queue_url,
        "extract": settings.extract_queue_url,
        "deliver": settings.deliver_queue_url,
    }
    return SqsQueues(aws.client("sqs"), urls)
