"""Wiring of the maintenance jobs to the configured stores (the function and the CLI)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from engram import wiring


def reindex(workspace_id: str | None = None, progress: Callable[[int], None] | None = None) -> int:
    """Rebuilds the configured index in this process (stored vectors are reused)."""
    return wiring.maintenance().reindex(wiring.index_sync().sync, workspace_id, progress)


def run_maintenance(event: dict[str, Any]) -> dict[str, Any]:
    if event.get("action") == "reindex":
        return {"reindexed": reindex(event.get("workspace_id"))}
    return asdict(wiring.maintenance().run())
