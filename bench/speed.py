"""Speed on this machine: the embed worker against the model alone, query embedding latency,
local-index search latency at 10k and 100k memories, and POST /v1/memories through the local
stack against a bare emulator PutItem, and GET /v1/memories by a rare tag against a common
one at the same sizes. Prints markdown tables; the worker and POST targets
are ratios to a baseline measured in the same run (WORKER_RATIO, POST_RATIO, LIST_RATIO).

    .venv/bin/python bench/speed.py [--memories 500] [--queries 200] [--sizes 10000 100000]
        [--posts 200] [--batch 10] [--lists 30] [--quick] [--skip worker,query,index,post,list]

1. Worker: N memories stored through MemoryService on moto (in process), then the embed
   worker's lambda_handler (functions/embed_worker/handler.py) called with SQS events of
   --batch records (template.yaml's BatchSize: 50), timed end to end: one batch read, one
   embedding call, one transaction per 50 memories of their conditional vector writes and
   their embedding.ready events, one index upsert.
   Two corpora from ../shared/bench/locomo-dev.json: dialogue turns (mean ~32 tokens) and
   the dataset's observations, distilled facts (~18 tokens). The baseline: the model alone
   on the same batches of texts (LocalEmbedder.embed per batch, as the worker calls it),
   each batch right after the worker's, so both see the host's contention alike.
   The objects in the process before the timed part (moto's tables, the stored memories,
   the model) are set aside from Python's cyclic collector (gc.freeze) while it runs: a full
   collection walks every object in the process, and the fill's allocations set one off
   inside the worker's time (~0.25 ms per short memory, one in 500). A Lambda worker's
   process holds no emulator or table; the collections of what the timed part itself makes
   still count.
2. Query embedding: LocalEmbedder.embed([question]) for LoCoMo questions, after a warm-up.
3. Local index: bench/search_index.py's run() (random unit vectors, k = 40, knn, bm25 and
   the hybrid pair), query embedding excluded.
4. POST /v1/memories: one memory per request over HTTP to the local stack started in a
   subprocess (`python -m engram_local`), client-side wall time, after 10 warm-up requests.
   The baseline: boto3 PutItem of a small item to the same stack's emulator endpoint, one
   after each POST. Two stacks side by side, taking turns: one keeping its data (every write
   in its journal, fdatasync'd before the answer), one --in-memory; the cost of keeping the
   data is the ratio of their POST p95s (DURABLE_RATIO).

5. GET /v1/memories?tags=rare (10 memories of the workspace: a final page) against
   ?tags=common (every memory: a full page of 20) at 10k and 100k memories, the combined app
   in process over HTTP on moto (the items MemoryRepository.add_many writes, handed straight
   to moto's table, without embedding); each tag is one filter entry partition. The target: the rare tag's
   median within LIST_RATIO of the common one's.

--quick: 100 memories, 50 queries, 10k only, 50 posts.
"""

from __future__ import annotations

import argparse
import functools
import gc
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
from inprocess import isolate, moto_stack
from metrics import DATA, Discard, percentile
from stack import cpu_note

isolate()


# Targets as ratios to a baseline measured in the same run (hosts differ 2x between sessions):
WORKER_RATIO = 0.8  # the embed worker's memories/s over the model's alone on the same batches
POST_RATIO = 3.0  # POST /v1/memories p95 over one bare emulator PutItem round trip's p95
DURABLE_RATIO = 1.2  # POST p95 with the data kept (journal, fdatasync) over in memory only


def texts(path: Path, n: int) -> tuple[list[str], list[str]]:
    data = json.loads(path.read_text())
    turns = [
        f"{t['speaker']}: {t['text']}"
        for item in data
        for k, v in item["conversation"].items()
        if k.startswith("session_") and isinstance(v, list)
        for t in v
    ]
    questions = [qa["question"] for item in data for qa in item["qa"]]
    return turns[:n], questions[:n]


def short_memories(n: int, path: Path = DATA) -> list[str]:
    """LoCoMo's observations: the dataset's own distilled facts about the speakers ("Melanie
    painted a lake sunrise last year..."), i.e. what extraction stores, ~18 tokens each."""
    data = json.loads(path.read_text())
    facts = [
        fact[0]
        for item in data
        for session in item["observation"].values()
        for by_speaker in session.values()
        for fact in by_speaker
    ]
    return facts[:n]


def _ms(samples: list[float]) -> str:
    return f"{statistics.median(samples):.1f} / {percentile(samples, 0.95):.1f}"


# --- 1. the embed worker ------------------------------------------------------------------


class _Context:
    function_name, function_version, memory_limit_in_mb = "engram-bench", "$LATEST", 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:engram-bench"
    aws_request_id, log_group_name, log_stream_name = "bench", "/aws/lambda/engram-bench", "bench"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 60_000


