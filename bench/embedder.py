"""Speed of the local embedder: model load, per-query latency, batch throughput.

    .venv/bin/python bench/embedder.py [--threads 2] [--sentences 512] [--queries 50] [--repeat 3]
        [--model FILE.onnx --pooling mean|cls --query-prefix TEXT]

Texts are LoCoMo dialogue turns and questions from ../shared/bench/locomo-dev.json when
that file is there (realistic memory lengths), else generated sentences. Run it in a
fresh process: the load time is the first load in the process. Prints a markdown table.
--model measures another ONNX model in the same calls (`bench/candidate.py`).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import candidate
from stack import cpu_note

LOCOMO = Path(__file__).resolve().parents[1] / ".." / "shared" / "bench" / "locomo-dev.json"


def corpus(n_sentences: int) -> tuple[list[str], list[str], str]:
    """(memory-like sentences, short questions, where they came from), n_sentences each."""
    if LOCOMO.exists():
        data = json.loads(LOCOMO.read_text())
        turns = [
            turn["text"]
            for item in data
            for key, value in item["conversation"].items()
            if key.startswith("session_") and isinstance(value, list)
            for turn in value
        ]
        questions = [qa["question"] for item in data for qa in item["qa"]]
        return turns[:n_sentences], questions[:n_sentences], "LoCoMo dev turns and questions"
    words = [
        "memory",
        "agent",
        "session",
        "user",
        "prefers",
        "coffee",
        "meeting",
        "tuesday",
        "project",
        "deploy",
    ]

    def make(i, n):
        return " ".join(words[(i * 7 + j) % len(words)] for j in range(n))

    sentences = [make(i, 8 + i % 24) for i in range(n_sentences)]
    return sentences, [make(i, 6) + "?" for i in range(n_sentences)], "generated sentences"


def query_latencies(embedder, queries: list[str]) -> list[float]:
    latencies = []
    for query in queries:
        t = time.perf_counter()
        embedder.embed([query])
        latencies.append((time.perf_counter() - t) * 1000)
    return sorted(latencies)


def throughput_of(embedder, sentences: list[str]) -> tuple[float, float]:
    """(sentences per wall-clock second, per CPU-second of this process)."""
    wall, cpu = time.perf_counter(), time.process_time()
    embedder.embed(sentences)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return len(sentences) / wall, len(sentences) / cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sentences", type=int, default=512)
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3, help="rounds; the best is reported")
    parser.add_argument(
        "--quick", action="store_true", help="= --sentences 128 --queries 20 --repeat 1"
    )
    candidate.add_arguments(parser)
    args = parser.parse_args()
    if args.quick:
        args.sentences, args.queries, args.repeat = 128, 20, 1
    sentences, questions, source = corpus(args.sentences)
    questions = [args.query_prefix + q for q in questions]
    queries = questions[: args.queries]

    start = time.perf_counter()
    from engram.text import count_tokens

    embedder = candidate.from_arguments(args, args.threads)
    embedder.load()  # imports onnxruntime + tokenizers, checks both hashes, builds the session
    load_s = time.perf_counter() - start

    embedder.embed([queries[0]])  # warm-up: first run allocates buffers
    # Best of `repeat` rounds: on a shared machine the other processes only ever slow it down.
    latencies = min(
        (query_latencies(embedder, queries) for _ in range(args.repeat)), key=statistics.median
    )
    throughput = max(throughput_of(embedder, sentences) for _ in range(args.repeat))
    short_throughput = max(throughput_of(embedder, questions) for _ in range(args.repeat))
    load_average = os.getloadavg()[0]

    mean_tokens = statistics.mean(count_tokens(s) for s in sentences)
    short_tokens = statistics.mean(count_tokens(s) for s in questions)
    p95 = latencies[max(0, round(0.95 * len(latencies)) - 1)]
    print(
        f"Local embedder `{embedder.name}`, {args.threads} intra-op threads, "
        f"calls of <= {embedder.batch_size} texts and <= {embedder.token_budget} padded "
        f"tokens; {source}; best of {args.repeat} rounds; "
        f"{platform.machine()}, "
        f"{os.cpu_count()} CPUs ({cpu_note()}), Python {platform.python_version()}; "
        f"1-minute load average {load_average:.1f} when it finished.\n"
    )
    print("| measure | value |\n|---|---|")
    print(f"| model load (imports + hash checks + session), first in process | {load_s:.2f} s |")
    median = statistics.median(latencies)
    print(f"| query latency, median of {len(latencies)} single queries | {median:.1f} ms |")
    print(f"| query latency, p95 of {len(latencies)} | {p95:.1f} ms |")
    for label, (wall, cpu) in (
        (f"{len(sentences)} memory-length texts (mean {mean_tokens:.0f} tokens)", throughput),
        (f"{len(questions)} short queries (mean {short_tokens:.0f} tokens)", short_throughput),
    ):
        print(f"| throughput, {label} | {wall:.0f} sentences/s ({cpu:.0f} per CPU-second) |")


if __name__ == "__main__":
    main()
