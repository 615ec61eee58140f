"""Word vectors for hybrid search's soft word match (search/fusion.py, issue 21), so
"painting" and "painted", or "kids" and "children", come out close.

An embedder that offers `word_vectors(words)` gives them as a lookup: the local MiniLM's
static word-piece embeddings (LocalEmbedder.word_vectors, no model run). Any other
embedder (Bedrock on AWS) embeds each word alone through the port's `embed`, at most
PORT_BOUND new words a search (the query's first): Titan takes one call per word, and a
cold function's first searches would otherwise make hundreds; the words left over count as
matching nothing until a later search has embedded them. A search
needs the query's content words and its candidates' (a few hundred); the vectors are kept
per embedder for the most recently used CAPACITY words (one WordMeanings per process,
`wiring.word_meanings()`), so a workspace's vocabulary is made once and later searches only
look words up. (Embedding each word with the model instead of the lookup scored a little
higher on LoCoMo, 0.811 against 0.809 held out on session messages, but a process new to a
workspace then spent seconds on its first searches: docs/benchmarks.md.)
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Collection
from typing import TYPE_CHECKING

from engram.search.embedder import EmbeddingError

if TYPE_CHECKING:
    import numpy as np

    from engram.search.embedder import Embedder

PORT_BOUND = 32  # new words a search embeds through the port (none for a lookup)
CAPACITY = 20_000  # words kept per process: 31 MB of 384-dimension vectors (82 MB of 1,024)


class WordMeanings:
    """word -> unit vector, embedded on first use and kept (least recently used out)."""

    def __init__(self, capacity: int = CAPACITY) -> None:
        self._capacity = capacity
        self._kept: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def of(
        self, embedder: Embedder, words: Collection[str], first: Collection[str] = ()
    ) -> dict[str, np.ndarray]:
        """The words' vectors: all of them from a lookup; through the port, those kept and
        at most PORT_BOUND new ones, the words in `first` before the others. {} when the
        embedder fails (the search then ranks without the soft word match rather than
        failing)."""
        found, missing = {}, []
        with self._lock:
            for word in words:
                vector = self._kept.get((embedder.name, word))
                if vector is None:
                    missing.append(word)
                else:
                    self._kept.move_to_end((embedder.name, word))
                    found[word] = vector
        if missing:
            lookup = getattr(embedder, "word_vectors", None)
            missing.sort(key=lambda word: (word not in first, word))
            if lookup is None:
                missing = missing[:PORT_BOUND]
            try:
                vectors = lookup(missing) if lookup else embedder.embed(missing)
            except EmbeddingError:
                return {}
            fresh = dict(zip(missing, vectors, strict=True))
            found.update(fresh)
            with self._lock:
                for word, vector in fresh.items():
                    self._kept[(embedder.name, word)] = vector
                while len(self._kept) > self._capacity:
                    self._kept.popitem(last=False)
        return found
