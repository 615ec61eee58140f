"""Embed worker: SQS embed queue → embed the memory, upsert its search document."""

from engram.bootstrap import bootstrap

bootstrap(api=False)  # first: before our models are imported (cold start)

from engram.search.worker import handle_embed_record, prepare_embed_batch  # noqa: E402
from engram.workers import sqs_lambda_handler  # noqa: E402

lambda_handler = sqs_lambda_handler(handle_embed_record, prepare=prepare_embed_batch)
