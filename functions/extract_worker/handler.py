"""Extract worker: SQS extract queue → distil an ended session into typed memories."""

from engram.bootstrap import bootstrap

bootstrap(api=False)  # first: before our models are imported (cold start)

from engram.extraction.worker import handle_extract_record  # noqa: E402
from engram.workers import sqs_lambda_handler  # noqa: E402

lambda_handler = sqs_lambda_handler(handle_extract_record)
