"""One suite of SearchIndex cases, run on every adapter through a harness:
- local: the embedded index in memory;
- local-persisted: the embedded index on a tmp file, flushed and reloaded from disk
  after every write the suite makes;
- opensearch: the OpenSearch adapter against osmem-server (real HTTP on 127.0.0.1,
  started once per session), a fresh index per test; osmem has no k-NN query;
- opensearch-cluster: the OpenSearch adapter against OPENSEARCH_URL (skipped if unset;
  OPENSEARCH_SERVICE=aoss for Serverless).

Keyword cases use exact word forms: both stem, but with different stemmers (Porter2 locally,
Porter in the mapping), and the contract is only what both promise. Both drop the same
stopwords (the mapping's list is the local index's, tests/unit/test_opensearch_queries.py).
"""

from __future__ import annotations

import os
import threading
import uuid
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from engram.adapters.local_index import LocalIndex
from engram.adapters.opensearch_index import (
    MAPPING_PATH,
    DimensionMismatch,
    OpenSearchIndex,
    make_client,
)
from engram.search.index import IndexDocument, SearchFilters, SearchIndex, TagFilter

DIMENSION = 8
ADAPTERS = ("local", "local-persisted", "opensearch", "opensearch-cluster")


@dataclass
class Harness:
    """The index under test plus the writes the suite makes through it."""

    name: str
    index: SearchIndex
    supports_knn: bool = True
    path: str | None = None
    reloads: int = 0

    def upsert(self, *docs: IndexDocument) -> None:
        self.index.upsert(docs)
        self._after_write()

    def delete(self, workspace_id: str, memory_ids: Sequence[str]) -> None:
        self.index.delete(workspace_id, memory_ids)
        self._after_write()

    def clear(self, workspace_id: str) -> None:
        self.index.clear_workspace(workspace_id)
        self._after_write()

    def require_knn(self) -> None:
        if not self.supports_knn:
            pytest.skip(
                "osmem-server has no k-NN query; its request body is asserted as data instead"
            )

    def _after_write(self) -> None:
        if self.path is not None:  # prove the state survives a save and a fresh load
            assert isinstance(self.index, LocalIndex)
            self.index.flush()
            self.index.close()
            self.index = LocalIndex(path=self.path)
            self.index.ensure_index(DIMENSION)
            self.reloads += 1


def _opensearch_harness(name: str, url: str, supports_knn: bool) -> Iterator[Harness]:
    service = os.environ.get("OPENSEARCH_SERVICE", "es")
    client = make_client(
        url, region=os.environ.get("AWS_REGION", "us-east-1"), service=service, timeout=10.0
    )
    index_name = f"engram-contract-{uuid.uuid4().hex[:12]}"
    index = OpenSearchIndex(client, index_name, serverless=service == "aoss", refresh="wait_for")
    index.ensure_index(DIMENSION)
    try:
        yield Harness(name, index, supports_knn=supports_knn)
    finally:
        client.indices.delete(index=index_name, ignore_unavailable=True)


@pytest.fixture(params=ADAPTERS)
def harness(request: pytest.FixtureRequest, tmp_path) -> Iterator[Harness]:
    name = request.param
    if name == "local":
        index = LocalIndex()
        index.ensure_index(DIMENSION)
        yield Harness(name, index)
    elif name == "local-persisted":
        path = str(tmp_path / "local-index.npz")
        index = LocalIndex(path=path, save_delay=60.0)
        index.ensure_index(DIMENSION)
        harness = Harness(name, index, path=path)
        yield harness
        harness.index.close()
    elif name == "opensearch":
        server = request.getfixturevalue("osmem_base")
        yield from _opensearch_harness(name, server.url, supports_knn=False)
    else:
        url = os.environ.get("OPENSEARCH_URL")
        if not url:
            pytest.skip("set OPENSEARCH_URL to run the suite against a real OpenSearch cluster")
        yield from _opensearch_harness(name, url, supports_knn=True)


# --- documents ---

WS = "ws-a"
OTHER = "ws-b"
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
EVERYTHING = SearchFilters()


def vec(*head: float) -> list[float]:
    return [*head, *([0.0] * (DIMENSION - len(head)))]


