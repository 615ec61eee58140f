"""Retrieval benchmark on LoCoMo (../shared/bench/locomo-dev.json), through the service layer.

Each conversation is its own workspace; each dialogue turn is a memory of one session per
LoCoMo session, stored through MemoryService with the clock at the session's date (so
recency means what it would in use), titled "Session on <date>" (the title is part of the
indexed text) and indexed with the message before it as context. IndexSync (the embed
worker's logic) embeds and indexes each one. Every question but category 5 is then searched
in its conversation with SearchService, limit 10, in each mode; recall@k is the share of the
question's evidence turns in the top k (LoCoMo's definition), NDCG@10 with binary gains.

    .venv/bin/python bench/locomo.py [--conversations N] [--context prev|none]
        [--weights 0.6,0.3,0.1 ...] [--half-life DAYS] [--moto-reads]

Runs offline on moto and the local index and embedder. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from inprocess import isolate, moto_stack
from metrics import (
    DATA,
    Conversation,
    Discard,
    Tally,
    Turn,
    load,
    memory_content,
    memory_title,
    session_time,
    sessions_of,
)

MODES = ("keyword", "semantic", "hybrid")

isolate()


# --- the stack --------------------------------------------------------------------------


def store(conv: Conversation, context: str) -> dict[str, str]:
    """Stores each session as one batch (one transaction), then indexes every turn with
    IndexSync; answers memory_id → dia_id."""
    from engram import aws, wiring
    from engram.clock import FixedClock
    from engram.memories.repository import MemoryRepository
    from engram.memories.service import MemoryService
    from engram.search.sync import IndexSync

    repo, clock = MemoryRepository(aws.table()), FixedClock(datetime(2000, 1, 1, tzinfo=UTC))
    service = MemoryService(repo, Discard(), Discard(), clock)  # type: ignore[arg-type]
    sync = IndexSync(repo, wiring.search_index(), wiring.embedder(), Discard(), clock)  # type: ignore[arg-type]
    workspace, dia_of = f"ws_{conv.sample_id}", {}
    for session in sessions_of(conv.turns):
        clock._now = session_time(session[0].date)  # the memory's created_at: the session's date
        for start in range(0, len(session), 90):  # a transaction holds at most 100 items
            chunk = session[start : start + 90]
            contexts = [
                _context(session, start + i) if context == "prev" else None
                for i in range(len(chunk))
            ]
            memories = service.create(workspace, [_body(conv, t) for t in chunk], contexts=contexts)
            dia_of.update({m.memory_id: t.dia_id for m, t in zip(memories, chunk, strict=True)})
    for memory_id in dia_of:
        sync.sync(workspace, memory_id)
    return dia_of


def _context(session: list[Turn], i: int) -> str | None:
    """The message before this one in the same session (DESIGN.md's advice)."""
    return f"{session[i - 1].speaker}: {session[i - 1].text}" if i else None


def _body(conv: Conversation, turn: Turn) -> Any:
    from engram.memories.models import MemoryCreate

    return MemoryCreate(
        content=memory_content(turn),
        title=memory_title(turn),
        session_id=f"{conv.sample_id}-s{turn.session}",
        metadata={"dia_id": turn.dia_id, "session_date": turn.date},
    )


# --- evaluation -------------------------------------------------------------------------


class _Snapshot:
    """The re-check's get_many over the live memories, read once through moto after
    indexing. moto's BatchGetItem costs ~3.5 ms per item in Python and would swamp the
    latency measured (on AWS it is one round trip per 100 candidates); --moto-reads keeps it."""

    def __init__(self, repo: Any, workspace_id: str, memory_ids: list[str]) -> None:
        self._workspace_id = workspace_id
        self._live = repo.get_many(workspace_id, memory_ids)

    def get_many(self, workspace_id: str, memory_ids: list[str]) -> dict[str, Any]:
        if workspace_id != self._workspace_id:
            return {}
        return {m: self._live[m] for m in memory_ids if m in self._live}


def evaluate(
    conv: Conversation,
    dia_of: dict[str, str],
    variants: dict[str, tuple[str, Any]],
    half_life: float,
    tallies: dict[str, Tally],
    moto_reads: bool,
) -> None:
    from engram import aws, wiring
    from engram.clock import FixedClock
    from engram.memories.repository import MemoryRepository
    from engram.search.models import SearchRequest
    from engram.search.service import SearchService

    # Questions are asked a day after the last session.
    asked = FixedClock(max(session_time(t.date) for t in conv.turns) + timedelta(days=1))
    repo = MemoryRepository(aws.table())
    if not moto_reads:
        repo = _Snapshot(repo, f"ws_{conv.sample_id}", list(dia_of))  # type: ignore[assignment]
    svc = SearchService(
        wiring.search_index(), wiring.embedder(), repo, asked, half_life_days=half_life
    )
    for qa in conv.questions:
        for name, (mode, weights) in variants.items():
            request = SearchRequest(
                query=qa["question"], search_mode=mode, limit=10, weights=weights
            )
            started = time.perf_counter()
            response = svc.search(f"ws_{conv.sample_id}", request)
            tally = tallies.setdefault(name, Tally())
            tally.ms.append((time.perf_counter() - started) * 1000)
            ranked = [dia_of[r.memory_id] for r in response.results]
            tally.add(ranked, qa["evidence"])


def variants_of(weight_sets: list[str]) -> dict[str, tuple[str, Any]]:
    """keyword, semantic and hybrid with the default weights, plus each --weights hybrid."""
    from engram.search.models import Weights

    found: dict[str, tuple[str, Any]] = {mode: (mode, None) for mode in MODES}
    for text in weight_sets:
        semantic, keyword, recency = (float(x) for x in text.split(","))
        weights = Weights(semantic=semantic, keyword=keyword, recency=recency)
        found[f"hybrid {semantic:g}/{keyword:g}/{recency:g}"] = ("hybrid", weights)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--conversations", type=int, default=None, help="first N (default all 5)")
    parser.add_argument("--context", choices=("prev", "none"), default="prev")
    parser.add_argument(
        "--weights",
        action="append",
        default=[],
        help="extra hybrid weights semantic,keyword,recency (repeatable)",
    )
    parser.add_argument("--half-life", type=float, default=30.0, help="recency half-life, days")
    parser.add_argument(
        "--moto-reads",
        action="store_true",
        help="re-check hits through moto on every search (slow)",
    )
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args()
    conversations = load(args.data, args.conversations)
    tallies: dict[str, Tally] = {}
    started = time.perf_counter()
    variants = variants_of(args.weights)
    for conv in conversations:
        with moto_stack():  # a fresh table each: moto's transactions copy the whole table
            t0 = time.perf_counter()
            dia_of = store(conv, args.context)
            t1 = time.perf_counter()
            evaluate(conv, dia_of, variants, args.half_life, tallies, args.moto_reads)
            print(
                f"{conv.sample_id}: {len(conv.turns)} turns stored+embedded in {t1 - t0:.0f} s, "
                f"{len(conv.questions)} questions in {time.perf_counter() - t1:.0f} s",
                file=sys.stderr,
            )
    questions = sum(len(c.questions) for c in conversations)
    print(
        f"\nLoCoMo dev: {len(conversations)} conversations "
        f"({', '.join(c.sample_id for c in conversations)}), {questions} questions "
        f"(category 5 skipped), context={args.context}, half-life {args.half_life:g} days, "
        f"{time.perf_counter() - started:.0f} s in all\n"
    )
    print("| mode | recall@5 | recall@10 | NDCG@10 | search p50 ms | search p95 ms |")
    print("|---|---|---|---|---|---|")
    for name, tally in tallies.items():
        print(tally.row(name))


if __name__ == "__main__":
    main()
