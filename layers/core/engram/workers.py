"""The one shape of every SQS worker: Powertools' batch processor with partial batch
failures, so one bad record is retried alone and never fails or repeats its batch-mates."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def sqs_lambda_handler(record_handler: Callable[[Any], Any]) -> Callable[[dict, Any], dict]:
    """A Lambda handler that runs `record_handler` on each SQS record (raise = retry it)."""
    from aws_lambda_powertools.utilities.batch import (
        BatchProcessor,
        EventType,
        process_partial_response,
    )

    from engram.observability import logger, metrics, tracer

    processor = BatchProcessor(event_type=EventType.SQS)

    @logger.inject_lambda_context
    @tracer.capture_lambda_handler
    @metrics.log_metrics
    def lambda_handler(event: dict, context: Any) -> dict:
        return process_partial_response(event=event, record_handler=record_handler,
                                        processor=processor, context=context)

    return lambda_handler
