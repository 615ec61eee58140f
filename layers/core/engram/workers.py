"""The one shape of every SQS worker: Powertools' batch processor with partial batch
failures, so one bad record is retried alone and never fails or repeats its batch-mates."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engram.observability import lambda_entry, logger


def with_last_attempt(record: Any, job: Callable[[], str], give_up: Callable[[str], None],
                      max_attempts: int) -> str:
    """Runs `job` for one SQS record. A failure re-raises so the queue retries the record;
    on the last attempt `give_up(reason)` runs first, so a dead-lettered job leaves its
    reason where users look (the memory, the session) rather than only in the DLQ."""
    try:
        return job()
    except Exception as exc:
        attempt = int(record.attributes.approximate_receive_count or 1)
        if attempt >= max_attempts:
            give_up(f"{type(exc).__name__}: {exc}")
        logger.warning("job attempt failed", extra={"attempt": attempt, "error": str(exc)})
        raise


def sqs_lambda_handler(record_handler: Callable[[Any], Any],
                       **processor_options: Any) -> Callable[[dict, Any], dict]:
    """A Lambda handler that runs `record_handler` on each SQS record (raise = retry it)."""

    def handle(event: dict, context: Any) -> dict:
        from aws_lambda_powertools.utilities.batch import (
            BatchProcessor,
            EventType,
            process_partial_response,
        )

        processor = BatchProcessor(event_type=EventType.SQS, **processor_options)
        return process_partial_response(event=event, record_handler=record_handler,
                                        processor=processor, context=context)

    return lambda_entry(handle)
