"""The local stack's API under one slow request (issue 20): POST /v1/memories and search
latency through the HTTP API with ENGRAM_API_LOOPS=1 (one request at a time, as before) and
the default (4 event loops), interleaved in one run; and /health's latency while another
connection keeps sending batches of 100 memories (each takes a while).

    .venv/bin/python bench/concurrency.py [--posts 200] [--rounds 2]
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from datetime import UTC, datetime

import httpx
from metrics import percentile
from stack import LocalStack


def _timed(call) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def run(loops: str, posts: int) -> str:
    with LocalStack({"ENGRAM_API_LOOPS": loops}) as stack:
        headers = {"Authorization": f"Bearer {stack.api_key}"}
        with httpx.Client(base_url=stack.url, headers=headers, timeout=60) as http:
            writes, searches = [], []
            for i in range(posts + 10):
                body = {"content": f"Speed check {i}: the customer prefers email on weekdays."}
                ms = _timed(lambda b=body: http.post("/v1/memories", json=b).raise_for_status())
                if i >= 10:
                    writes.append(ms)
            for i in range(posts // 2 + 5):
                body = {"query": f"customer {i} email", "search_mode": "hybrid"}
                ms = _timed(
                    lambda b=body: http.post("/v1/memories/search", json=b).raise_for_status()
                )
                if i >= 5:
                    searches.append(ms)
            busy, health = threading.Event(), []

            def batches() -> None:
                with httpx.Client(base_url=stack.url, headers=headers, timeout=120) as other:
                    for n in range(20):
                        if busy.is_set():
                            return
                        items = [
                            {"content": f"batch {n} item {j} about invoices"} for j in range(100)
                        ]
                        other.post("/v1/memories", json={"memories": items}).raise_for_status()

            worker = threading.Thread(target=batches)
            worker.start()
            with httpx.Client(base_url=stack.url, timeout=60) as probe:
                health.extend(
                    _timed(lambda: probe.get("/health").raise_for_status()) for _ in range(50)
                )
            busy.set()
            worker.join(300)
    return (
        f"| {loops} | {percentile(writes, 0.5):.1f} / {percentile(writes, 0.95):.1f} | "
        f"{percentile(searches, 0.5):.1f} / {percentile(searches, 0.95):.1f} | "
        f"{percentile(health, 0.5):.1f} / {percentile(health, 0.95):.1f} / {max(health):.0f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    print(
        f"Concurrency, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load average "
        f"{os.getloadavg()[0]:.1f} at the start\n"
    )
    print(
        "| ENGRAM_API_LOOPS | POST p50 / p95 (ms) | hybrid search p50 / p95 (ms) | "
        "/health during batch writes p50 / p95 / max (ms) |"
    )
    print("|---:|---:|---:|---:|", flush=True)
    for _ in range(args.rounds):
        for loops in ("1", "4"):
            print(run(loops, args.posts), flush=True)
    print(f"\nload average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
