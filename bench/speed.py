"""Speed on this machine (issue 3): the embed worker's throughput, query embedding latency,
local-index search latency at 10k and 100k memories, and POST /v1/memories through the local
stack. Prints markdown tables.

    .venv/bin/python bench/speed.py [--memories 500] [--queries 200] [--sizes 10000 100000]
        [--posts 200] [--quick] [--skip worker,query,index,post]

1. Worker: N memories stored through MemoryService on moto (in process, as bench/locomo.py),
   then IndexSync.sync (the embed worker's per-record logic: read the memory, embed it, write
   the vector back, upsert the index, publish embedding.ready) for each, timed end to end.
   Texts are LoCoMo dialogue turns (../shared/bench/locomo-dev.json). Also shown: the same
   texts embedded alone one at a time (the worker's embed calls) and in batches of 32.
2. Query embedding: LocalEmbedder.embed([question]) for LoCoMo questions, after a warm-up.
3. Local index: bench/search_index.py's run() (random unit vectors, k = 40, knn, bm25 and
   the hybrid pair), query embedding excluded.
4. POST /v1/memories: one memory per request over HTTP to the local stack started in a
   subprocess (`python -m engram.local`), client-side wall time, after 10 warm-up requests.

--quick: 100 memories, 50 queries, 10k only, 50 posts.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from metrics import DATA, percentile

os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
                  AWS_DEFAULT_REGION="us-east-1", AWS_REGION="us-east-1",
                  TABLE_NAME="engram-bench", ORT_DISABLE_TELEMETRY="1",
                  POWERTOOLS_TRACE_DISABLED="true", POWERTOOLS_LOG_LEVEL="ERROR",
                  POWERTOOLS_METRICS_NAMESPACE="EngramBench")
for _name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "OPENSEARCH_ENDPOINT", "SEARCH_BACKEND",
              "EMBEDDER", "LOCAL_INDEX_PATH"):
    os.environ.pop(_name, None)


def texts(path: Path, n: int) -> tuple[list[str], list[str]]:
    data = json.loads(path.read_text())
    turns = [f"{t['speaker']}: {t['text']}" for item in data for k, v in item["conversation"].items()
             if k.startswith("session_") and isinstance(v, list) for t in v]
    questions = [qa["question"] for item in data for qa in item["qa"]]
    return turns[:n], questions[:n]


def _ms(samples: list[float]) -> str:
    return f"{statistics.median(samples):.1f} / {percentile(samples, 0.95):.1f}"


# --- 1. the embed worker ------------------------------------------------------------------

class _Discard:
    def send(self, queue: str, body: dict[str, Any]) -> str:
        return ""

    def send_many(self, queue: str, bodies: list[dict[str, Any]]) -> list[str]:
        return ["" for _ in bodies]

    def publish(self, event_type: str, workspace_id: str, data: dict[str, Any]) -> dict[str, Any]:
        return {}

    def publish_many(self, event_type: str, workspace_id: str,
                     datas: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{} for _ in datas]


def worker(memories: list[str]) -> list[str]:
    import boto3
    from moto import mock_aws

    from engram import aws, clock, config
    from engram.clock import get_clock
    from engram.events import EventFeed
    from engram.local.resources import create_resources, function_environment
    from engram.memories.models import MemoryCreate
    from engram.memories.repository import MemoryRepository
    from engram.memories.service import MemoryService
    from engram.search import embedder as embedder_module
    from engram.search import index as index_module
    from engram.search.sync import IndexSync

    with mock_aws():
        made = create_resources(boto3.client("dynamodb"), boto3.client("sqs"), prefix="engram-bench")
        os.environ.update(function_environment(made))
        for cached in (config.get_settings, clock.get_clock, embedder_module.get_embedder,
                       index_module.get_search_index):
            cached.cache_clear()
        aws.clear_caches()
        repo, now = MemoryRepository(aws.table()), get_clock()
        service = MemoryService(repo, _Discard(), _Discard(), now)  # type: ignore[arg-type]
        ids = []
        for start in range(0, len(memories), 90):
            chunk = [MemoryCreate(content=text, session_id="speed") for text in memories[start:start + 90]]
            ids += [m.memory_id for m in service.create("ws_speed", chunk)]
        embedder = embedder_module.get_embedder()
        embedder.embed(["warm up"])
        sync = IndexSync(repo, index_module.get_search_index(), embedder,
                         EventFeed(aws.table(), now), now)
        started = time.perf_counter()
        outcomes = [sync.sync("ws_speed", memory_id) for memory_id in ids]
        worker_s = time.perf_counter() - started
        assert outcomes.count("embedded") == len(ids), outcomes[:5]
        started = time.perf_counter()
        for text in memories:
            embedder.embed([text])
        single_s = time.perf_counter() - started
        started = time.perf_counter()
        embedder.embed(memories)
        batch_s = time.perf_counter() - started
    n = len(memories)
    rate = n / worker_s
    return [
        "| path | memories/s | ms per memory | target |",
        "|---|---:|---:|---|",
        f"| embed worker: IndexSync.sync per memory (moto in process) | {rate:.0f} | "
        f"{1000 * worker_s / n:.1f} | >= 300/s: {'met' if rate >= 300 else 'missed'} |",
        f"| its embedding alone, one text per call | {n / single_s:.0f} | {1000 * single_s / n:.1f} | |",
        f"| the same texts embedded in one call (batches of 32) | {n / batch_s:.0f} | "
        f"{1000 * batch_s / n:.1f} | |",
    ]


# --- 2. query embedding ---------------------------------------------------------------------

def query_embedding(questions: list[str]) -> list[str]:
    from engram.search.embedder import get_embedder

    embedder = get_embedder()
    embedder.embed(["warm up"])
    samples = []
    for question in questions:
        t = time.perf_counter()
        embedder.embed([question])
        samples.append((time.perf_counter() - t) * 1000)
    p95 = percentile(samples, 0.95)
    return ["| queries | p50 / p95 (ms) | target p95 <= 10 ms |", "|---:|---:|---|",
            f"| {len(samples)} | {_ms(samples)} | {'met' if p95 <= 10 else 'missed'} |"]


# --- 3. the local index ---------------------------------------------------------------------

def local_index(sizes: list[int], queries: int) -> list[str]:
    import search_index

    lines = search_index.header(queries).splitlines()[2:]
    for n in sizes:
        lines.append(search_index.row(search_index.run(n, queries)))
    return lines


# --- 4. POST /v1/memories through the stack --------------------------------------------------

def post_latency(posts: int) -> str:
    import httpx

    from stack import LocalStack

    with LocalStack() as stack:
        headers = {"Authorization": f"Bearer {stack.api_key}"}
        samples = []
        with httpx.Client(base_url=stack.url, headers=headers, timeout=60) as http:
            for i in range(posts + 10):
                body = {"content": f"Speed check {i}: the customer prefers email on weekdays.",
                        "memory_type": "fact", "tags": ["bench"]}
                t = time.perf_counter()
                response = http.post("/v1/memories", json=body)
                ms = (time.perf_counter() - t) * 1000
                if response.status_code != 201:
                    raise RuntimeError(f"POST /v1/memories: {response.status_code} {response.text[:300]}")
                if i >= 10:
                    samples.append(ms)
    p95 = percentile(samples, 0.95)
    return f"| {len(samples)} | {_ms(samples)} | {'met' if p95 <= 20 else 'missed'} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--memories", type=int, default=500)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--posts", type=int, default=200)
    parser.add_argument("--skip", default="", help="comma-separated: worker,query,index,post")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args()
    if args.quick:
        args.memories, args.queries, args.sizes, args.posts = 100, 50, [10_000], 50
    skip = set(filter(None, args.skip.split(",")))
    memories, questions = texts(args.data, max(args.memories, args.queries))
    print(f"Speed, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; Python {platform.python_version()}, "
          f"numpy {np.__version__}, {platform.machine()}, {os.cpu_count()} CPUs shared with other "
          f"work (load average {os.getloadavg()[0]:.1f} at the start); local embedder "
          "all-MiniLM-L6-v2 int8 (2 threads)\n", flush=True)
    if "worker" not in skip:
        print(f"Embed worker, {args.memories} LoCoMo turns:\n", flush=True)
        print("\n".join(worker(memories[:args.memories])) + "\n", flush=True)
    if "query" not in skip:
        print(f"Query embedding, {args.queries} LoCoMo questions:\n", flush=True)
        print("\n".join(query_embedding(questions[:args.queries])) + "\n", flush=True)
    if "index" not in skip:
        print("Local index search (query embedding excluded):\n", flush=True)
        print("\n".join(local_index(args.sizes, args.queries)) + "\n", flush=True)
    if "post" not in skip:
        print(f"POST /v1/memories through the local stack, one memory per request, {args.posts} "
              "requests after 10 warm-up:\n", flush=True)
        print("| requests | p50 / p95 (ms) | target p95 <= 20 ms |\n|---:|---:|---|")
        print(post_latency(args.posts), flush=True)
    print(f"\nLoad average at the end: {os.getloadavg()[0]:.1f}", file=sys.stderr)


if __name__ == "__main__":
    main()
