"""Local search index speed: upsert throughput, k-NN, BM25 and hybrid-pair latency (p50/p95).

Random 384-d unit vectors and short random texts (8-20 words from a 5,000-word vocabulary),
one workspace. Each search asks for k = 40 candidates, what SearchService asks each leg for
a limit of 10 (limit x search_candidates_factor 4). "hybrid pair" is the index work of one
hybrid search: knn then bm25 for the same query (fusion and the DynamoDB re-check are not
the index's; query embedding is excluded everywhere). BM25 is timed twice: the first query
after writes (which rebuilds the workspace's BM25 index) and warm queries. Target (issue 3):
search p95 <= 30 ms at 100k memories. Prints a markdown table.

    .venv/bin/python bench/search_index.py [--sizes 10000 100000] [--queries 200] [--quick]

--quick: 10k only, 50 queries.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from engram.adapters.local_index import LocalIndex
from engram.search.index import IndexDocument, SearchFilters

DIMENSION = 384
WORKSPACE = "bench"
BATCH = 500
K = 40


def _documents(n: int, rng: np.random.Generator) -> list[IndexDocument]:
    vocabulary = np.array([f"w{i}" for i in range(5000)])
    vectors = rng.standard_normal((n, DIMENSION)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    return [
        IndexDocument(
            memory_id=f"m{i}",
            workspace_id=WORKSPACE,
            embedding=vectors[i],
            content=" ".join(rng.choice(vocabulary, size=int(rng.integers(8, 20)))),
            created_at=start + timedelta(seconds=i),
            session_id=f"s{i % 100}",
        )
        for i in range(n)
    ]


def _ms(samples: list[float]) -> tuple[float, float]:
    p50, p95 = np.percentile(np.asarray(samples) * 1000, [50, 95])
    return float(p50), float(p95)


def _timed(call: Any, inputs: Any) -> list[float]:
    samples = []
    for item in inputs:
        t = time.perf_counter()
        call(item)
        samples.append(time.perf_counter() - t)
    return samples


def run(n: int, queries: int, seed: int = 7) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    docs = _documents(n, rng)
    index = LocalIndex()
    index.ensure_index(DIMENSION)
    started = time.perf_counter()
    for i in range(0, n, BATCH):
        index.upsert(docs[i : i + BATCH])
    upsert_s = time.perf_counter() - started
    del docs

    everything = SearchFilters()
    vectors = rng.standard_normal((queries, DIMENSION)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    texts = [f"w{a} w{b} w{c}" for a, b, c in rng.integers(0, 5000, size=(queries, 3))]

    t = time.perf_counter()
    index.bm25(WORKSPACE, texts[0], everything, k=K)  # first query after writes: rebuild
    cold_s = time.perf_counter() - t
    knn = _timed(lambda v: index.knn(WORKSPACE, v, everything, k=K), vectors)
    bm25 = _timed(lambda q: index.bm25(WORKSPACE, q, everything, k=K), texts)
    pair = _timed(
        lambda i: (
            index.knn(WORKSPACE, vectors[i], everything, k=K),
            index.bm25(WORKSPACE, texts[i], everything, k=K),
        ),
        range(queries),
    )
    filtered = SearchFilters(session_id="s7")
    knn_filtered = _timed(lambda v: index.knn(WORKSPACE, v, filtered, k=K), vectors[:50])
    return {
        "n": n,
        "upsert_per_s": n / upsert_s,
        "knn": _ms(knn),
        "knn_filtered": _ms(knn_filtered),
        "bm25_cold_ms": cold_s * 1000,
        "bm25": _ms(bm25),
        "pair": _ms(pair),
    }


def header(queries: int) -> str:
    load = os.getloadavg()
    return (
        f"Local index, {DIMENSION}-d unit vectors, k={K}, {queries} queries per size; Python "
        f"{platform.python_version()}, numpy {np.__version__}, {platform.machine()}, "
        f"{os.cpu_count()} CPUs shared with other work (load average {load[0]:.1f}); "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC\n\n"
        "| docs | upsert (docs/s) | knn p50 / p95 (ms) | knn, session filter p50 / p95 (ms) "
        "| bm25 first after writes (ms) | bm25 warm p50 / p95 (ms) "
        "| hybrid pair p50 / p95 (ms) | target p95 <= 30 ms at 100k |\n"
        "|---:|---:|---:|---:|---:|---:|---:|---|"
    )


def row(r: dict[str, Any]) -> str:
    worst = max(r["knn"][1], r["bm25"][1], r["pair"][1])
    verdict = ("met" if worst <= 30 else "missed") if r["n"] >= 100_000 else "-"
    return (
        f"| {r['n']:,} | {r['upsert_per_s']:,.0f} | {r['knn'][0]:.2f} / {r['knn'][1]:.2f} "
        f"| {r['knn_filtered'][0]:.2f} / {r['knn_filtered'][1]:.2f} "
        f"| {r['bm25_cold_ms']:.0f} | {r['bm25'][0]:.2f} / {r['bm25'][1]:.2f} "
        f"| {r['pair'][0]:.2f} / {r['pair'][1]:.2f} | {verdict} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--quick", action="store_true", help="= --sizes 10000 --queries 50")
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.queries = [10_000], 50
    print(header(args.queries))
    for n in args.sizes:
        print(row(run(n, args.queries)), flush=True)


if __name__ == "__main__":
    main()
