"""Wiring of the maintenance jobs to the configured stores (the function and the CLI)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from engram import wiring


def reindex(workspace_id: str | None = None, progress: Callable[[int], None] | None = None) -> int:
    """Rebuilds the configured index in this process (stored vectors are reused)."""
    return wiring.maintenance().reindex(wiring.index_sync().sync_stored, workspace_id, progress)


def heal_index() -> int:
    """Re-indexes every workspace whose index holds fewer memories than the table."""
    return wiring.maintenance().heal_index(
        wiring.workspace_repository().all_ids(),
        wiring.search_index().count,
        wiring.index_sync().sync_stored,
    )


def run_maintenance(event: dict[str, Any]) -> dict[str, Any]:
    if event.get("action") == "reindex":
        return {"reindexed": reindex(event.get("workspace_id"))}
    if event.get("action") == "heal-index":
        return {"healed": heal_index()}
    report = asdict(wiring.maintenance().run())
    report["healed"] = heal_index()
    return report
