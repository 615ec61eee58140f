"""The Embedder port: texts in, L2-normalised float32 vectors out.

Nothing heavy is imported here (numpy only where vectors are made); `engram.wiring` picks
and builds the adapter, importing its model runtime or boto3 only then, so API functions
that import this module cold-start fast.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from engram.errors import ServiceUnavailable

if TYPE_CHECKING:
    import numpy as np


class EmbeddingError(ServiceUnavailable):
    """An embedding service failed; `retryable` says whether trying again may help
    (throttling, timeouts) or not (a refused request, a malformed response)."""

    def __init__(self, detail: str, retryable: bool) -> None:
        super().__init__(detail)
        self.retryable = retryable


@runtime_checkable
class Embedder(Protocol):
    dimension: int
    name: str  # e.g. "local:all-MiniLM-L6-v2-int8", "bedrock:amazon.titan-embed-text-v2:0"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Shape (len(texts), dimension), float32, rows of unit L2 norm."""
        ...


def embed_one(embedder: Embedder, text: str) -> np.ndarray:
    """One text's vector, shape (dimension,)."""
    return embedder.embed([text])[0]


def check_texts(texts: Sequence[str]) -> list[str]:
    """The adapters' shared input rule: a sequence of non-blank strings."""
    if isinstance(texts, str):
        raise TypeError("embed() takes a sequence of texts, not one string; use embed_one().")
    texts = list(texts)
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"Text {i} is a {type(text).__name__}, not a string.")
        if not text.strip():
            # Blank content is rejected by the API before it gets here; Bedrock refuses it too.
            raise ValueError(f"Text {i} is empty or blank; there is nothing to embed.")
    return texts


def normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm, as float32 (an all-zero row stays zero)."""
    import numpy as np

    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, np.float32(1e-12))
