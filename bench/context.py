"""Context and extraction speed and quality (issue 4). Prints markdown tables.

    .venv/bin/python bench/context.py [--memories 10000] [--requests 30] [--quick]
        [--skip context,extract,stack-extract,quality]

1. Context through the local stack (started in a subprocess): N distilled memories (decision,
   preference, pattern, fact, entity in turn; importance spread over 0.1-0.9; texts from
   LoCoMo turns) created with batch POST /v1/memories (100 per request) in the development
   workspace; the queue pump embeds them all (bounded wait until the embed queue is empty;
   --embed-last N drains the queue instead for all but the last N). Then GET
   /v1/sessions/{id}/context for a new session: default; with `query`; with `query` and
   `max_tokens=500`; client-side wall time, p50/p95, after 5 warm-up requests each.
2. Extraction time for a 100-message session: HeuristicExtractor.extract on 100 episodes
   (the fixture conversations' messages in turn, new ids and times), median of 20 runs; and
   the whole job through the stack: POST 100 messages, end the session, wait (bounded) until
   `summary_status` is ready (the pump runs extract_worker).
3. Extraction quality on tests/fixtures/conversations/*.json: precision = yielded memories
   that match a must_yield rule / yielded; recall = must_yield rules matched / rules;
   must_not_yield hits listed. Matching as tests/unit/test_heuristic_extractor.py.

--quick: 1,000 memories, 10 requests, 5 extraction runs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from metrics import DATA, percentile
from stack import LocalStack

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "conversations"
TYPES = ("decision", "preference", "pattern", "fact", "entity")
BATCH = 100  # the API's batch limit
WAIT = 300.0
EMBED_WAIT = 1200.0  # bound on waiting for the pump to embed every memory


def _ms(samples: list[float]) -> str:
    return f"{statistics.median(samples):.0f} / {percentile(samples, 0.95):.0f}"


def _check(response: httpx.Response, what: str) -> Any:
    if response.status_code >= 300:
        raise RuntimeError(f"{what}: HTTP {response.status_code} {response.text[:300]}")
    return response.json() if response.content else None


def _turn_texts(n: int) -> list[str]:
    data = json.loads(DATA.read_text())
    turns = [
        t["text"]
        for item in data
        for k, v in item["conversation"].items()
        if k.startswith("session_") and isinstance(v, list)
        for t in v
    ]
    return [turns[i % len(turns)] for i in range(n)]


# --- 1. context through the stack -----------------------------------------------------------


def _sqs(stack: LocalStack) -> tuple[Any, str]:
    import boto3

    values = dict(
        line.split("=", 1)
        for line in stack.env_file.read_text().splitlines()
        if line and not line.startswith("#")
    )
    sqs = boto3.client(
        "sqs",
        endpoint_url=values["AWS_ENDPOINT_URL"],
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    return sqs, values["EMBED_QUEUE_URL"]


def _queued(sqs: Any, url: str) -> int:
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return sum(int(attributes.get(name, 0)) for name in names)


def _drain(sqs: Any, url: str, rounds: int = 50) -> int:
    """Receives and deletes what the embed queue holds (PurgeQueue is once a minute); answers
    how many messages it took. The pump keeps the few it already received."""
    taken = 0
    for _ in range(rounds):
        got = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0, VisibilityTimeout=60
        ).get("Messages", [])
        if not got:
            break
        sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)
            ],
        )
        taken += len(got)
    return taken


def store_memories(
    stack: LocalStack, http: httpx.Client, n: int, embed_last: int
) -> tuple[float, int]:
    """Stores n memories; the embed queue is drained after every batch but those holding the
    last `embed_last` memories, which are then embedded (bounded wait). Answers (seconds to
    store, memories embedded)."""
    sqs, url = _sqs(stack)
    texts = _turn_texts(n)
    purged = 0
    started = time.monotonic()
    for start in range(0, n, BATCH):
        body = {
            "memories": [
                {
                    "content": texts[i],
                    "memory_type": TYPES[i % len(TYPES)],
                    "title": f"{TYPES[i % len(TYPES)].title()} {i}",
                    "importance_score": round(0.1 + 0.8 * ((i * 7919) % 1000) / 1000, 3),
                    "tags": [f"topic:{i % 20}"],
                }
                for i in range(start, min(n, start + BATCH))
            ]
        }
        _check(http.post("/v1/memories", json=body), "store a batch")
        if start + BATCH < n - embed_last:
            purged += _drain(sqs, url)
    store_s = time.monotonic() - started
    deadline = time.monotonic() + EMBED_WAIT
    while _queued(sqs, url) and time.monotonic() < deadline:
        time.sleep(1)
    left = _drain(sqs, url)
    return store_s, n - purged - left


def timed_gets(
    http: httpx.Client, path: str, params: dict[str, Any], n: int
) -> tuple[list[float], Any]:
    samples, body = [], None
    for i in range(n + 5):
        t = time.perf_counter()
        body = _check(http.get(path, params=params), f"GET {path}")
        if i >= 5:
            samples.append((time.perf_counter() - t) * 1000)
    return samples, body


def context_rows(stack: LocalStack, memories: int, requests: int, embed_last: int) -> list[str]:
    headers = {"Authorization": f"Bearer {stack.api_key}"}
    with httpx.Client(base_url=stack.url, headers=headers, timeout=120) as http:
        store_s, ready = store_memories(stack, http, memories, embed_last)
        sid = _check(http.post("/v1/sessions", json={"agent_id": "bench"}), "session")["session_id"]
        path = f"/v1/sessions/{sid}/context"
        variants = [
            ("default", {}),
            ("query='what does she like to paint'", {"query": "what does she like to paint"}),
            ("query + max_tokens=500", {"query": "what does she like to paint", "max_tokens": 500}),
        ]
        rows = []
        for name, params in variants:
            samples, body = timed_gets(http, path, params, requests)
            ctx = body["context"]
            rows.append(
                f"| {name} | {len(samples)} | {_ms(samples)} | "
                f"{len(ctx.get('recent_memories', []))} / {len(ctx.get('relevant_memories') or [])} "
                f"| {body['token_estimate']} |"
            )
    drained = (
        ""
        if ready >= memories
        else " (the embed queue was drained after each earlier batch, "
        "so that background embedding did not slow the writes)"
    )
    head = [
        (
            f"{memories:,} memories stored in {store_s:.0f} s with batch POSTs; about {ready:,} of them "
            f"embedded and in the search index{drained}; requests start once the embed queue is "
            "empty.\n"
        ),
        (
            "| GET /v1/sessions/{id}/context | requests | p50 / p95 (ms) | recent / relevant "
            "memories returned | token_estimate |"
        ),
        "|---|---:|---:|---|---:|",
    ]
    return head + rows


# --- 2. extraction time ---------------------------------------------------------------------


def hundred_episodes() -> list[Any]:
    from engram.extraction.extractor import Episode

    source = [
        e
        for path in sorted(FIXTURES.glob("*.json"))
        for e in json.loads(path.read_text())["episodes"]
    ]
    start = datetime(2025, 7, 1, 9, tzinfo=UTC)
    return [
        Episode(
            memory_id=f"mem_{i:04d}",
            role=source[i % len(source)]["role"],
            created_at=(start + timedelta(minutes=i)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            content=source[i % len(source)]["content"],
        )
        for i in range(100)
    ]


def extractor_row(runs: int) -> str:
    from engram.adapters.heuristic_extractor import HeuristicExtractor

    episodes = hundred_episodes()
    extractor = HeuristicExtractor()
    extractor.extract(episodes, None)  # warm-up
    samples, result = [], None
    for _ in range(runs):
        t = time.perf_counter()
        result = extractor.extract(episodes, None)
        samples.append((time.perf_counter() - t) * 1000)
    return (
        f"| HeuristicExtractor.extract, in process | {runs} | {_ms(samples)} | "
        f"{len(result.memories)} memories + summary |"
    )


def stack_extraction_row(stack: LocalStack) -> str:
    episodes = hundred_episodes()
    headers = {"Authorization": f"Bearer {stack.api_key}"}
    with httpx.Client(base_url=stack.url, headers=headers, timeout=120) as http:
        sid = _check(http.post("/v1/sessions", json={"agent_id": "bench-extract"}), "session")[
            "session_id"
        ]
        for start in range(0, 100, 25):
            _check(
                http.post(
                    f"/v1/sessions/{sid}/messages",
                    json={
                        "messages": [
                            {"role": e.role or "assistant", "content": e.content}
                            for e in episodes[start : start + 25]
                        ]
                    },
                ),
                "messages",
            )
        t = time.monotonic()
        _check(http.post(f"/v1/sessions/{sid}/end", json={}), "end")
        while True:
            session = _check(http.get(f"/v1/sessions/{sid}"), "session")
            if session["summary_status"] in ("ready", "failed") or time.monotonic() - t > WAIT:
                break
            time.sleep(0.25)
        took = time.monotonic() - t
        newest = _check(http.get("/v1/memories", params={"limit": 100}), "list")["data"]
        made = sum(1 for m in newest if m.get("source") == "extraction")
    return (
        f"| end → `summary_status: {session['summary_status']}` through the stack (queue, "
        f"pump, extract_worker, dedupe, stores) | 1 | {took * 1000:.0f} (one run; polled every "
        f"250 ms) | {made} memories with source=extraction + summary |"
    )


# --- 3. extraction quality ------------------------------------------------------------------


def _matches(memory: Any, rule: dict[str, Any]) -> bool:
    if rule.get("memory_type") and memory.memory_type != rule["memory_type"]:
        return False
    return rule["phrase"].lower() in f"{memory.title} {memory.content}".lower()


def quality_rows() -> list[str]:
    from engram.adapters.heuristic_extractor import HeuristicExtractor
    from engram.extraction.extractor import Episode

    rows = [
        (
            "| fixture | yielded | matching a must | precision | musts found | recall "
            "| must-not hits |"
        ),
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    totals = [0, 0, 0, 0, 0]
    for path in sorted(FIXTURES.glob("*.json")):
        data = json.loads(path.read_text())
        result = HeuristicExtractor().extract(
            [Episode(**e) for e in data["episodes"]], data["client_summary"]
        )
        yielded = result.memories
        good = sum(1 for m in yielded if any(_matches(m, r) for r in data["must_yield"]))
        found = sum(1 for r in data["must_yield"] if any(_matches(m, r) for m in yielded))
        bad = sum(1 for r in data["must_not_yield"] for m in yielded if _matches(m, r))
        musts = len(data["must_yield"])
        for i, v in enumerate((len(yielded), good, found, musts, bad)):
            totals[i] += v
        rows.append(
            f"| {path.stem} | {len(yielded)} | {good} | {_ratio(good, len(yielded))} "
            f"| {found} / {musts} | {_ratio(found, musts)} | {bad} |"
        )
    y, g, f, m, b = totals
    rows.append(
        f"| **all** | {y} | {g} | **{_ratio(g, y)}** | {f} / {m} | **{_ratio(f, m)}** | {b} |"
    )
    return rows


def _ratio(a: int, b: int) -> str:
    return f"{a / b:.2f}" if b else "n/a (none)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--memories", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--runs", type=int, default=20, help="extractor runs")
    parser.add_argument(
        "--embed-last",
        type=int,
        default=None,
        help="embed only the last N memories stored (the rest: queue drained); default all",
    )
    parser.add_argument(
        "--skip", default="", help="comma-separated: context,extract,stack-extract,quality"
    )
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.memories, args.requests, args.runs = 1_000, 10, 5
    skip = set(filter(None, args.skip.split(",")))
    os.environ["ORT_DISABLE_TELEMETRY"] = "1"
    print(
        f"Context and extraction, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; Python "
        f"{platform.python_version()}, {os.cpu_count()} CPUs shared with other work (load "
        f"average {os.getloadavg()[0]:.1f} at the start)\n",
        flush=True,
    )
    if "quality" not in skip:
        print("Extraction quality (HeuristicExtractor, fixture conversations):\n")
        print("\n".join(quality_rows()) + "\n", flush=True)
    if "extract" not in skip or "stack-extract" not in skip:
        print("Extraction time, a 100-message session:\n")
        print("| what | runs | p50 / p95 (ms) | output |\n|---|---:|---:|---|")
        if "extract" not in skip:
            print(extractor_row(args.runs), flush=True)
        if "stack-extract" not in skip:
            with LocalStack() as stack:
                print(stack_extraction_row(stack), flush=True)
        print()
    if "context" not in skip:
        print(f"Context through the local stack ({args.memories:,} distilled memories):\n")
        with LocalStack() as stack:
            embed_last = args.memories if args.embed_last is None else args.embed_last
            print(
                "\n".join(context_rows(stack, args.memories, args.requests, embed_last)), flush=True
            )
    print(f"\nLoad average at the end: {os.getloadavg()[0]:.1f}", file=sys.stderr)


if __name__ == "__main__":
    main()