def doc(
    memory_id: str,
    content: str = "memo",
    *,
    ws: str = WS,
    embedding: Any = None,
    hours: float = 0,
    **fields: Any,
) -> IndexDocument:
    return IndexDocument(
        memory_id=memory_id,
        workspace_id=ws,
        content=content,
        embedding=embedding if embedding is not None else vec(1.0),
        created_at=T0 + timedelta(hours=hours),
        **fields,
    )


def ids(hits) -> list[str]:
    return [h.memory_id for h in hits]


def cosine(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


# --- k-NN ---


def test_knn_finds_nearest_by_cosine(harness: Harness) -> None:
    harness.require_knn()
    vectors = {
        "same": vec(2.0, 0.1),  # scaled: cosine ignores length
        "close": vec(1.0, 0.5),
        "orthogonal": vec(0.0, 1.0),
        "opposite": vec(-1.0, 0.0),
        "far": vec(0.0, 0.0, 1.0),
    }
    harness.upsert(*(doc(m, embedding=v) for m, v in vectors.items()))
    query = vec(1.0, 0.05)

    hits = harness.index.knn(WS, query, EVERYTHING, k=3)

    assert ids(hits) == ["same", "close", "orthogonal"]
    for hit in hits:
        assert hit.score == pytest.approx(cosine(vectors[hit.memory_id], query), abs=1e-3)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert ids(harness.index.knn(WS, query, EVERYTHING, k=10))[-1] == "opposite"


def test_knn_k_bounds(harness: Harness) -> None:
    harness.require_knn()
    harness.upsert(doc("a", embedding=vec(1.0)), doc("b", embedding=vec(0.0, 1.0)))
    assert len(harness.index.knn(WS, vec(1.0), EVERYTHING, k=10)) == 2
    assert ids(harness.index.knn(WS, vec(1.0), EVERYTHING, k=1)) == ["a"]
    assert harness.index.knn(WS, vec(1.0), EVERYTHING, k=0) == []
    assert harness.index.knn("ws-empty", vec(1.0), EVERYTHING, k=5) == []


# --- BM25 ---


def test_bm25_ranks_the_document_with_the_query_terms_first(harness: Harness) -> None:
    harness.upsert(
        doc("espresso", "Ada orders an espresso with oat milk every morning"),
        doc("tea", "Bob prefers green tea with lemon"),
        doc("machine", "The espresso machine in the office broke"),
        doc("other", "Quarterly planning meeting moved to Thursday"),
    )
    hits = harness.index.bm25(WS, "espresso oat milk", EVERYTHING, k=10)

    assert ids(hits)[0] == "espresso"
    assert set(ids(hits)) == {"espresso", "machine"}
    assert all(h.score > 0 for h in hits)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert ids(harness.index.bm25(WS, "lemon", EVERYTHING, k=10)) == ["tea"]
    assert len(harness.index.bm25(WS, "espresso", EVERYTHING, k=1)) == 1


def test_bm25_stopword_only_or_unknown_queries_are_empty(harness: Harness) -> None:
    harness.upsert(
        doc("a", "the cat sat on the mat"),
        doc("b", "it was what it was"),
        doc("c", "We decided to ship on Fridays"),
    )
    for query in (
        "the of and",
        "it was",
        "",
        "   ",
        "zebra",
        "how should we",
        "what did you do",
        "how should we contact Ada?",
    ):
        assert harness.index.bm25(WS, query, EVERYTHING, k=5) == [], query
    assert harness.index.bm25("ws-empty", "cat", EVERYTHING, k=5) == []


def test_bm25_indexes_search_text_and_title(harness: Harness) -> None:
    harness.upsert(
        doc(
            "context",
            "sounds great",
            search_text="Bob: shall we go kayaking on Saturday? Ada: sounds great",
        ),
        doc("titled", "notes body", title="Kayaking trip"),
        doc("plain", "nothing relevant"),
    )
    assert set(ids(harness.index.bm25(WS, "kayaking", EVERYTHING, k=10))) == {"context", "titled"}
    assert ids(harness.index.bm25(WS, "saturday", EVERYTHING, k=10)) == ["context"]


# --- filters ---

CORPUS = (
    doc(
        "m1",
        hours=0,
        session_id="s1",
        memory_type="episodic",
        role="user",
        tags=("customer:ada", "kind:preference", "vip"),
        metadata={"category": "preferences", "priority": 1, "flag": True},
        user_id="u1",
        agent_id="g1",
    ),
    doc(
        "m2",
        hours=1,
        session_id="s1",
        memory_type="semantic",
        role="assistant",
        tags=("customer:ada", "kind:fact"),
        metadata={"category": "facts", "priority": 2},
        user_id="u1",
        agent_id="g2",
    ),
    doc(
        "m3",
        hours=2,
        session_id="s2",
        memory_type="procedural",
        role="user",
        tags=("customer:bob", "kind:preference"),
        metadata={"category": "preferences", "priority": 2, "flag": False},
        user_id="u2",
        agent_id="g1",
    ),
    doc("m4", hours=3, session_id="s2", memory_type="episodic", role="system", tags=("vip",)),
    doc(
        "m5",
        hours=4,
        memory_type="semantic",
        tags=("customer:adam",),
        metadata={"category": "preferences", "nested": {"k": "v"}},
        user_id="u2",
        agent_id="g2",
    ),
    # Another tenant's document that matches every filter below: must never appear.
    doc(
        "m1",
        ws=OTHER,
        hours=0,
        session_id="s1",
        memory_type="episodic",
        role="user",
        tags=("customer:ada", "kind:preference", "vip", "kind:fact", "customer:adam"),
        metadata={"category": "preferences", "priority": 1, "flag": True},
        user_id="u1",
        agent_id="g1",
    ),
    doc(
        "x9",
        ws=OTHER,
        hours=2,
        session_id="s2",
        memory_type="semantic",
        role="user",
        tags=("customer:ada", "kind:fact"),
        metadata={"category": "facts", "priority": 2},
        user_id="u2",
        agent_id="g2",
    ),
)


def H(n: float) -> datetime:
    return T0 + timedelta(hours=n)


FILTER_CASES = {
    "session": (SearchFilters(session_id="s1"), {"m1", "m2"}),
    "memory_types one": (SearchFilters(memory_types=("semantic",)), {"m2", "m5"}),
    "memory_types many": (
        SearchFilters(memory_types=("episodic", "procedural")),
        {"m1", "m3", "m4"},
    ),
    "role": (SearchFilters(role="user"), {"m1", "m3"}),
    "tags one": (SearchFilters(tags=("customer:ada",)), {"m1", "m2"}),
    "tags all-of": (SearchFilters(tags=("customer:ada", "vip")), {"m1"}),
    "tag eq": (SearchFilters(tag_filters=(TagFilter("customer", "eq", "ada"),)), {"m1", "m2"}),
    "tag neq": (
        SearchFilters(tag_filters=(TagFilter("customer", "neq", "ada"),)),
        {"m3", "m4", "m5"},
    ),
    "tag exists": (SearchFilters(tag_filters=(TagFilter("kind", "exists"),)), {"m1", "m2", "m3"}),
    "tag exists other key": (
        SearchFilters(tag_filters=(TagFilter("customer", "exists"),)),
        {"m1", "m2", "m3", "m5"},
    ),
    "tag prefix": (
        SearchFilters(tag_filters=(TagFilter("customer", "prefix", "ad"),)),
        {"m1", "m2", "m5"},
    ),
    "tag prefix exact value": (
        SearchFilters(tag_filters=(TagFilter("customer", "prefix", "bob"),)),
        {"m3"},
    ),
    "metadata one": (SearchFilters(metadata={"category": "preferences"}), {"m1", "m3", "m5"}),
    "metadata AND": (SearchFilters(metadata={"category": "preferences", "priority": 2}), {"m3"}),
    "metadata int": (SearchFilters(metadata={"priority": 1}), {"m1"}),
    "metadata bool": (SearchFilters(metadata={"flag": True}), {"m1"}),
    "metadata false": (SearchFilters(metadata={"flag": False}), {"m3"}),
    "metadata nested path": (SearchFilters(metadata={"nested.k": "v"}), {"m5"}),
    "user": (SearchFilters(user_id="u1"), {"m1", "m2"}),
    "agent": (SearchFilters(agent_id="g1"), {"m1", "m3"}),
    "time range inclusive": (SearchFilters(from_time=H(1), to_time=H(3)), {"m2", "m3", "m4"}),
    "time from only": (SearchFilters(from_time=H(3)), {"m4", "m5"}),
    "time to only": (SearchFilters(to_time=H(0)), {"m1"}),
    "session + role": (SearchFilters(session_id="s2", role="user"), {"m3"}),
    "tags + tag filter + metadata + time": (
        SearchFilters(
            tags=("customer:ada",),
            tag_filters=(TagFilter("kind", "exists"),),
            metadata={"category": "facts"},
            from_time=H(1),
        ),
        {"m2"},
    ),
    "user + types + prefix": (
        SearchFilters(
            user_id="u2",
            memory_types=("semantic",),
            tag_filters=(TagFilter("customer", "prefix", "ad"),),
        ),
        {"m5"},
    ),
    "eq + neq": (
        SearchFilters(
            tag_filters=(TagFilter("kind", "eq", "preference"), TagFilter("customer", "neq", "bob"))
        ),
        {"m1"},
    ),
    "agent + to_time": (SearchFilters(agent_id="g2", to_time=H(2)), {"m2"}),
    "nothing matches": (SearchFilters(role="nobody"), set()),
    "empty memory_types": (SearchFilters(memory_types=()), set()),
}


@pytest.mark.parametrize("case", list(FILTER_CASES))
def test_filters_apply_to_every_query(harness: Harness, case: str) -> None:
    filters, expected = FILTER_CASES[case]
    harness.upsert(*CORPUS)

    assert set(ids(harness.index.list(WS, filters, limit=100))) == expected
    assert set(ids(harness.index.bm25(WS, "memo", filters, k=100))) == expected
    if harness.supports_knn:
        assert set(ids(harness.index.knn(WS, vec(1.0), filters, k=100))) == expected


# --- writes ---


def test_upsert_replaces_by_memory_id(harness: Harness) -> None:
    harness.upsert(doc("m", "alpha bravo", embedding=vec(1.0), session_id="s1"))
    harness.upsert(doc("m", "charlie delta", embedding=vec(0.0, 1.0), session_id="s2"))

    assert harness.index.count(WS) == 1
    assert harness.index.bm25(WS, "alpha", EVERYTHING, k=5) == []
    assert ids(harness.index.bm25(WS, "charlie", EVERYTHING, k=5)) == ["m"]
    assert harness.index.list(WS, SearchFilters(session_id="s1"), limit=5) == []
    assert ids(harness.index.list(WS, SearchFilters(session_id="s2"), limit=5)) == ["m"]
    if harness.supports_knn:
        [hit] = harness.index.knn(WS, vec(0.0, 1.0), EVERYTHING, k=5)
        assert hit.memory_id == "m" and hit.score == pytest.approx(1.0, abs=1e-3)


def test_delete_removes_and_ignores_missing_ids(harness: Harness) -> None:
    harness.upsert(doc("keep", "apple pie"), doc("drop", "apple tart"))
    harness.delete(WS, ["drop", "never-existed"])

    assert harness.index.count(WS) == 1
    assert ids(harness.index.bm25(WS, "apple", EVERYTHING, k=5)) == ["keep"]
    assert ids(harness.index.list(WS, EVERYTHING, limit=5)) == ["keep"]
    if harness.supports_knn:
        assert ids(harness.index.knn(WS, vec(1.0), EVERYTHING, k=5)) == ["keep"]
    harness.delete(WS, [])
    harness.delete("ws-empty", ["keep"])
    assert harness.index.count(WS) == 1


def test_list_is_newest_first_with_offset(harness: Harness) -> None:
    harness.upsert(*(doc(f"m{i}", hours=i) for i in (2, 0, 4, 1, 3)))
    index = harness.index

    assert ids(index.list(WS, EVERYTHING, limit=2)) == ["m4", "m3"]
    assert ids(index.list(WS, EVERYTHING, limit=2, offset=2)) == ["m2", "m1"]
    assert ids(index.list(WS, EVERYTHING, limit=10, offset=4)) == ["m0"]
    assert index.list(WS, EVERYTHING, limit=10, offset=5) == []
    assert index.list(WS, EVERYTHING, limit=0) == []
    assert all(h.score == 0 for h in index.list(WS, EVERYTHING, limit=10))


def test_count_and_clear_workspace(harness: Harness) -> None:
    assert harness.index.count(WS) == 0
    harness.upsert(*(doc(f"a{i}") for i in range(7)), *(doc(f"b{i}", ws=OTHER) for i in range(3)))
    assert (harness.index.count(WS), harness.index.count(OTHER)) == (7, 3)

    harness.clear(WS)

    assert (harness.index.count(WS), harness.index.count(OTHER)) == (0, 3)
    assert harness.index.list(WS, EVERYTHING, limit=10) == []
    assert harness.index.bm25(WS, "memo", EVERYTHING, k=10) == []
    harness.clear("ws-empty")


# --- tenant isolation ---


def test_tenant_isolation_for_every_method(harness: Harness) -> None:
    harness.upsert(
        doc("shared", "apple orchard", embedding=vec(1.0), session_id="s"),
        doc("a-only", "apple cider", embedding=vec(0.9, 0.1), session_id="s"),
        doc("shared", "banana plantation", ws=OTHER, embedding=vec(1.0), session_id="s"),
        doc("b-only", "banana bread", ws=OTHER, embedding=vec(1.0), session_id="s"),
    )
    index = harness.index

    assert index.bm25(WS, "banana", EVERYTHING, k=10) == []
    assert set(ids(index.bm25(WS, "apple", EVERYTHING, k=10))) == {"shared", "a-only"}
    assert set(ids(index.list(WS, SearchFilters(session_id="s"), limit=10))) == {"shared", "a-only"}
    assert (index.count(WS), index.count(OTHER)) == (2, 2)
    if harness.supports_knn:
        assert set(ids(index.knn(WS, vec(1.0), EVERYTHING, k=10))) == {"shared", "a-only"}

    # Writes in one workspace never touch the other's document with the same memory id.
    harness.upsert(doc("shared", "cherry jam", ws=OTHER))
    assert ids(index_of(harness).bm25(WS, "orchard", EVERYTHING, k=10)) == ["shared"]
    harness.delete(OTHER, ["shared", "a-only"])
    assert index_of(harness).count(WS) == 2
    harness.clear(OTHER)
    assert index_of(harness).count(WS) == 2
    assert set(ids(index_of(harness).list(WS, EVERYTHING, limit=10))) == {"shared", "a-only"}
    assert index_of(harness).list(OTHER, EVERYTHING, limit=10) == []


def index_of(harness: Harness):
    return harness.index  # re-read: the persisted harness reloads the index after writes


# --- the k-NN request osmem cannot run, asserted as data ---


class RecordingClient:
    """Stands in for opensearch-py's client and records search bodies."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []

    def search(self, index: str, body: dict[str, Any], **params: Any) -> dict[str, Any]:
        self.bodies.append(body)
        return {"hits": {"hits": [{"_id": "x", "_score": 0.75, "_source": {"memory_id": "m"}}]}}


def test_opensearch_knn_request_body() -> None:
    client = RecordingClient()
    index = OpenSearchIndex(client, "memories")
    filters = SearchFilters(session_id="s1", tag_filters=(TagFilter("customer", "neq", "bob"),))

    hits = index.knn(WS, vec(1.0, 2.0), filters, k=7)

    [body] = client.bodies
    clause = body["query"]["knn"]["embedding"]
    assert body["size"] == 7 and clause["k"] == 7
    assert clause["vector"] == vec(1.0, 2.0)
    assert clause["filter"]["bool"]["filter"][0] == {"term": {"workspace_id": WS}}
    assert {"term": {"session_id": "s1"}} in clause["filter"]["bool"]["filter"]
    assert clause["filter"]["bool"]["must_not"] == [{"term": {"tags": "customer:bob"}}]
    assert set(body["query"]) == {"knn"}  # filter inside the knn clause: efficient filtering
    assert hits[0].memory_id == "m" and hits[0].score == pytest.approx(0.5)  # (1+cos)/2 = 0.75


# --- the local adapter's own promises: persistence, threads, dimensions ---


def test_local_index_saves_on_a_debounce_atomically(tmp_path) -> None:
    path = tmp_path / "index.npz"
    index = LocalIndex(path=path, save_delay=0.05)
    index.upsert([doc("a", "persisted words", tags=("k:v",), metadata={"n": 1})])
    for _ in range(100):  # bounded wait for the timer: 100 x 20 ms
        if path.exists():
            break
        threading.Event().wait(0.02)
    assert path.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["index.npz"]  # no temp file left behind

    reloaded = LocalIndex(path=path)
    assert ids(reloaded.bm25(WS, "persisted", SearchFilters(metadata={"n": 1}), k=5)) == ["a"]
    assert ids(reloaded.knn(WS, vec(1.0), SearchFilters(tags=("k:v",)), k=5)) == ["a"]
    with np.load(path, allow_pickle=False) as data:  # plain arrays, no pickle
        assert set(data.files) == {"vectors", "meta"}
    index.close()


def test_local_index_is_thread_safe() -> None:
    index = LocalIndex()
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(200):
                index.upsert([doc(f"{n}-{i}", f"word{i % 7} common", embedding=vec(1.0, i % 5))])
                if i % 3 == 0:
                    index.delete(WS, [f"{n}-{i - 1}"])
        except BaseException as error:  # noqa: BLE001
            errors.append(error)

    def reader() -> None:
        try:
            for _ in range(200):
                index.knn(WS, vec(1.0), EVERYTHING, k=5)
                index.bm25(WS, "common", EVERYTHING, k=5)
                index.list(WS, EVERYTHING, limit=5)
        except BaseException as error:  # noqa: BLE001
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(3)] + [
        threading.Thread(target=reader) for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    assert index.count(WS) == len(index.list(WS, EVERYTHING, limit=10_000))
    assert len(index.bm25(WS, "common", EVERYTHING, k=10_000)) == index.count(WS)


def test_local_index_refuses_a_different_dimension() -> None:
    index = LocalIndex()
    index.ensure_index(DIMENSION)
    with pytest.raises(ValueError):
        index.upsert([doc("a", embedding=[1.0, 0.0])])
    index.upsert([doc("a")])
    with pytest.raises(ValueError):
        index.knn(WS, [1.0, 0.0], EVERYTHING, k=1)
    with pytest.raises(ValueError):
        index.ensure_index(DIMENSION * 2)


def test_opensearch_index_is_made_from_the_packaged_mapping_and_keeps_its_dimension(osmem_base):
    """The mapping ships inside the engram package, so the deployed layer carries it (the
    stack's setup function creates the index from it); an existing index of another
    dimension is refused, never replaced."""
    import engram

    assert MAPPING_PATH.is_file()
    assert MAPPING_PATH.is_relative_to(Path(engram.__file__).resolve().parent)
    client = make_client(osmem_base.url, region="us-east-1", service="es", timeout=10.0)
    name = f"engram-provision-{uuid.uuid4().hex[:12]}"
    try:
        OpenSearchIndex(client, name).ensure_index(DIMENSION)
        again = OpenSearchIndex(client, name)
        again.ensure_index(DIMENSION)  # exists with the same dimension: nothing to do
        again.ensure_index(DIMENSION)  # the second call is answered from memory
        with pytest.raises(DimensionMismatch) as refused:
            OpenSearchIndex(client, name).ensure_index(DIMENSION * 2)
        assert (refused.value.found, refused.value.wanted) == (DIMENSION, DIMENSION * 2)
        mapping = client.indices.get_mapping(index=name)[name]["mappings"]
        assert mapping["properties"]["embedding"]["dimension"] == DIMENSION
    finally:
        client.indices.delete(index=name, ignore_unavailable=True)


# --- the search service's ranking over each adapter (issue 21) ---

RANKING_CORPUS = {
    # memory_id: (content, vector head, hours)
    "espresso": ("Ada orders an espresso with oat milk every morning", (1.0, 0.2), 0),
    "machine": ("The espresso machine in the office broke again", (0.9, 0.5), 1),
    "tea": ("Bob prefers green tea with lemon in the afternoon", (0.2, 1.0), 2),
    "milk": ("We ran out of oat milk on Friday", (0.7, 0.7), 3),
    "deploy": ("Deploys go out every Tuesday after the standup", (0.0, 0.1, 1.0), 4),
    "error": ("The deploy failed with ERR-7F3K2 on the staging cluster", (0.1, 0.0, 0.9), 5),
    "report": ("The quarterly report reaches finance before the fifth", (0.0, 0.0, 0.2, 1.0), 6),
    "coffee": ("Coffee beans are ordered from the roastery monthly", (0.95, 0.1), 7),
}
RANKING_QUERIES = (
    ("espresso with oat milk", (1.0, 0.3)),
    ("what broke with ERR-7F3K2?", (0.05, 0.0, 1.0)),
    ("tea in the afternoon", (0.3, 1.0)),
    ("What does Bob drink in the afternoon?", (0.4, 0.9)),
)
# Hybrid embeds a query without its names (fusion.semantic_query): those texts' vectors.
SEMANTIC_FORMS = {"What does drink in the afternoon?": (0.5, 0.8)}


class _Memories:
    """The table's side of a search (the re-check), as a dict."""

    def __init__(self) -> None:
        from engram.clock import iso
        from engram.memories.models import Memory

        self.memories = {
            m: Memory(
                memory_id=m, workspace_id=WS, content=c, created_at=iso(T0 + timedelta(hours=h))
            )
            for m, (c, _, h) in RANKING_CORPUS.items()
        }

    def unindexed(self, workspace_id: str, limit: int) -> list[Any]:
        return []  # everything is indexed here

    def get_many(self, workspace_id: str, memory_ids: Sequence[str]) -> dict[str, Any]:
        return {m: self.memories[m] for m in memory_ids if m in self.memories}


# Hybrid's soft word match embeds single words: these are close in meaning (one axis each
# group); any other word one of the last two axes (by its checksum).
WORD_MEANINGS = {
    "drink": (0, 0, 0, 0, 1.0),
    "tea": (0, 0, 0, 0, 0.9, 0.1),
    "espresso": (0, 0, 0, 0, 0.8, 0.2),
    "broke": (0, 0, 0, 0, 0, 1.0),
    "failed": (0, 0, 0, 0, 0, 0.9),
}


class _QueryVectors:
    """An embedder that knows the fixture queries' vectors and its words'."""

    dimension, name = DIMENSION, "fixture"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        known = {q: vec(*head) for q, head in (*RANKING_QUERIES, *SEMANTIC_FORMS.items())}
        known.update((w, vec(*head)) for w, head in WORD_MEANINGS.items())
        return np.asarray([known.get(t) or _other_word(t) for t in texts], dtype=np.float32)


def _other_word(text: str) -> list[float]:
    return vec(*([0.0] * (6 + zlib.crc32(text.encode()) % 2)), 1.0)


class _KnnAsData:
    """osmem-server has no k-NN query: the adapter's k-NN request is built as usual, and
    answered with the response OpenSearch's exact cosinesimil search gives for it
    ((1 + cos) / 2 per hit, best first), which the adapter's own parser reads."""

    def __init__(self, index: OpenSearchIndex) -> None:
        self._index = index

    def __getattr__(self, name: str) -> Any:
        return getattr(self._index, name)

    def knn(self, workspace_id: str, vector: Sequence[float], filters: SearchFilters, k: int):
        from engram.adapters.opensearch_index import hits_from_response, knn_body

        body = knn_body(workspace_id, vector, filters, k)
        query = body["query"]["knn"]["embedding"]["vector"]
        scored = sorted(
            (
                (m, (1 + cosine(vec(*head), query)) / 2)
                for m, (_, head, _) in RANKING_CORPUS.items()
            ),
            key=lambda pair: (-pair[1], pair[0]),
        )[: body["size"]]
        response = {
            "hits": {"hits": [{"_source": {"memory_id": m}, "_score": s} for m, s in scored]}
        }
        return hits_from_response(response, "knn")


def _ranking(index: Any, mode: str, query: str) -> list[str]:
    from engram.clock import FixedClock
    from engram.search.models import SearchRequest
    from engram.search.service import SearchService

    svc = SearchService(
        index, _QueryVectors(), _Memories(), FixedClock(T0 + timedelta(days=1)), 30, 4
    )
    request = SearchRequest(query=query, search_mode=mode, limit=5)
    return [r.memory_id for r in svc.search(WS, request).results]


@pytest.mark.parametrize("mode", ["keyword", "semantic", "hybrid"])
def test_the_search_service_ranks_alike_on_every_adapter(harness: Harness, mode: str) -> None:
    """Fusion runs in the service over raw leg scores, so every adapter must yield the same
    ids in the same order as the local index for every mode."""
    docs = [
        doc(m, content, embedding=vec(*head), hours=hours)
        for m, (content, head, hours) in RANKING_CORPUS.items()
    ]
    reference = LocalIndex()
    reference.ensure_index(DIMENSION)
    reference.upsert(docs)
    harness.upsert(*docs)
    index = harness.index
    if not harness.supports_knn:
        assert isinstance(index, OpenSearchIndex)
        index = _KnnAsData(index)
    for query, _ in RANKING_QUERIES:
        expected = _ranking(reference, mode, query)
        assert expected, query
        assert _ranking(index, mode, query) == expected, query
