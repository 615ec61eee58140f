"""Deliver worker: signed webhook POSTs from the deliver queue. Each record is one attempt;
a failed one is reported alone (partial batch failure) after its backoff delay is set."""

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)

from engram.observability import logger, metrics, tracer
from engram.webhooks.worker import handle_record

# An all-failed batch is still answered item by item: each record carries its own backoff.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event, context):
    return process_partial_response(event=event, record_handler=handle_record,
                                    processor=processor, context=context)
