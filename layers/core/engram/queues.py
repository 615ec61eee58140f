"""The queues port: send a JSON message to one of the SQS queues (embed, extract, deliver)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Literal, Protocol

from engram.errors import ServiceUnavailable

QueueName = Literal["embed", "extract", "deliver"]


SEND_BATCH_LIMIT = 10  # SQS SendMessageBatch takes at most 10 entries


class Queues(Protocol):
    def send(self, queue: QueueName, body: dict[str, Any]) -> str: ...

    def send_many(self, queue: QueueName, bodies: Sequence[dict[str, Any]]) -> list[str]: ...

    def send_each(
        self, queue: QueueName, bodies: Sequence[dict[str, Any]]
    ) -> list[str | Exception]: ...


class SqsQueues:
    """Sends to the queue URLs named in the settings."""

    def __init__(self, sqs_client: Any, urls: dict[str, str | None]) -> None:
        self._sqs = sqs_client
        self._urls = urls

    def send(self, queue: QueueName, body: dict[str, Any]) -> str:
        response = self._sqs.send_message(QueueUrl=self._url(queue), MessageBody=_encode(body))
        return response["MessageId"]

    def send_many(self, queue: QueueName, bodies: Sequence[dict[str, Any]]) -> list[str]:
        """All or an error: stops at the first batch with a message not accepted and raises
        (the caller undoes its write). The ones sent before stay sent, so consumers must be
        idempotent, as SQS's at-least-once delivery requires anyway."""
        outcomes = self._send(queue, bodies, stop_at_failure=True)
        failed = [o for o in outcomes if isinstance(o, Exception)]
        if failed:
            raise RuntimeError(
                f"Not all {len(bodies)} messages were queued on {queue}: {failed[0]}"
            )
        return [o for o in outcomes if isinstance(o, str)]

    def send_each(
        self, queue: QueueName, bodies: Sequence[dict[str, Any]]
    ) -> list[str | Exception]:
        """Every body, in order: its MessageId, or why it was not queued. Only an
        unconfigured queue raises."""
        return self._send(queue, bodies, stop_at_failure=False)

    def _send(
        self, queue: QueueName, bodies: Sequence[dict[str, Any]], stop_at_failure: bool
    ) -> list[str | Exception]:
        """SendMessageBatch, ten at a time, in order."""
        url = self._url(queue)
        outcomes: list[str | Exception] = []
        for start in range(0, len(bodies), SEND_BATCH_LIMIT):
            chunk = bodies[start : start + SEND_BATCH_LIMIT]
            try:
                response = self._sqs.send_message_batch(
                    QueueUrl=url,
                    Entries=[
                        {"Id": str(i), "MessageBody": _encode(body)} for i, body in enumerate(chunk)
                    ],
                )
            except Exception as exc:  # noqa: BLE001
                outcomes += [exc] * len(chunk)
            else:
                sent = {e["Id"]: e["MessageId"] for e in response.get("Successful", [])}
                refused = {
                    e["Id"]: RuntimeError(f"{e.get('Code')}: {e.get('Message', '')}")
                    for e in response.get("Failed", [])
                }
                outcomes += [
                    sent.get(str(i)) or refused.get(str(i)) or RuntimeError("no answer")
                    for i in range(len(chunk))
                ]
            if stop_at_failure and any(isinstance(o, Exception) for o in outcomes[start:]):
                break
        return outcomes

    def _url(self, queue: QueueName) -> str:
        url = self._urls.get(queue)
        if not url:
            raise ServiceUnavailable(
                f"The {queue} queue is not configured ({queue.upper()}_QUEUE_URL)."
            )
        return url


def _encode(body: dict[str, Any]) -> str:
    return json.dumps(body, sort_keys=True)
