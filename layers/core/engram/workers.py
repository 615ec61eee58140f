"""The one shape of every SQS worker: Powertools' batch processor with partial batch
failures, so one bad record is retried alone and never fails or repeats its batch-mates."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from engram.observability import lambda_entry, logger

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse


def with_last_attempt(
    record: Any,
    job: Callable[[], str],
    give_up: Callable[[str], None],
    max_attempts: int,
    backoff: Callable[[int], int] | None = None,
) -> str:
    """Runs `job` for one SQS record. A failure re-raises so the queue retries the record;
    on the last attempt `give_up(reason)` runs first, so a dead-lettered job leaves its
    reason where users look (the memory, the session) rather than only in the DLQ.
    With `backoff(attempt)`, the record comes back after that many seconds instead of the
    queue's visibility timeout."""
    try:
        return job()
    except Exception as exc:
        attempt = int(record.attributes.approximate_receive_count or 1)
        if attempt >= max_attempts:
            give_up(f"{type(exc).__name__}: {exc}")
        elif backoff is not None:
            retry_in(record, backoff(attempt))
        logger.warning("job attempt failed", extra={"attempt": attempt, "error": str(exc)})
        raise


def backoff_seconds(attempt: int, first: int = 2, cap: int = 60) -> int:
    """2, 4, 8, ... seconds after attempts 1, 2, 3, ..., at most `cap`."""
    return min(cap, first * 2 ** (max(1, attempt) - 1))


def retry_in(record: Any, seconds: int) -> None:
    """Hides a failed record for `seconds` (its queue's own timeout applies otherwise)."""
    from engram import aws

    try:
        queue_url = record.queue_url
        aws.client("sqs").change_message_visibility(
            QueueUrl=queue_url, ReceiptHandle=record.receipt_handle, VisibilityTimeout=seconds
        )
    except Exception:  # noqa: BLE001 - the queue's own timeout still brings it back
        logger.exception("could not set the retry delay; the queue's default applies")


def sqs_lambda_handler(
    record_handler: Callable[..., Any],
    prepare: Callable[[list[dict]], Any] | None = None,
    **processor_options: Any,
) -> Callable[[dict, Any], PartialItemFailureResponse]:
    """A Lambda handler that runs `record_handler` on each SQS record (raise = retry it).

    With `prepare`, the batch's raw records go to `prepare` first (to do work for all of them
    at once) and `record_handler(record, prepared)` then settles each record from what it
    returned. If `prepare` itself fails, each record gets `prepared=None` and does its own work,
    so one bad batch-level call costs speed, not retries."""

    def handle(event: dict, context: Any) -> PartialItemFailureResponse:
        from aws_lambda_powertools.utilities.batch import (
            BatchProcessor,
            EventType,
            process_partial_response,
        )

        handler = record_handler
        if prepare is not None:
            prepared = _prepared(prepare, event.get("Records") or [])
            handler = functools.partial(record_handler, prepared=prepared)
        processor = BatchProcessor(event_type=EventType.SQS, **processor_options)
        return process_partial_response(
            event=event, record_handler=handler, processor=processor, context=context
        )

    return lambda_entry(handle)


def _prepared(prepare: Callable[[list[dict]], Any], records: list[dict]) -> Any:
    try:
        return prepare(records)
    except Exception:  # noqa: BLE001
        logger.exception("batch preparation failed; the records are handled one by one")
        return None
