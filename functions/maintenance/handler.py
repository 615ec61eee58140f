"""Maintenance function: on its schedule, re-queue stuck embeds and purge expired soft
deletes; invoked with {"action": "reindex"} (optionally "workspace_id"), rebuild the index."""

from engram.bootstrap import bootstrap

bootstrap(api=False)  # first: before our models are imported (cold start)

from engram.memories.maintenance_jobs import run_maintenance  # noqa: E402
from engram.observability import lambda_entry  # noqa: E402


def maintain(event: dict, context: object) -> dict:
    return run_maintenance(event or {})


lambda_handler = lambda_entry(maintain)
