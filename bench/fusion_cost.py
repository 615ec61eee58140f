"""What issue 21's ranking costs a search: SearchService.search at 10k memories, the
calibrated fusion (search/fusion.py: z-scores, session support, identifier tiers) against
the per-leg min-max fusion it replaced, interleaved query by query in one process.

The corpus: LoCoMo dev turns (../shared/bench/locomo-dev.json, read in place) repeated to
--memories memories, 20 turns a session, in the local index with the local MiniLM's
vectors of the distinct turns; the questions are LoCoMo's. The table side of a search (the
re-check) is a dict, so the figures are the search path less DynamoDB: the query
embedding, both index legs and the fusion.

    .venv/bin/python bench/fusion_cost.py [--memories 10000] [--queries 300]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from metrics import DATA, load, percentile


class DictRepo:
    def __init__(self, memories: dict[str, Any]) -> None:
        self.memories = memories

    def get_many(self, workspace_id: str, ids: list[str]) -> dict[str, Any]:
        return {i: self.memories[i] for i in ids if i in self.memories}

    def unindexed(self, workspace_id: str, limit: int) -> list[Any]:
        return []  # everything is indexed: read-your-writes has nothing to add


def min_max_service(base: Any) -> Any:
    """The search service as it was before issue 21: each leg min-max scaled on its own, a
    leg's miss 0, plus recency; best first, newest first on ties."""
    from engram.search.models import LegScores
    from engram.search.service import LEGS, Scored, _newest_first, legs_of, mode_weights

    class MinMax(base):  # type: ignore[misc, valid-type]
        def _ranked(self, workspace_id, request, filters, k):  # type: ignore[no-untyped-def]
            weights = mode_weights(request.search_mode, request.weights)
            legs = {}
            for leg in legs_of(request.search_mode):
                hits = self._leg(leg, workspace_id, request.text, filters, k)
                if hits:
                    low, high = min(h.score for h in hits), max(h.score for h in hits)
                    span = high - low
                    legs[leg] = {
                        h.memory_id: (h.score - low) / span if span > 1e-12 else 1.0 for h in hits
                    }
            live = self._repo.get_many(workspace_id, [m for leg in legs.values() for m in leg])
            scored = []
            for memory in live.values():
                semantic, keyword = (legs.get(leg, {}).get(memory.memory_id, 0.0) for leg in LEGS)
                recency = self._recency(memory)
                total = (
                    weights.semantic * semantic
                    + weights.keyword * keyword
                    + weights.recency * recency
                )
                scores = LegScores(semantic=semantic, keyword=keyword, recency=recency)
                scored.append(Scored(memory, min(1.0, total), scores))
            return sorted(scored, key=lambda s: (-s.score, _newest_first(s.memory)))

    return MinMax


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--memories", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=300)
    args = parser.parse_args()

    from engram.adapters.local_embedder import LocalEmbedder
    from engram.adapters.local_index import LocalIndex
    from engram.clock import FixedClock, iso
    from engram.memories.models import Memory
    from engram.search.index import IndexDocument
    from engram.search.models import SearchRequest
    from engram.search.service import SearchService

    conversations = load(DATA, None)
    turns = [f"{t.speaker}: {t.text}" for c in conversations for t in c.turns]
    questions = [q["question"] for c in conversations for q in c.questions][: args.queries]
    embedder = LocalEmbedder()
    vectors = embedder.embed(turns)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    memories, docs = {}, []
    for i in range(args.memories):
        created = now - timedelta(minutes=args.memories - i)
        memory = Memory(
            memory_id=f"mem_{i:06d}",
            workspace_id="ws",
            content=turns[i % len(turns)],
            session_id=f"s{i // 20}",
            created_at=iso(created),
        )
        memories[memory.memory_id] = memory
        docs.append(
            IndexDocument(
                memory_id=memory.memory_id,
                workspace_id="ws",
                content=memory.content,
                embedding=vectors[i % len(turns)].tolist(),
                session_id=memory.session_id,
                created_at=created,
            )
        )
    index = LocalIndex()
    index.ensure_index(embedder.dimension)
    index.upsert(docs)
    repo, clock = DictRepo(memories), FixedClock(now)
    services = {
        "min-max (before)": min_max_service(SearchService)(index, embedder, repo, clock, 30.0, 4),
        "calibrated (issue 21)": SearchService(index, embedder, repo, clock, 30.0, 4),
    }
    times: dict[str, list[float]] = {name: [] for name in services}
    for question in questions[:10]:  # warm-up
        for svc in services.values():
            svc.search("ws", SearchRequest(query=question))
    for question in questions:
        for name, svc in services.items():
            started = time.perf_counter()
            svc.search("ws", SearchRequest(query=question, limit=10))
            times[name].append((time.perf_counter() - started) * 1000)
    print(
        f"\nSearchService.search, hybrid, limit 10, {args.memories} memories, "
        f"{len(questions)} LoCoMo questions, interleaved; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; "
        f"Python {platform.python_version()}\n"
    )
    print("| fusion | p50 ms | p95 ms |")
    print("|---|---:|---:|")
    for name, samples in times.items():
        print(f"| {name} | {statistics.median(samples):.2f} | {percentile(samples, 0.95):.2f} |")
    before, after = (percentile(times[n], 0.95) for n in services)
    print(f"\np95 ratio after/before: {after / before:.2f} (target <= 2)")


if __name__ == "__main__":
    main()