def _sqs_events(workspace_id: str, memory_ids: list[str], batch: int) -> list[dict[str, Any]]:
    """What the SQS event source hands the embed worker: `batch` records per invocation."""
    records = [
        {
            "messageId": f"m{i}",
            "receiptHandle": f"r{i}",
            "eventSource": "aws:sqs",
            "body": json.dumps(
                {"kind": "memory.sync", "workspace_id": workspace_id, "memory_id": memory_id}
            ),
            "attributes": {"ApproximateReceiveCount": "1"},
            "messageAttributes": {},
            "md5OfBody": "",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:embed",
            "awsRegion": "us-east-1",
        }
        for i, memory_id in enumerate(memory_ids)
    ]
    return [{"Records": records[i : i + batch]} for i in range(0, len(records), batch)]


def _embed_worker_handler() -> Any:
    """functions/embed_worker/handler.py's lambda_handler, loaded from its file."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "functions" / "embed_worker" / "handler.py"
    spec = importlib.util.spec_from_file_location("embed_worker_handler", path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module.lambda_handler


def worker(corpora: dict[str, list[str]], batch: int) -> list[str]:
    """The embed worker's lambda_handler (functions/embed_worker) on SQS events of `batch`
    records, moto in process, for each corpus; then the model alone on the same texts."""
    from engram import aws, wiring
    from engram.memories.models import MemoryCreate
    from engram.memories.repository import MemoryRepository
    from engram.memories.service import MemoryService

    rows = [
        (
            "| texts | mean tokens | worker memories/s | model alone, same batches | ratio "
            f"| target >= {WORKER_RATIO} |"
        ),
        "|---|---:|---:|---:|---:|---|",
    ]
    with moto_stack():
        lambda_handler = _embed_worker_handler()
        service = MemoryService(MemoryRepository(aws.table()), Discard(), Discard(), wiring.clock())  # type: ignore[arg-type]
        embedder = wiring.embedder()
        embedder.embed(["warm up"])
        lambda_handler(_sqs_events("ws_warm", ["mem_none"], 1)[0], _Context())
        for name, texts in corpora.items():
            workspace = f"ws_{len(rows)}"
            ids = [
                m.memory_id
                for start in range(0, len(texts), 90)
                for m in service.create(
                    workspace, [MemoryCreate(content=t) for t in texts[start : start + 90]]
                )
            ]
            # Each batch through the worker, then the model alone on the same texts, in turn:
            # on a shared host both sides of the ratio see the same contention. What exists
            # before (the emulator's tables, the fill) is set aside from the collector.
            worker_s = model_s = 0.0
            gc.collect()
            gc.freeze()
            try:
                for start, event in zip(
                    range(0, len(texts), batch), _sqs_events(workspace, ids, batch), strict=True
                ):
                    started = time.perf_counter()
                    response = lambda_handler(event, _Context())
                    worker_s += time.perf_counter() - started
                    if response.get("batchItemFailures"):
                        raise RuntimeError(f"the worker failed records: {response}")
                    started = time.perf_counter()
                    embedder.embed(texts[start : start + batch])
                    model_s += time.perf_counter() - started
            finally:
                gc.unfreeze()
            from engram.text import count_tokens

            tokens = statistics.mean(count_tokens(t) for t in texts)
            n, ratio = len(texts), model_s / worker_s
            rows.append(
                f"| {name} ({n}) | {tokens:.0f} | {n / worker_s:.0f} | {n / model_s:.0f} | "
                f"{ratio:.2f} | {'met' if ratio >= WORKER_RATIO else 'missed'} |"
            )
    return rows


# --- 2. query embedding ---------------------------------------------------------------------


def query_embedding(questions: list[str]) -> list[str]:
    from engram import wiring

    embedder = wiring.embedder()
    embedder.embed(["warm up"])
    samples = []
    for question in questions:
        t = time.perf_counter()
        embedder.embed([question])
        samples.append((time.perf_counter() - t) * 1000)
    p95 = percentile(samples, 0.95)
    return [
        "| queries | p50 / p95 (ms) | target p95 <= 10 ms |",
        "|---:|---:|---|",
        f"| {len(samples)} | {_ms(samples)} | {'met' if p95 <= 10 else 'missed'} |",
    ]


# --- 3. the local index ---------------------------------------------------------------------


def local_index(sizes: list[int], queries: int) -> list[str]:
    import search_index

    lines = search_index.header(queries).splitlines()[2:]
    for n in sizes:
        lines.append(search_index.row(search_index.run(n, queries)))
    return lines


# --- 4. POST /v1/memories through the stack --------------------------------------------------


def put_item_timer(stack: Any) -> Any:
    """The baseline: one bare PutItem round trip to the same stack's emulator over HTTP."""
    import boto3

    client = boto3.client(
        "dynamodb", endpoint_url=stack.values["AWS_ENDPOINT_URL"], region_name="us-east-1"
    )
    table = stack.values["TABLE_NAME"]

    def put_item(i: int) -> float:
        item = {"PK": {"S": f"BENCH#{i}"}, "SK": {"S": "PUT"}, "content": {"S": "x" * 60}}
        t = time.perf_counter()
        client.put_item(TableName=table, Item=item)
        return (time.perf_counter() - t) * 1000

    return put_item


