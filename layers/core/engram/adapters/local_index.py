"""The embedded search index: exact cosine over numpy plus BM25 (bm25s), in process.

Data is partitioned per workspace (`_Shard`), and every read resolves its rows through
`_scope`, the one place a workspace is applied, so no query can cross tenants.

Keyword text is lower-cased, split on word characters, stripped of English stopwords
(NLTK's list, as the OpenSearch mapping's analyzer) and stemmed with PyStemmer's English
(Porter2) stemmer, so 'running' matches 'run' here as it does under the mapping's Porter
stemmer. Measured on LoCoMo (docs/benchmarks.md): both raise keyword recall and NDCG@10.

Persistence (optional): one `.npz` file holding the vectors and a JSON document list,
written atomically by `flush()` and by a debounced timer after writes, read at start.
"""

from __future__ import annotations

import atexit
import builtins  # annotations after the `list` method name the type as builtins.list
import json
import os
import re
import tempfile
import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, TypeVar

import numpy as np

from engram.search.filtering import metadata_ok as _metadata_ok
from engram.search.filtering import tag_filter_ok as _tag_filter_ok
from engram.search.index import (
    Hit,
    IndexDocument,
    SearchFilters,
    tag_keys,
)

_TOKEN = re.compile(r"(?u)\b\w\w+\b")
T = TypeVar("T")
_FORMAT_VERSION = 1


def _stopwords() -> frozenset[str]:
    """NLTK's English list (179 words, bm25s's `STOPWORDS_EN_PLUS`), the same list as the
    `stopwords` of the OpenSearch mapping's `engram_english` analyzer (a test keeps them
    equal). Not Lucene's 33:
    in one user's few memories, "we" or "how" is rare enough to outrank the words that
    matter (docs/benchmarks.md, "Stopwords")."""
    from bm25s.stopwords import STOPWORDS_EN_PLUS

    return frozenset(STOPWORDS_EN_PLUS)


_STOPWORDS = _stopwords()


def _stemmer() -> Any:
    import Stemmer  # PyStemmer: Snowball's English (Porter2) stemmer, in C

    return Stemmer.Stemmer("english")


_STEMMER = _stemmer()


def tokenize(text: str) -> list[str]:
    """Lower-cased word tokens, English stopwords dropped, stemmed (documents and queries alike)."""
    tokens = [t for t in _TOKEN.findall(text.lower()) if t not in _STOPWORDS]
    return _STEMMER.stemWords(tokens) if tokens else tokens


