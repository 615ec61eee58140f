"""Extract worker: SQS extract queue → distil an ended session into typed memories."""

from engram.extraction.worker import handle_extract_record
from engram.workers import sqs_lambda_handler

lambda_handler = sqs_lambda_handler(handle_extract_record)
