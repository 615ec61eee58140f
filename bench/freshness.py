"""Freshness and index faults (issue 20). Prints markdown tables.

    .venv/bin/python bench/freshness.py [--memories 2000] [--skip reindex,pending]

1. reindex: `engram admin reindex`'s path (Maintenance.reindex over IndexSync.sync_many, one
   bulk request per 500 memories, stored vectors reused) into the OpenSearch adapter against
   osmem-server on 127.0.0.1, moto in process; beside it, in the same run, the one-memory-
   at-a-time path it replaced (IndexSync.sync per memory), on the same memories.
   Target: >= 500 memories/s.
2. pending: p95 of SearchService.search (hybrid, keyword, semantic; query embedding
   included) on the local index with --indexed memories indexed and 0, 10 and 100 written
   but not yet indexed (read-your-writes scores those in process), moto in process; beside
   it, the same searches with the not-yet-indexed read switched off, and the read alone
   (one Query of the sparse GSI5).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from datetime import UTC, datetime
from typing import Any

from inprocess import isolate, moto_stack
from stack import cpu_note

isolate()


def _store(workspace_id: str, n: int, offset: int = 0) -> None:
    from metrics import Discard

    from engram import wiring
    from engram.memories.models import MemoryCreate
    from engram.memories.service import MemoryService

    service = MemoryService(wiring.memory_repository(), Discard(), Discard(), wiring.clock())  # type: ignore[arg-type]
    for start in range(offset, offset + n, 100):
        bodies = [
            MemoryCreate(content=f"Note {i}: the customer {i % 97} prefers email on weekdays.")
            for i in range(start, min(offset + n, start + 100))
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
    try:
        with moto_stack(backend):
            return _reindex_rows(server, n)
    finally:
        server.close(grace=5.0)


def _reindex_rows(server: Any, n: int) -> list[str]:
    from engram import wiring
    from engram.memories.maintenance_jobs import reindex as rebuild

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
    return rows


def _one_by_one(sync: Any, workspace: str) -> int:
    from engram import wiring

    done = 0
    for ws, memory_id in wiring.memory_repository().all_memory_ids(workspace):
        sync.sync(ws, memory_id)
        done += 1
    return done


def pending(indexed: int, searches: int) -> list[str]:
    with moto_stack({"SEARCH_BACKEND": "local"}):
        return _pending_rows(indexed, searches)


def _pending_rows(indexed: int, searches: int) -> list[str]:
    from metrics import percentile

    from engram import wiring
    from engram.search import pending as pending_module
    from engram.search import service as service_module
    from engram.search.models import SearchRequest
    from engram.search.service import SearchService

    workspace, repo = "ws_pending", wiring.memory_repository()
    _store(workspace, indexed)
    for page in repo.stored_pages(workspace):
        for start in range(0, len(page), 100):
            wiring.index_sync().sync_stored(page[start : start + 100])
    service = SearchService(wiring.search_index(), wiring.embedder, repo, wiring.clock())
    queries = [f"which channel does customer {i % 97} prefer" for i in range(searches)]
    rows = [
        "| pending | mode | search p50 / p95 (ms) | without the pending read p95 (ms) |",
        "|---:|---|---:|---:|",
    ]
    written = 0
    for wanted in (0, 10, 100):
        if wanted > written:
            _store(workspace, wanted - written, offset=indexed + written)
            written = wanted
        assert len(repo.unindexed(workspace, 500)) == wanted
        for mode in ("hybrid", "keyword", "semantic"):
            with_read = _timed(service, workspace, queries, mode, SearchRequest)
            real = service_module.read_pending
            service_module.read_pending = lambda *a: pending_module.Pending({}, frozenset())
            try:
                without = _timed(service, workspace, queries, mode, SearchRequest)
            finally:
                service_module.read_pending = real
            rows.append(
                f"| {wanted} | {mode} | {percentile(with_read, 0.5):.1f} / "
                f"{percentile(with_read, 0.95):.1f} | {percentile(without, 0.95):.1f} |"
            )
    samples = []
    for _ in range(searches):
        started = time.perf_counter()
        repo.unindexed("ws_none", 200)
        samples.append((time.perf_counter() - started) * 1000)
    rows.append(
        f"| (the read alone, nothing pending) | | {percentile(samples, 0.5):.2f} / "
        f"{percentile(samples, 0.95):.2f} | |"
    )
    return rows


def _timed(service: Any, workspace: str, queries: list[str], mode: str, request: Any) -> list:
    samples = []
    for query in queries:
        body = request(query=query, search_mode=mode, limit=10)
        started = time.perf_counter()
        service.search(workspace, body)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--memories", type=int, default=2000)
    parser.add_argument("--indexed", type=int, default=1000, help="memories indexed (pending)")
    parser.add_argument("--searches", type=int, default=100, help="searches per case (pending)")
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
    if "pending" not in skip:
        print(
            f"Search with memories not yet indexed, {args.indexed} indexed, {args.searches} "
            "searches per row (local index, moto in process):\n",
            flush=True,
        )
        print("\n".join(pending(args.indexed, args.searches)) + "\n", flush=True)
    print(f"Load average at the end: {os.getloadavg()[0]:.1f}", file=sys.stderr)


if __name__ == "__main__":
    main()
