"""Embed worker: SQS embed queue → embed the memory, upsert its search document."""

from engram.search.worker import handle_embed_record, prepare_embed_batch
from engram.workers import sqs_lambda_handler

lambda_handler = sqs_lambda_handler(handle_embed_record, prepare=prepare_embed_batch)
