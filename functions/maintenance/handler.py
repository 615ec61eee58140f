"""Maintenance function: on its schedule, re-queue stuck embeds and purge expired soft
deletes; invoked with {"action": "reindex"} (optionally "workspace_id"), rebuild the index."""

from engram.memories.maintenance_jobs import run_maintenance
from engram.observability import logger, metrics, tracer


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: object) -> dict:
    return run_maintenance(event or {})
