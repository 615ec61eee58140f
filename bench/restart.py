"""Start time of the local stack over kept data: N memories in its data directory, from
process start to "Engram is ready" (the snapshot loaded into the emulator, the embedded
index rebuilt from the table), then a search that must find them.

    .venv/bin/python bench/restart.py [--sizes 10000 100000] [--events]

The data is made once per size, without embedding N texts: a stack stores one memory through
the API and stops; its kept items are then copied N times with new ids, LoCoMo turns as their
contents, random unit vectors, and the hashes the worker would record (so the rebuild reuses
every vector, as after a real restart), plus each memory's two events with --events (as the
API and the worker write them; they expire after EVENT_RETENTION_DAYS). The start is then timed
twice: over the snapshot alone, and over the snapshot plus a journal of 500 later writes."""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import stack as stack_module
from metrics import DATA, load, memory_content
from stack import LocalStack, machine_note

from engram_local.journal import DataDir

stack_module.READY_TIMEOUT = 900.0  # 100k memories take minutes on a loaded 2-core host
DIMENSION = 384
JOURNAL_WRITES = 500
_LOADED = re.compile(
    r"data: (\d+) items .* \(emulator ready in ([\d.]+) s, of which ([\d.]+) s writing"
)
_INDEX = re.compile(r"search index: rebuilt from the table, (\d+) memories in ([\d.]+) s")


def seed(data_dir: Path) -> None:
    """A stack stores one memory and stops, once it is embedded: the template of the copies."""
    with LocalStack({"ENGRAM_DATA_DIR": str(data_dir)}) as stack:
        headers = {"Authorization": f"Bearer {stack.api_key}"}
        with httpx.Client(base_url=stack.url, headers=headers, timeout=60) as http:
            memory = http.post("/v1/memories", json={"content": "Seed memory for copying."})
            memory.raise_for_status()
            memory_id = memory.json()["memory_id"]
            for _ in range(600):  # bounded: 60 s
                got = http.get(f"/v1/memories/{memory_id}").json()
                if got["embedding_status"] == "ready":
                    return
                time.sleep(0.1)
    raise RuntimeError("the seed memory was not embedded in 60 s")


def contents(n: int) -> list[str]:
    turns = [memory_content(t) for c in load(DATA, None) for t in c.turns]
    return [f"{turns[i % len(turns)]} (#{i})" for i in range(n)]


def grow(data_dir: Path, n: int, events: bool) -> None:
    """Rewrites the data directory's snapshot with n copies of its one memory."""
    from engram.adapters.local_embedder import LocalEmbedder
    from engram.text import content_hash, indexed_text

    model = LocalEmbedder().name
    data = DataDir(data_dir)
    data.lock()
    loaded = data.load()
    records = list(loaded.records)
    memory = next(r for r in reversed(records) if _type(r) == "Memory")  # its last image
    memory_id = memory["i"]["memory_id"]["S"]
    own_events = [r for r in records if _type(r) == "Event" and memory_id in json.dumps(r)]
    rng = np.random.default_rng(7)
    copies = []
    for i, text in enumerate(contents(n)):
        new_id = f"mem_bench{i:012d}"
        item = json.loads(json.dumps(memory).replace(memory_id, new_id))
        vector = rng.standard_normal(DIMENSION).astype(np.float32)
        vector /= np.linalg.norm(vector)
        attributes = item["i"]
        attributes["content"] = attributes["search_text"] = {"S": text}
        attributes["content_hash"] = {"S": content_hash(text)}
        attributes["embedded_hash"] = {"S": content_hash(f"{model}\n{indexed_text(None, text)}")}
        attributes["embedding"] = {"B": base64.b64encode(vector.tobytes()).decode()}
        copies.append(item)
        if events:
            copies += [json.loads(json.dumps(e).replace(memory_id, new_id)) for e in own_events]
    for record in records:
        if _type(record) == "Workspace":
            record["i"]["memory_count"] = {"N": str(n + 1)}
    data.open_journal(loaded.next_generation)
    data.write_snapshot(loaded.next_generation, [*records, *copies])
    data.close()


def _type(record: dict[str, Any]) -> str | None:
    return record.get("i", {}).get("type", {}).get("S")


def timed_start(data_dir: Path, n: int, journaled: int, then_write: int = 0) -> str:
    """One start over the data (`journaled`: the writes in its journal), timed; then
    `then_write` updates, which the next start finds in the journal."""
    with LocalStack({"ENGRAM_DATA_DIR": str(data_dir)}) as stack:
        log = stack.output()
        loaded, index = _LOADED.search(log), _INDEX.search(log)
        if not loaded or not index:
            raise RuntimeError(f"the stack did not report its start:\n{log[-2000:]}")
        headers = {"Authorization": f"Bearer {stack.api_key}"}
        with httpx.Client(base_url=stack.url, headers=headers, timeout=120) as http:
            found = http.post("/v1/memories/search", json={"query": "painting", "limit": 5})
            found.raise_for_status()
            if not found.json()["results"] or int(index.group(1)) < n:
                raise RuntimeError(f"not every memory is searchable: {index.group(0)}")
            for i in range(then_write):
                http.patch(
                    f"/v1/memories/mem_bench{i:012d}", json={"importance_score": 0.9}
                ).raise_for_status()
        rss = _rss_mb(stack.process.pid) if stack.process else 0
    return (
        f"| {n:,} | {journaled:,} | {stack.ready_s:.1f} | {float(loaded.group(2)):.1f} "
        f"| {int(loaded.group(1)):,} | {float(loaded.group(3)):.1f} | {float(index.group(2)):.1f} "
        f"| {rss:,} |"
    )


def _rss_mb(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    match = re.search(r"VmRSS:\s+(\d+) kB", status)
    return int(match.group(1)) // 1024 if match else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--events", action="store_true", help="two event items per memory")
    args = parser.parse_args()
    print(
        "| memories | writes in the journal | ready (s) | emulator loaded (s) | items "
        "| of which snapshot (s) | index rebuilt (s) | RSS (MB) |\n|---:|---:|---:|---:|---:|---:|---:|---:|",
        flush=True,
    )
    for n in args.sizes:
        with tempfile.TemporaryDirectory(prefix="engram-restart-") as tmp:
            data_dir = Path(tmp) / "data"
            seed(data_dir)
            grow(data_dir, n, args.events)
            size = sum(p.stat().st_size for p in data_dir.iterdir()) // (1024 * 1024)
            print(timed_start(data_dir, n, 0, then_write=JOURNAL_WRITES), flush=True)
            print(timed_start(data_dir, n, JOURNAL_WRITES), flush=True)
            print(f"(data directory {size:,} MB before the starts)", file=sys.stderr)
    print(f"\n{machine_note()}; {os.getloadavg()[0]:.1f} now", file=sys.stderr)


if __name__ == "__main__":
    main()
