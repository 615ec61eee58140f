"""Freshness and index faults (issue 20). Prints markdown tables.

    .venv/bin/python bench/freshness.py [--memories 2000] [--skip reindex,pending]

1. reindex: `engram admin reindex`'s path (Maintenance.reindex over IndexSync.sync_many, one
   bulk request per 500 memories, stored vectors reused) into the OpenSearch adapter against
   osmem-server on 127.0.0.1, moto in process; beside it, in the same run, the one-memory-
   at-a-time path it replaced (IndexSync.sync per memory), on the same memories.
   Target: >= 500 memories/s.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from datetime import UTC, datetime
from typing import Any

os.environ.update(
    AWS_ACCESS_KEY_ID="bench",
    AWS_SECRET_ACCESS_KEY="bench",
    AWS_DEFAULT_REGION="us-east-1",
    AWS_REGION="us-east-1",
    ORT_DISABLE_TELEMETRY="1",
    POWERTOOLS_TRACE_DISABLED="true",
    POWERTOOLS_LOG_LEVEL="ERROR",
    POWERTOOLS_METRICS_NAMESPACE="EngramBench",
)
for _name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "EMBEDDER", "LOCAL_INDEX_PATH"):
    os.environ.pop(_name, None)

from stack import cpu_note


def _clear_caches() -> None:
    from engram import wiring

    wiring.reset()


def _moto(backend: dict[str, str]) -> Any:
    """moto in process with the template's resources; the settings point at them."""
    import boto3
    from engram_local import moto_fixes
    from engram_local.resources import create_resources, function_environment
    from moto import mock_aws

    moto_fixes.apply()
    mock = mock_aws()
    mock.start()
    made = create_resources(boto3.client("dynamodb"), boto3.client("sqs"), prefix="engram-bench")
    os.environ.update({**function_environment(made), **backend})
    _clear_caches()
    return mock


def _store(workspace_id: str, n: int) -> None:
    from engram import aws
    from engram.clock import get_clock
    from engram.memories.models import MemoryCreate
    from engram.memories.repository import MemoryRepository
    from engram.memories.service import MemoryService
    from metrics import Discard

    service = MemoryService(MemoryRepository(aws.table()), Discard(), Discard(), get_clock())  # type: ignore[arg-type]
    for start in range(0, n, 100):
        bodies = [
            MemoryCreate(content=f"Note {i}: the customer {i % 97} prefers email on weekdays.")
            for i in range(start, min(n, start + 100))
        ]
        service.create(workspace_id, bodies)


def reindex(n: int) -> list[str]:
    from osmem_server import OsmemServer

    server = OsmemServer.start(japanese=False, addr="127.0.0.1:0", startup_timeout=30.0)
    backend = {
        "SEARCH_BACKEND": "opensearch",
        "OPENSEARCH_ENDPOINT": server.url,
        "OPENSEARCH_INDEX": "engram-bench",
    }
    mock = _moto(backend)
    try:
        from engram.memories.maintenance_jobs import build_maintenance
        from engram.memories.maintenance_jobs import reindex as rebuild
        from engram import wiring

        workspace = "ws_bench"
        _store(workspace, n)
        started = time.perf_counter()
        rebuild(workspace)  # embeds every memory once, so both runs below reuse vectors
        first_s = time.perf_counter() - started
        index, sync = wiring.search_index(), wiring.index_sync()
        rows = [
            "| path | memories | s | memories/s | target >= 500/s |",
            "|---|---:|---:|---:|---|",
            f"| first build (embeds each memory) | {n} | {first_s:.1f} | {n / first_s:.0f} | |",
        ]
        for name, run in (
            ("one by one (IndexSync.sync each, before)", lambda: _one_by_one(sync, workspace)),
            ("`engram admin reindex` (bulk of 500)", lambda: rebuild(workspace)),
        ):
            server.request("DELETE", "/engram-bench")
            started = time.perf_counter()
            done = run()
            seconds = time.perf_counter() - started
            assert index.count(workspace) == n, (name, index.count(workspace))
            rate = done / seconds
            verdict = "met" if rate >= 500 else "missed"
            rows.append(f"| {name} | {done} | {seconds:.1f} | {rate:.0f} | {verdict} |")
        build_maintenance()  # keeps the import used
        return rows
    finally:
        mock.stop()
        server.close(grace=5.0)


def _one_by_one(sync: Any, workspace: str) -> int:
    from engram import aws
    from engram.memories.repository import MemoryRepository

    done = 0
    for ws, memory_id in MemoryRepository(aws.table()).all_memory_ids(workspace):
        sync.sync(ws, memory_id)
        done += 1
    return done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--memories", type=int, default=2000)
    parser.add_argument("--skip", default="", help="comma-separated: reindex,pending")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    print(
        f"Freshness, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; Python "
        f"{platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs "
        f"({cpu_note()}), load average {os.getloadavg()[0]:.1f} at the start\n",
        flush=True,
    )
    if "reindex" not in skip:
        print(f"Reindex into osmem-server, {args.memories} memories:\n", flush=True)
        print("\n".join(reindex(args.memories)) + "\n", flush=True)
    print(f"Load average at the end: {os.getloadavg()[0]:.1f}", file=sys.stderr)


if __name__ == "__main__":
    main()
