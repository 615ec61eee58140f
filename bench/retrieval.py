"""Retrieval benchmark on LoCoMo through the HTTP API of the local stack (issue 3).

Starts `python -m engram_local` in a subprocess (free ports on 127.0.0.1), creates one
workspace per conversation with the admin CLI and one session per LoCoMo session, and
stores each dialogue turn as a memory, by default as that session's messages (batch POST
/v1/sessions/{id}/messages, as a conversation reaches Engram: each message becomes an
episodic memory, indexed for keywords with the message before it): content
"[<session date>] <speaker>: <text>", metadata {dia_id, session_date}. `--via memories`
stores them with batch POST /v1/memories instead (no neighbouring message; `--undated` puts
the date in the title "Session on <date>" rather than the content). The queue pump embeds
them; the script waits (bounded) until every session's GET /v1/sessions/{id}/embedding-status
has nothing pending, then asks every question (category 5 skipped) with POST
/v1/memories/search, limit 10, in keyword, semantic and hybrid modes (default weights), and
scores the ranked dia_ids with recall@5, recall@10 and NDCG@10 (bench/metrics.py, as
bench/locomo.py). A plain BM25 baseline (bm25s over the same contents, English stopwords,
no stemming, no neighbouring message) is scored in the same run.

One stack per conversation (a fresh emulator), so conversations cannot disturb each other.
The stack's clock is real time: every memory is created "now" (seconds apart), so the
recency leg is nearly flat.

    .venv/bin/python bench/retrieval.py [--conversations N] [--questions N] [--quick]
        [--via messages|memories] [--undated] [--cv]

--quick: the first conversation, its first 40 questions. Prints markdown tables: by mode,
and recall@10 / NDCG@10 by LoCoMo category.

--cv: leave-one-conversation-out for the hybrid weights (issue 21; the query-analysis
weights are fitted and checked the same way in process by bench/fusion_fit.py). Each question is also searched with every weight set of CV_GRID; for
each conversation, the set with the best recall@10 over the other four is scored on it.
Prints the five held-out recall@10s, the sets chosen, and their mean: the figure that
says how the default search does on a conversation no tuning saw.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from metrics import (
    DATA,
    Conversation,
    Tally,
    Turn,
    load,
    memory_content,
    memory_title,
    recall,
    sessions_of,
)
from stack import LocalStack, machine_note

MODES = ("keyword", "semantic", "hybrid")
CATEGORIES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop"}
# Hybrid weight sets --cv chooses among: the semantic weight, keyword 0.9 minus it, recency
# 0.1 (the default is semantic 0.25).
CV_GRID = (0.15, 0.2, 0.25, 0.3, 0.35)
BATCH = 100  # the API's batch limit
EMBED_TIMEOUT = 900.0  # seconds to wait for all embeddings of one conversation
POLL = 2.0


def _check(response: httpx.Response, what: str) -> dict[str, Any]:
    if response.status_code >= 300:
        raise RuntimeError(f"{what}: HTTP {response.status_code} {response.text[:500]}")
    return response.json()


def text_of(turn: Turn, dated: bool) -> str:
    """The memory content: "<speaker>: <text>", with "[<session date>] " in front if dated."""
    return f"[{turn.date}] {memory_content(turn)}" if dated else memory_content(turn)


def store(
    http: httpx.Client, conv: Conversation, via: str, dated: bool
) -> tuple[dict[str, str], list[str]]:
    """Sessions, then the turns in batches; answers (memory_id → dia_id, session ids).
    via="memories": POST /v1/memories, title "Session on <date>" (no neighbouring context).
    via="messages": POST /v1/sessions/{id}/messages, one batch per session (each message is
    indexed with the one before it, as for any conversation sent that way)."""
    sessions, pending = [], []
    for session in sessions_of(conv.turns):
        sid = f"{conv.sample_id}-s{session[0].session}"
        _check(
            http.post(
                "/v1/sessions",
                json={
                    "session_id": sid,
                    "agent_id": "locomo",
                    "metadata": {"session_date": session[0].date},
                },
            ),
            f"create session {sid}",
        )
        sessions.append(sid)
        pending += [(sid, t) for t in session]
    dia_of: dict[str, str] = {}
    if via == "messages":
        speakers = sorted({t.speaker for t in conv.turns})
        for session in sessions_of(conv.turns):
            sid = f"{conv.sample_id}-s{session[0].session}"
            for start in range(0, len(session), BATCH):
                chunk = session[start : start + BATCH]
                body = {
                    "messages": [
                        {
                            "role": "user" if t.speaker == speakers[0] else "assistant",
                            "content": text_of(t, dated),
                            "metadata": {"dia_id": t.dia_id, "session_date": t.date},
                        }
                        for t in chunk
                    ]
                }
                stored = _check(
                    http.post(f"/v1/sessions/{sid}/messages", json=body), f"messages of {sid}"
                )["messages"]
                dia_of.update(
                    {m["memory_id"]: t.dia_id for m, t in zip(stored, chunk, strict=True)}
                )
        return dia_of, sessions
    for start in range(0, len(pending), BATCH):
        chunk = pending[start : start + BATCH]
        body = {
            "memories": [
                {
                    "content": text_of(t, dated),
                    "session_id": sid,
                    "role": "user",
                    **({} if dated else {"title": memory_title(t)}),
                    "metadata": {"dia_id": t.dia_id, "session_date": t.date},
                }
                for sid, t in chunk
            ]
        }
        stored = _check(http.post("/v1/memories", json=body), "store a batch")["memories"]
        dia_of.update({m["memory_id"]: t.dia_id for m, (_, t) in zip(stored, chunk, strict=True)})
    return dia_of, sessions


def wait_embedded(http: httpx.Client, sessions: list[str], timeout: float) -> tuple[float, int]:
    """Polls each session's embedding status until none is pending (bounded by `timeout`);
    answers (seconds waited, failed count)."""
    started = time.monotonic()
    waiting = list(sessions)
    failed = 0
    for _ in range(int(timeout / POLL) + 2):
        still = []
        for sid in waiting:
            counts = _check(http.get(f"/v1/sessions/{sid}/embedding-status"), "embedding status")
            if counts["pending"]:
                still.append(sid)
            else:
                failed += counts["failed"]
        waiting = still
        if not waiting:
            return time.monotonic() - started, failed
        if time.monotonic() - started > timeout:
            break
        time.sleep(POLL)
    raise RuntimeError(f"embeddings still pending after {timeout:.0f} s in {len(waiting)} sessions")


def bm25_baseline(conv: Conversation, dated: bool) -> Any:
    import bm25s

    corpus = [text_of(t, dated) for t in conv.turns]
    retriever = bm25s.BM25()
    retriever.index(
        bm25s.tokenize(corpus, stopwords="en", show_progress=False), show_progress=False
    )
    return retriever


def evaluate(
    http: httpx.Client,
    conv: Conversation,
    dia_of: dict[str, str],
    questions: list[dict[str, Any]],
    tallies: dict[str, Tally],
    dated: bool,
    cv: dict[float, list[float]] | None = None,
) -> None:
    """Scores every question in each mode (and per category: tallies "hybrid/2" etc.);
    with `cv`, also hybrid with each CV_GRID weight set (recall@10 appended per set)."""
    import bm25s

    retriever = bm25_baseline(conv, dated)
    for qa in questions:
        for mode in MODES:
            ranked, ms = _search(http, dia_of, {"query": qa["question"], "search_mode": mode})
            tallies.setdefault(mode, Tally()).add(ranked, qa["evidence"], ms)
            tallies.setdefault(f"{mode}/{qa['category']}", Tally()).add(ranked, qa["evidence"])
        for share in CV_GRID if cv is not None else ():
            body = {"query": qa["question"], "weights": cv_weights(share)}
            ranked, _ = _search(http, dia_of, body)
            cv.setdefault(share, []).append(recall(ranked, qa["evidence"], 10))
        started = time.perf_counter()
        tokens = bm25s.tokenize([qa["question"]], stopwords="en", show_progress=False)
        k = min(10, len(conv.turns))
        docs, _ = retriever.retrieve(tokens, k=k, show_progress=False)
        ms = (time.perf_counter() - started) * 1000
        ranked = [conv.turns[int(i)].dia_id for i in docs[0]]
        tallies.setdefault("plain BM25 (bm25s, in process)", Tally()).add(
            ranked, qa["evidence"], ms
        )


def _search(
    http: httpx.Client, dia_of: dict[str, str], body: dict[str, Any]
) -> tuple[list[str], float]:
    started = time.perf_counter()
    found = _check(http.post("/v1/memories/search", json={**body, "limit": 10}), "search")
    ms = (time.perf_counter() - started) * 1000
    return [dia_of[r["memory_id"]] for r in found["results"]], ms


def cv_weights(semantic: float) -> dict[str, float]:
    return {"semantic": semantic, "keyword": round(0.9 - semantic, 4), "recency": 0.1}


def leave_one_out(per_conv: dict[str, dict[float, list[float]]]) -> list[tuple[str, float, float]]:
    """(held-out conversation, semantic weight chosen on the others, its recall@10 there)
    per fold. The others' questions are pooled; ties go to the first of CV_GRID."""
    folds = []
    for held in per_conv:

        def trained(share: float, held: str = held) -> float:
            pooled = [v for name, by in per_conv.items() if name != held for v in by[share]]
            return statistics.mean(pooled)

        best = max(CV_GRID, key=trained)
        folds.append((held, best, statistics.mean(per_conv[held][best])))
    return folds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=None, help="first N (default all 5)")
    parser.add_argument("--questions", type=int, default=None, help="first N per conversation")
    parser.add_argument("--quick", action="store_true", help="= --conversations 1 --questions 40")
    parser.add_argument(
        "--via",
        choices=("memories", "messages"),
        default="messages",
        help="store the turns with POST /v1/memories or as session messages",
    )
    parser.add_argument(
        "--undated",
        action="store_true",
        help="content '<speaker>: <text>' (date in the title) instead of "
        "'[<date>] <speaker>: <text>'",
    )
    parser.add_argument(
        "--cv", action="store_true", help="leave-one-conversation-out over the hybrid weights"
    )
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args()
    if args.quick:
        args.conversations, args.questions = 1, 40
    dated = not args.undated
    conversations = load(args.data, args.conversations)
    tallies: dict[str, Tally] = {}
    per_conv: dict[str, dict[float, list[float]]] = {}
    started = time.monotonic()
    timings = []
    for conv in conversations:
        with LocalStack() as stack:
            key = stack.create_workspace(f"locomo-{conv.sample_id}")
            headers = {"Authorization": f"Bearer {key}"}
            with httpx.Client(base_url=stack.url, headers=headers, timeout=120) as http:
                t0 = time.monotonic()
                dia_of, sessions = store(http, conv, args.via, dated)
                t1 = time.monotonic()
                _waited, failed = wait_embedded(http, sessions, EMBED_TIMEOUT)
                if failed:
                    raise RuntimeError(f"{failed} embeddings failed")
                t2 = time.monotonic()
                questions = conv.questions[: args.questions]
                cv = per_conv.setdefault(conv.sample_id, {}) if args.cv else None
                evaluate(http, conv, dia_of, questions, tallies, dated, cv)
                t3 = time.monotonic()
        timings.append((conv.sample_id, len(conv.turns), len(questions), t1 - t0, t2 - t1, t3 - t2))
        print(
            f"{conv.sample_id}: {len(conv.turns)} turns stored in {t1 - t0:.0f} s, embedded "
            f"{t2 - t1:.0f} s later, {len(questions)} questions x 4 in {t3 - t2:.0f} s",
            file=sys.stderr,
        )
    total = time.monotonic() - started
    questions = sum(t[2] for t in timings)
    print(
        f"\nLoCoMo dev through the local stack's HTTP API: {len(conversations)} conversations "
        f"({', '.join(c.sample_id for c in conversations)}), {questions} questions (category 5 "
        f"skipped), limit 10, default weights; stored via {args.via}, content "
        f"{'[date] speaker: text' if dated else 'speaker: text, date in the title'}; one stack per conversation; {total:.0f} s in all; {datetime.now(UTC):%Y-%m-%d %H:%M} "
        f"UTC; Python {platform.python_version()}; {machine_note()}\n"
    )
    print("| conversation | turns | store (s) | embed wait (s) | questions | search (s) |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, turns, n, s, e, q in timings:
        print(f"| {name} | {turns} | {s:.0f} | {e:.0f} | {n} | {q:.0f} |")
    print("\n| mode | recall@5 | recall@10 | NDCG@10 | request p50 ms | request p95 ms |")
    print("|---|---|---|---|---|---|")
    for name, tally in tallies.items():
        if "/" not in name:
            print(tally.row(name))
    print("\n| category | questions | " + " | ".join(f"{m} R@10 / NDCG@10" for m in MODES) + " |")
    print("|---|---:|" + "---|" * len(MODES))
    for number, label in CATEGORIES.items():
        if f"hybrid/{number}" in tallies:
            cells = [tallies[f"{mode}/{number}"] for mode in MODES]
            print(
                f"| {number} {label} | {len(cells[0].r10)} | "
                + " | ".join(
                    f"{statistics.mean(t.r10):.3f} / {statistics.mean(t.ndcg10):.3f}" for t in cells
                )
                + " |"
            )
    if args.cv:
        folds = leave_one_out(per_conv)
        print("\n| held-out conversation | weights chosen on the other four | hybrid R@10 |")
        print("|---|---:|---:|")
        for held, share, score in folds:
            print(f"| {held} | {cv_weights(share)} | {score:.3f} |")
        mean = statistics.mean(score for _, _, score in folds)
        print(f"\nLeave-one-conversation-out mean hybrid recall@10: **{mean:.3f}**")
    hybrid = sum(tallies["hybrid"].r10) / len(tallies["hybrid"].r10)
    print(
        f"\nTarget hybrid recall@10 >= 0.70: {'met' if hybrid >= 0.70 else 'missed'} ({hybrid:.3f})."
    )


if __name__ == "__main__":
    main()