def post_latency(posts: int) -> list[str]:
    """Two stacks side by side, one keeping its data (the default), one --in-memory: each
    round is a POST and a bare PutItem to each, in turn, so all four see the same host."""
    import httpx
    from stack import LocalStack

    rows = []
    with LocalStack({"ENGRAM_IN_MEMORY": "1"}) as memory, LocalStack() as kept:
        stacks = {"in memory": memory, "kept (journal)": kept}
        timers = {name: put_item_timer(stack) for name, stack in stacks.items()}
        samples: dict[str, list[float]] = {name: [] for name in stacks}
        baseline: dict[str, list[float]] = {name: [] for name in stacks}
        clients = {
            name: httpx.Client(
                base_url=stack.url,
                headers={"Authorization": f"Bearer {stack.api_key}"},
                timeout=60,
            )
            for name, stack in stacks.items()
        }
        try:
            for i in range(posts + 10):
                for name, http in clients.items():
                    ms = _post_once(http, i)
                    put_ms = timers[name](i)
                    if i >= 10:
                        samples[name].append(ms)
                        baseline[name].append(put_ms)
        finally:
            for http in clients.values():
                http.close()
    for name in stacks:
        ratio = percentile(samples[name], 0.95) / percentile(baseline[name], 0.95)
        rows.append(
            f"| {name} | {len(samples[name])} | {_ms(samples[name])} | {_ms(baseline[name])} "
            f"| {ratio:.1f} | {'met' if ratio <= POST_RATIO else 'missed'} |"
        )
    kept_p95, memory_p95 = (percentile(samples[n], 0.95) for n in ("kept (journal)", "in memory"))
    cost = kept_p95 / memory_p95
    rows.append(
        f"\nKeeping the data: POST p95 {kept_p95:.1f} ms kept / {memory_p95:.1f} ms in memory "
        f"= {cost:.2f} (target <= {DURABLE_RATIO}: {'met' if cost <= DURABLE_RATIO else 'missed'})"
    )
    return rows


def _post_once(http: Any, i: int) -> float:
    body = {
        "content": f"Speed check {i}: the customer prefers email on weekdays.",
        "memory_type": "fact",
        "tags": ["bench"],
    }
    t = time.perf_counter()
    response = http.post("/v1/memories", json=body)
    ms = (time.perf_counter() - t) * 1000
    if response.status_code != 201:
        raise RuntimeError(f"POST /v1/memories: {response.status_code} {response.text[:300]}")
    return ms


# --- 5. list filters: a rare tag against a common one ---------------------------------------

LIST_RATIO = 2.0  # a rare tag's page time over a common tag's, at the same size


def _fill(table_name: str, workspace_id: str, size: int, rare: int) -> None:
    """`size` memories tagged `common`, `rare` of them spread evenly also tagged `rare`: the
    items MemoryRepository.add_many writes (each memory and its two or three filter
    entries), handed straight to moto's table (no HTTP, no transaction: a fill of 100k
    memories through boto3 takes most of an hour here)."""
    from datetime import timedelta

    from boto3.dynamodb.types import TypeSerializer
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    from engram.clock import iso
    from engram.dynamo import to_dynamo
    from engram.memories.models import Memory
    from engram.memories.repository import MemoryRepository, _entries

    backend = dynamodb_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]
    start, every, typed = datetime(2026, 1, 1, tzinfo=UTC), size // rare, TypeSerializer()
    for i in range(size):
        memory = Memory(
            memory_id=f"mem_{i:09d}",
            workspace_id=workspace_id,
            content=f"note {i}",
            tags=["common", "rare"] if i % every == every // 2 else ["common"],
            created_at=iso(start + timedelta(seconds=i)),
        )
        for item in (
            to_dynamo(MemoryRepository._item(memory, f"hash{i}", None)),
            *_entries(memory),
        ):
            backend.put_item(table_name, {k: typed.serialize(v) for k, v in item.items()})


def _get(client: Any, headers: dict[str, str], query: str) -> tuple[float, dict[str, Any]]:
    """One page of GET /v1/memories (limit 20): its wall time in ms, and its body."""
    started = time.perf_counter()
    response = client.get(f"/v1/memories?{query}&limit=20", headers=headers)
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise RuntimeError(f"{query}: {response.status_code} {response.text}")
    return elapsed, response.json()


