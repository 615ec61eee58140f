"""Hybrid ranking on a realistic corpus (issue 21): the real local index and the real local
embedder, the search service over them; the table is a dict (the re-check is not the point).

Exact identifiers: 1,050 memories, 50 of them each holding one unique marker (a made-up word,
an id, an error code or a file name) and older than the rest; a query naming a marker must
find its memory at rank 1 in hybrid, as the keyword leg alone does. With each leg min-max
scaled on its own, the lone keyword match tied with the nearest vector and the newer won.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from engram.adapters.local_embedder import LocalEmbedder
from engram.adapters.local_index import LocalIndex
from engram.clock import FixedClock, iso
from engram.memories.models import Memory
from engram.search.index import IndexDocument
from engram.search.models import SearchRequest
from engram.search.service import SearchService

NOW = datetime(2026, 6, 1, tzinfo=UTC)
WORKSPACE = "ws_rank"
SUBJECTS = ["The team", "Our customer", "The on-call engineer", "Maria", "The vendor", "Finance"]
VERBS = ["asked about", "complained about", "fixed", "planned", "reviewed", "postponed"]
OBJECTS = [
    "the login page",
    "the nightly backup",
    "the invoice run",
    "the mobile release",
    "the database migration",
    "the holiday schedule",
    "the payment timeout",
    "the search latency",
    "the onboarding email",
    "the staging cluster",
]
WHEN = ["on Monday", "last week", "after the standup", "before lunch", "during the outage"]
SYLLABLES = ["zor", "vak", "tril", "pem", "quon", "dax", "lur", "fim", "gesh", "bry"]


class DictRepo:
    def __init__(self, memories: list[Memory]) -> None:
        self.memories = {m.memory_id: m for m in memories}

    def get_many(self, workspace_id: str, ids: list[str]) -> dict[str, Memory]:
        return {i: self.memories[i] for i in ids if i in self.memories}

    def unindexed(self, workspace_id: str, limit: int) -> list:
        return []  # everything is indexed here


def _markers(rng: random.Random) -> list[tuple[str, str]]:
    """50 (marker, memory text) pairs: made-up words, ids, error codes, file names."""
    found: list[tuple[str, str]] = []
    seen: set[str] = set()
    while len(found) < 50:
        kind = len(found) % 4
        word = "".join(rng.choice(SYLLABLES) for _ in range(3))
        code = "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(5))
        marker = [word, f"usr_{code.lower()}", f"ERR-{code}", f"{word}_{code[:2].lower()}.xlsx"][
            kind
        ]
        if marker in seen:
            continue
        seen.add(marker)
        filler = f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)}"
        text = [
            f"{filler}; the word {marker} came up {rng.choice(WHEN)}.",
            f"{filler}, the account {marker} was involved.",
            f"{filler} and saw {marker} in the logs {rng.choice(WHEN)}.",
            f"{filler}; the numbers are in {marker}.",
        ][kind]
        found.append((marker, text))
    return found


@pytest.fixture(scope="module")
def ranked_corpus():
    rng = random.Random(21)
    texts = [
        f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)} {rng.choice(WHEN)}."
        for _ in range(1000)
    ]
    markers = _markers(rng)
    memories = [
        Memory(
            memory_id=f"mem_{i:05d}",
            workspace_id=WORKSPACE,
            content=text,
            created_at=iso(NOW - timedelta(minutes=i)),
        )
        for i, text in enumerate(texts)
    ] + [
        Memory(
            memory_id=f"mem_marker_{i:02d}",
            workspace_id=WORKSPACE,
            content=text,
            created_at=iso(NOW - timedelta(days=60, minutes=i)),
        )
        for i, (_, text) in enumerate(markers)
    ]
    embedder = LocalEmbedder()
    vectors = embedder.embed([m.content for m in memories])
    index = LocalIndex()
    index.ensure_index(embedder.dimension)
    index.upsert(
        [
            IndexDocument(
                memory_id=m.memory_id,
                workspace_id=WORKSPACE,
                content=m.content,
                embedding=v.tolist(),
                created_at=datetime.fromisoformat(m.created_at),
            )
            for m, v in zip(memories, vectors, strict=True)
        ]
    )
    svc = SearchService(index, embedder, DictRepo(memories), FixedClock(NOW), 30.0, 4)
    return svc, [marker for marker, _ in markers]


def _first(svc: SearchService, query: str, mode: str) -> str:
    request = SearchRequest(query=query, search_mode=mode, limit=10)
    return svc.search(WORKSPACE, request).results[0].memory_id


def _queries(markers: list[str], template: str) -> list[str]:
    """`{}` is the marker; `{o}` and `{w}` a topic and a time the corpus is full of, which
    pull the vector leg (and other keyword hits) elsewhere."""
    return [
        template.replace("{o}", OBJECTS[i % len(OBJECTS)])
        .replace("{w}", WHEN[i % len(WHEN)])
        .format(marker)
        for i, marker in enumerate(markers)
    ]


@pytest.mark.parametrize("template", ["{}", "{o} {}", "problem with {o}: {}"])
def test_hybrid_ranks_every_exact_identifier_first_like_keyword(ranked_corpus, template):
    svc, markers = ranked_corpus
    expected = [f"mem_marker_{i:02d}" for i in range(len(markers))]
    queries = _queries(markers, template)
    keyword = [_first(svc, q, "keyword") for q in queries]
    hybrid = [_first(svc, q, "hybrid") for q in queries]
    assert sum(k == e for k, e in zip(keyword, expected, strict=True)) == 50
    assert sum(h == e for h, e in zip(hybrid, expected, strict=True)) == 50  # min-max: 8-11


def test_identifiers_rank_first_even_where_the_query_is_mostly_other_words(ranked_corpus):
    """Ids, error codes and file names are matched literally, so they rank first whatever
    else the query says. A made-up plain word has no such shape: here, among words the
    corpus is full of, it loses to fillers in keyword mode as well, and hybrid may differ."""
    svc, markers = ranked_corpus
    queries = _queries(markers, "{} {o} {w}")
    shaped = [i for i in range(len(markers)) if i % 4]  # kinds 1-3: id, error code, file name
    assert len(shaped) == 37
    for i in shaped:
        assert _first(svc, queries[i], "hybrid") == f"mem_marker_{i:02d}", queries[i]
