"""Deliver worker: signed webhook POSTs from the deliver queue. Each record is one attempt;
a failed one is reported alone (partial batch failure) after its backoff delay is set."""

from engram.bootstrap import bootstrap

bootstrap(api=False)  # first: before our models are imported (cold start)

from engram.webhooks.worker import handle_record  # noqa: E402
from engram.workers import sqs_lambda_handler  # noqa: E402

# An all-failed batch is still answered item by item: each record carries its own backoff.
lambda_handler = sqs_lambda_handler(handle_record, raise_on_entire_batch_failure=False)