def list_filters(sizes: list[int], requests: int, rare: int = 10) -> list[str]:
    """GET /v1/memories?tags=rare (`rare` memories: a final page) against ?tags=common (a
    full page of 20) at each size, the combined app in process over HTTP on moto, each rare
    request followed by a common one."""
    from fastapi.testclient import TestClient

    from engram import aws, wiring
    from engram_local.app import build_app

    rows = [
        (
            "| memories | ?tags=rare p50 / p95 (ms) | ?tags=common p50 / p95 (ms) | p50 ratio "
            f"| target <= {LIST_RATIO} |"
        ),
        "|---:|---:|---:|---:|---|",
    ]
    for size in sizes:
        with moto_stack():
            workspace, key = wiring.workspace_service().create_workspace("bench")
            started = time.perf_counter()
            _fill(aws.table().name, workspace.workspace_id, size, rare)
            print(f"  ({size} memories written in {time.perf_counter() - started:.0f} s)")
            headers = {"x-api-key": key.api_key}
            with TestClient(build_app()) as client:
                get = functools.partial(_get, client, headers)
                for query in ("tags=rare", "tags=common"):  # warm up
                    get(query)
                rare_ms, common_ms = [], []
                for _ in range(requests):
                    ms, page = get("tags=rare")
                    if len(page["data"]) != rare or page["has_more"]:
                        raise RuntimeError(f"tags=rare: not the final page of {rare}: {page}")
                    rare_ms.append(ms)
                    ms, page = get("tags=common")
                    if len(page["data"]) != 20 or not page["has_more"]:
                        raise RuntimeError("tags=common: not a full page")
                    common_ms.append(ms)
            ratio = statistics.median(rare_ms) / statistics.median(common_ms)
            rows.append(
                f"| {size} | {_ms(rare_ms)} | {_ms(common_ms)} | {ratio:.2f} | "
                f"{'met' if ratio <= LIST_RATIO else 'missed'} |"
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--memories", type=int, default=500)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--posts", type=int, default=200)
    parser.add_argument("--batch", type=int, default=50, help="SQS records per worker invocation")
    parser.add_argument("--lists", type=int, default=30, help="requests per list filter")
    parser.add_argument("--skip", default="", help="comma-separated: worker,query,index,post,list")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args()
    if args.quick:
        args.memories, args.queries, args.sizes, args.posts = 100, 50, [10_000], 50
    skip = set(filter(None, args.skip.split(",")))
    memories, questions = texts(args.data, max(args.memories, args.queries))
    print(
        f"Speed, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; Python {platform.python_version()}, "
        f"numpy {np.__version__}, {platform.machine()}, {os.cpu_count()} CPUs ({cpu_note()}) "
        f"shared with other work (load average {os.getloadavg()[0]:.1f} at the start); "
        "local embedder all-MiniLM-L6-v2 int8 (2 threads)\n",
        flush=True,
    )
    if "worker" not in skip:
        corpora = {
            "LoCoMo turns": memories[: args.memories],
            "short memories": short_memories(args.memories),
        }
        print(
            f"Embed worker ({args.batch} records per invocation, as template.yaml's BatchSize):\n",
            flush=True,
        )
        print("\n".join(worker(corpora, args.batch)) + "\n", flush=True)
    if "query" not in skip:
        print(f"Query embedding, {args.queries} LoCoMo questions:\n", flush=True)
        print("\n".join(query_embedding(questions[: args.queries])) + "\n", flush=True)
    if "index" not in skip:
        print("Local index search (query embedding excluded):\n", flush=True)
        print("\n".join(local_index(args.sizes, args.queries)) + "\n", flush=True)
    if "post" not in skip:
        print(
            f"POST /v1/memories through the local stack, one memory per request, {args.posts} "
            "requests after 10 warm-up:\n",
            flush=True,
        )
        print(
            "| data | requests | POST p50 / p95 (ms) | bare PutItem p50 / p95 (ms) | p95 ratio "
            f"| target <= {POST_RATIO} |\n|---|---:|---:|---:|---:|---|"
        )
        print("\n".join(post_latency(args.posts)), flush=True)
    if "list" not in skip:
        print(
            f"\nGET /v1/memories by tag, in process on moto, {args.lists} requests each after a "
            "warm-up; limit 20:\n",
            flush=True,
        )
        print("\n".join(list_filters(args.sizes, args.lists)), flush=True)
    print(f"\nLoad average at the end: {os.getloadavg()[0]:.1f}", file=sys.stderr)


if __name__ == "__main__":
    main()