def _unit(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.where(norms == 0, 1.0, norms)


# --- filter semantics: engram.search.filtering (the OpenSearch builders mirror them) ---


# Scalar fields kept as a column per shard, so their filters are one vectorised comparison.
_COLUMNS = ("session_id", "memory_type", "role", "user_id", "agent_id")


def _rest_ok(
    doc: IndexDocument, tags: frozenset[str], keys: frozenset[str], f: SearchFilters
) -> bool:
    """The filters `_scope` does not vectorise: tags, tag filters, metadata."""
    if any(t not in tags for t in f.tags):
        return False
    if not all(_tag_filter_ok(tags, keys, t.key, t.op, t.value) for t in f.tag_filters):
        return False
    return _metadata_ok(doc.metadata, f.metadata) if f.metadata else True


# --- one workspace's rows ---


@dataclass
class _Shard:
    """Dense rows: deleting moves the last row into the hole, so row i < n is live."""

    dimension: int
    n: int = 0
    vectors: np.ndarray = field(init=False)
    created: np.ndarray = field(init=False)  # created_at as epoch seconds, for ranges
    ids: list[str] = field(default_factory=list)
    docs: list[IndexDocument] = field(default_factory=list)
    tagsets: list[tuple[frozenset[str], frozenset[str]]] = field(default_factory=list)
    token_ids: list[list[int]] = field(default_factory=list)
    row_of: dict[str, int] = field(default_factory=dict)
    vocab: dict[str, int] = field(default_factory=dict)
    bm25: Any = None
    bm25_stale: bool = True

    columns: dict[str, np.ndarray] = field(init=False)  # _COLUMNS as object arrays

    def __post_init__(self) -> None:
        self.vectors = np.zeros((16, self.dimension), dtype=np.float32)
        self.created = np.zeros(16, dtype=np.float64)
        self.columns = {name: np.full(16, None, dtype=object) for name in _COLUMNS}

    def _grow(self) -> None:
        capacity = len(self.vectors) * 2  # amortised O(1) appends
        self.vectors = np.resize(self.vectors, (capacity, self.dimension))
        self.created = np.resize(self.created, capacity)
        for name, column in self.columns.items():
            grown = np.full(capacity, None, dtype=object)
            grown[: len(column)] = column
            self.columns[name] = grown

    def put(self, doc: IndexDocument, unit_vector: np.ndarray) -> None:
        tokens = tokenize(doc.keyword_text())
        ids = [self.vocab.setdefault(t, len(self.vocab)) for t in tokens]
        facets = (frozenset(doc.tags), frozenset(tag_keys(doc.tags)))
        row = self.row_of.get(doc.memory_id)
        if row is None:
            if self.n == len(self.vectors):
                self._grow()
            row, self.n = self.n, self.n + 1
            self.row_of[doc.memory_id] = row
            self.ids.append(doc.memory_id)
            self.docs.append(doc)
            self.tagsets.append(facets)
            self.token_ids.append(ids)
        else:
            self.docs[row], self.tagsets[row], self.token_ids[row] = doc, facets, ids
        self.vectors[row] = unit_vector
        self.created[row] = doc.created_at.timestamp()
        for name, column in self.columns.items():
            column[row] = getattr(doc, name)
        self.bm25_stale = True

    def remove(self, memory_id: str) -> bool:
        row = self.row_of.pop(memory_id, None)
        if row is None:
            return False
        last = self.n - 1
        if row != last:
            self.vectors[row] = self.vectors[last]
            self.created[row] = self.created[last]
            for values in self.columns.values():
                values[row] = values[last]
        _fill_from_last(self.ids, row)
        _fill_from_last(self.docs, row)
        _fill_from_last(self.tagsets, row)
        _fill_from_last(self.token_ids, row)
        if row != last:
            self.row_of[self.ids[row]] = row
        for values in self.columns.values():
            values[last] = None
        self.n = last
        self.bm25_stale = True
        return True

    def bm25_scores(self, tokens: list[str]) -> np.ndarray | None:
        """Scores for rows 0..n-1, or None when no query token is in this corpus."""
        if self.bm25_stale:
            self._rebuild_bm25()
        query = [self.vocab[t] for t in tokens if t in self.vocab]
        if self.bm25 is None or not query:
            return None
        return self.bm25.get_scores_from_ids(query)

    def _rebuild_bm25(self) -> None:
        import bm25s

        self.bm25, self.bm25_stale = None, False
        if self.n and self.vocab:
            index = bm25s.BM25()
            # bm25s adds the empty token to the vocabulary it is given; give it a copy.
            index.index((self.token_ids, dict(self.vocab)), show_progress=False)
            self.bm25 = index


def _fill_from_last(column: list[T], row: int) -> None:
    """Deletes `row` in O(1): the last value moves into it."""
    last = column.pop()
    if row < len(column):
        column[row] = last


def _flush_at_exit(ref: weakref.ref[LocalIndex]) -> None:
    index = ref()
    if index is not None:
        index.flush()


# --- the adapter ---


class LocalIndex:
    """Thread-safe in-process SearchIndex; `path` makes it persistent."""

    def __init__(self, path: str | os.PathLike[str] | None = None, save_delay: float = 2.0) -> None:
        self._lock = threading.RLock()
        self._save_lock = threading.Lock()
        self._shards: dict[str, _Shard] = {}
        self._dimension: int | None = None
        self._path = os.fspath(path) if path else None
        self._save_delay = save_delay
        self._timer: threading.Timer | None = None
        self._version = self._saved_version = 0
        if self._path and os.path.exists(self._path):
            self._load(self._path)
        if self._path:
            atexit.register(_flush_at_exit, weakref.ref(self))

    # -- port --

    def ensure_index(self, dimension: int) -> None:
        with self._lock:
            if self._has_docs() and dimension != self._dimension:
                raise ValueError(
                    f"the index holds {self._dimension}-dimensional vectors, not {dimension}"
                )
            self._dimension = dimension

    def upsert(self, docs: Sequence[IndexDocument]) -> None:
        if not docs:
            return
        vectors = _unit(np.asarray([d.embedding for d in docs], dtype=np.float32))
        with self._lock:
            self._check_dimension(vectors.shape[1])
            self._dimension = vectors.shape[1]
            for doc, vector in zip(docs, vectors, strict=True):
                shard = self._shards.get(doc.workspace_id)
                if shard is None:
                    shard = self._shards[doc.workspace_id] = _Shard(self._dimension)
                shard.put(replace(doc, embedding=()), vector)  # the matrix holds the vector
            self._changed()

    def delete(self, workspace_id: str, memory_ids: Sequence[str]) -> None:
        with self._lock:
            shard = self._shards.get(workspace_id)
            if shard is not None and any(shard.remove(m) for m in memory_ids):
                self._changed()

    def knn(
        self, workspace_id: str, vector: Sequence[float], filters: SearchFilters, k: int
    ) -> list[Hit]:
        query = _unit(np.asarray(vector, dtype=np.float32))
        with self._lock:
            scope = self._scope(workspace_id, filters)
            if scope is None or k <= 0:
                return []
            shard, rows = scope
            if query.shape != (shard.dimension,):
                raise ValueError(
                    f"query vector has {query.shape[-1]} dimensions, the index {shard.dimension}"
                )
            # Unfiltered: a view of the live rows; a fancy-index copy would dominate the cost.
            matrix = shard.vectors[: shard.n] if len(rows) == shard.n else shard.vectors[rows]
            return self._top(shard, rows, matrix @ query, k)

    def bm25(self, workspace_id: str, text: str, filters: SearchFilters, k: int) -> list[Hit]:
        tokens = tokenize(text)
        with self._lock:
            scope = self._scope(workspace_id, filters)
            if scope is None or k <= 0 or not tokens:
                return []
            shard, rows = scope
            scores = shard.bm25_scores(tokens)
            if scores is None:
                return []
            scores = scores[rows]
            keep = scores > 0  # only documents that contain a query term
            return self._top(shard, rows[keep], scores[keep], k)

    def list(
        self, workspace_id: str, filters: SearchFilters, limit: int, offset: int = 0
    ) -> list[Hit]:
        with self._lock:
            scope = self._scope(workspace_id, filters)
            if scope is None or limit <= 0:
                return []
            shard, rows = scope
            ordered = sorted(rows.tolist(), key=lambda r: (-shard.created[r], shard.ids[r]))
            return [Hit(shard.ids[r], 0.0) for r in ordered[offset : offset + limit]]

    def count(self, workspace_id: str) -> int:
        with self._lock:
            scope = self._scope(workspace_id, SearchFilters())
            return 0 if scope is None else len(scope[1])

    def clear_workspace(self, workspace_id: str) -> None:
        with self._lock:
            if self._shards.pop(workspace_id, None) is not None:
                self._changed()

    # -- scoping and ranking --

    def _scope(self, workspace_id: str, filters: SearchFilters) -> tuple[_Shard, np.ndarray] | None:
        """The one place reads are restricted: this workspace's shard and its matching rows."""
        shard = self._shards.get(workspace_id)
        if shard is None or shard.n == 0:
            return None
        n = shard.n
        mask: np.ndarray | None = None

        def narrow(keep: np.ndarray) -> None:
            nonlocal mask
            mask = keep if mask is None else mask & keep

        if filters.from_time is not None:
            narrow(shard.created[:n] >= filters.from_time.timestamp())
        if filters.to_time is not None:
            narrow(shard.created[:n] <= filters.to_time.timestamp())
        for name in ("session_id", "role", "user_id", "agent_id"):
            wanted = getattr(filters, name)
            if wanted is not None:
                narrow(shard.columns[name][:n] == wanted)
        if filters.memory_types is not None:
            types = shard.columns["memory_type"][:n]
            any_of = np.zeros(n, dtype=bool)
            for memory_type in filters.memory_types:
                any_of |= types == memory_type
            narrow(any_of)
        rows = np.arange(n) if mask is None else np.flatnonzero(mask)
        if filters.tags or filters.tag_filters or filters.metadata:
            keep = [r for r in rows.tolist() if _rest_ok(shard.docs[r], *shard.tagsets[r], filters)]
            rows = np.asarray(keep, dtype=np.int64)
        return shard, rows

    @staticmethod
    def _top(shard: _Shard, rows: np.ndarray, scores: np.ndarray, k: int) -> builtins.list[Hit]:
        if len(rows) > k:
            part = np.argpartition(-scores, k - 1)[:k]
            rows, scores = rows[part], scores[part]
        ranked = sorted(
            zip(scores.tolist(), rows.tolist(), strict=True), key=lambda p: (-p[0], shard.ids[p[1]])
        )
        return [Hit(shard.ids[row], float(score)) for score, row in ranked]

    def _check_dimension(self, dimension: int) -> None:
        if self._dimension is not None and dimension != self._dimension:
            raise ValueError(f"vectors have {dimension} dimensions, the index {self._dimension}")

    def _has_docs(self) -> bool:
        return any(shard.n for shard in self._shards.values())

    # -- persistence --

    def _changed(self) -> None:
        self._version += 1
        if self._path and self._timer is None:
            self._timer = threading.Timer(self._save_delay, self._debounced_flush)
            self._timer.daemon = True
            self._timer.start()

    def _debounced_flush(self) -> None:
        with self._lock:
            self._timer = None
        self.flush()

    def flush(self) -> None:
        """Write the index to `path` now, if anything changed since the last save."""
        if not self._path:
            return
        with self._save_lock:
            with self._lock:  # snapshot under the lock, serialise outside it
                if self._version == self._saved_version:
                    return
                version, snapshot = self._version, self._snapshot()
            _write_atomic(self._path, *snapshot)
            self._saved_version = version

    def close(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        self.flush()

    def _snapshot(self) -> tuple[np.ndarray, dict[str, Any]]:
        shards = [s for s in self._shards.values() if s.n]
        dimension = self._dimension or 0
        vectors = [s.vectors[: s.n].copy() for s in shards]
        matrix = np.concatenate(vectors) if vectors else np.zeros((0, dimension), np.float32)
        docs = [doc for s in shards for doc in s.docs]
        return matrix, {"version": _FORMAT_VERSION, "dimension": self._dimension, "docs": docs}

    def _load(self, path: str) -> None:
        with np.load(path, allow_pickle=False) as data:
            vectors = data["vectors"]
            meta = json.loads(data["meta"].tobytes().decode("utf-8"))
        if meta.get("version") != _FORMAT_VERSION:
            raise ValueError(f"{path}: unsupported local index format {meta.get('version')!r}")
        self._dimension = meta.get("dimension")
        for raw, vector in zip(meta["docs"], vectors, strict=True):
            doc = _doc_from_json(raw)
            shard = self._shards.get(doc.workspace_id)
            if shard is None:
                shard = self._shards[doc.workspace_id] = _Shard(len(vector))
            shard.put(doc, vector)


def _doc_to_json(doc: IndexDocument) -> dict[str, Any]:
    return {
        "memory_id": doc.memory_id,
        "workspace_id": doc.workspace_id,
        "content": doc.content,
        "memory_type": doc.memory_type,
        "session_id": doc.session_id,
        "role": doc.role,
        "title": doc.title,
        "tags": list(doc.tags),
        "metadata": dict(doc.metadata),
        "user_id": doc.user_id,
        "agent_id": doc.agent_id,
        "source": doc.source,
        "importance_score": doc.importance_score,
        "created_at": doc.created_at.isoformat(),
        "search_text": doc.search_text,
    }


def _doc_from_json(raw: dict[str, Any]) -> IndexDocument:
    fields = dict(
        raw, tags=tuple(raw["tags"]), created_at=datetime.fromisoformat(raw["created_at"])
    )
    return IndexDocument(embedding=(), **fields)


def _write_atomic(path: str, vectors: np.ndarray, meta: dict[str, Any]) -> None:
    meta = dict(meta, docs=[_doc_to_json(d) for d in meta["docs"]])
    blob = np.frombuffer(json.dumps(meta, default=str).encode("utf-8"), dtype=np.uint8)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".local-index-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            np.savez(handle, vectors=vectors, meta=blob)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
