"""Local search index speed: upsert throughput, k-NN and BM25 latency (p50/p95).

Random 384-d vectors and short random texts from a 5,000-word vocabulary, one workspace.
BM25 is timed twice: the first query after writes (which rebuilds the workspace's BM25
index) and warm queries. Prints a markdown table.

    .venv/bin/python bench/search_index.py [--sizes 10000 50000] [--queries 200]
"""

from __future__ import annotations

import argparse
import platform
import time
from datetime import UTC, datetime, timedelta

import numpy as np

from engram.adapters.local_index import LocalIndex
from engram.search.index import IndexDocument, SearchFilters

DIMENSION = 384
WORKSPACE = "bench"
BATCH = 500


def _documents(n: int, rng: np.random.Generator) -> list[IndexDocument]:
    vocabulary = np.array([f"w{i}" for i in range(5000)])
    vectors = rng.standard_normal((n, DIMENSION)).astype(np.float32)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    return [
        IndexDocument(
            memory_id=f"m{i}", workspace_id=WORKSPACE, embedding=vectors[i],
            content=" ".join(rng.choice(vocabulary, size=int(rng.integers(8, 20)))),
            created_at=start + timedelta(seconds=i), session_id=f"s{i % 100}",
        )
        for i in range(n)
    ]


def _ms(samples: list[float]) -> tuple[float, float]:
    p50, p95 = np.percentile(np.asarray(samples) * 1000, [50, 95])
    return float(p50), float(p95)


def run(n: int, queries: int, seed: int = 7) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    docs = _documents(n, rng)
    index = LocalIndex()
    index.ensure_index(DIMENSION)
    started = time.perf_counter()
    for i in range(0, n, BATCH):
        index.upsert(docs[i : i + BATCH])
    upsert_s = time.perf_counter() - started

    everything = SearchFilters()
    query_vectors = rng.standard_normal((queries, DIMENSION)).astype(np.float32)
    knn = []
    for vector in query_vectors:
        t = time.perf_counter()
        index.knn(WORKSPACE, vector, everything, k=50)
        knn.append(time.perf_counter() - t)

    texts = [f"w{a} w{b} w{c}" for a, b, c in rng.integers(0, 5000, size=(queries, 3))]
    t = time.perf_counter()
    index.bm25(WORKSPACE, texts[0], everything, k=50)  # first query after writes: rebuild
    cold_s = time.perf_counter() - t
    bm25 = []
    for text in texts:
        t = time.perf_counter()
        index.bm25(WORKSPACE, text, everything, k=50)
        bm25.append(time.perf_counter() - t)

    filtered = SearchFilters(session_id="s7")
    knn_filtered = []
    for vector in query_vectors[:50]:
        t = time.perf_counter()
        index.knn(WORKSPACE, vector, filtered, k=50)
        knn_filtered.append(time.perf_counter() - t)

    return {
        "n": n, "upsert_per_s": n / upsert_s, "knn": _ms(knn), "knn_filtered": _ms(knn_filtered),
        "bm25_cold_ms": cold_s * 1000, "bm25": _ms(bm25),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 50_000])
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    print(f"Local index, {DIMENSION}-d, k=50, {args.queries} queries per size; "
          f"Python {platform.python_version()}, numpy {np.__version__}, {platform.machine()}\n")
    print("| docs | upsert (docs/s) | knn p50 / p95 (ms) | knn, session filter p50 / p95 (ms) "
          "| bm25 first after writes (ms) | bm25 warm p50 / p95 (ms) |")
    print("|---:|---:|---:|---:|---:|---:|")
    for n in args.sizes:
        r = run(n, args.queries)
        print(f"| {n:,} | {r['upsert_per_s']:,.0f} | {r['knn'][0]:.2f} / {r['knn'][1]:.2f} "
              f"| {r['knn_filtered'][0]:.2f} / {r['knn_filtered'][1]:.2f} "
              f"| {r['bm25_cold_ms']:.0f} | {r['bm25'][0]:.2f} / {r['bm25'][1]:.2f} |")


if __name__ == "__main__":
    main()
