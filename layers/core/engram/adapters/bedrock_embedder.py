"""The production embedder: Amazon Bedrock `invoke_model` through boto3.

Titan Text Embeddings V2 (the default) takes one text per call, so a batch's calls run
`concurrency` at a time on a small thread pool (each call mostly waits on the network);
Cohere embed models (ids starting `cohere.`) take a list, sent in batches of up to 96.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from engram.adapters.bedrock import refusal
from engram.observability import in_current_trace
from engram.search.embedder import EmbeddingError, check_texts, normalise

TITAN_V2_DIMENSIONS = (256, 512, 1024)
DEFAULT_DIMENSION = 1024  # Titan V2's own default size
COHERE_BATCH = 96  # Bedrock's limit on texts per Cohere embed call
MAX_CONCURRENCY = 10  # botocore's connection pool per client (max_pool_connections)


class BedrockEmbedder:
    """The Embedder port on a Bedrock embedding model."""

    def __init__(
        self, model_id: str, dimension: int, client: Any = None, concurrency: int = 1
    ) -> None:
        if not 1 <= concurrency <= MAX_CONCURRENCY:
            raise ValueError(f"concurrency must be from 1 to {MAX_CONCURRENCY}, not {concurrency}.")
        titan_v2 = model_id.startswith("amazon.titan-embed-text-v2")
        if titan_v2 and dimension not in TITAN_V2_DIMENSIONS:
            raise ValueError(
                f"Titan Text Embeddings V2 produces {TITAN_V2_DIMENSIONS} dimensions, "
                f"not {dimension}; set EMBEDDING_DIMENSION to one of them."
            )
        self.model_id = model_id
        self.dimension = dimension
        # The name keys stored vectors (a reindex reuses those made under the same name), so
        # another size than the model's default is another name: its vectors are made anew.
        self.name = f"bedrock:{model_id}" + (
            "" if dimension == DEFAULT_DIMENSION else f"/{dimension}"
        )
        self._client = client  # tests pass a stubbed client; otherwise the cached factory's
        self.concurrency = concurrency
        self._pool: ThreadPoolExecutor | None = None  # made on the first batch that needs it
        self._pool_lock = threading.Lock()

    @property
    def client(self) -> Any:
        if self._client is None:
            from engram import aws

            self._client = aws.client("bedrock-runtime")
        return self._client

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        texts = check_texts(texts)
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if self.model_id.startswith("cohere."):
            rows = [
                row
                for i in range(0, len(texts), COHERE_BATCH)
                for row in self._cohere(texts[i : i + COHERE_BATCH])
            ]
        else:
            rows = self._titan_all(texts)
        return normalise(np.array(rows, dtype=np.float32))

    def _titan_all(self, texts: list[str]) -> list[list[float]]:
        """One call per text, up to `concurrency` in flight; rows in the texts' order. On a
        failure, the calls not yet started are cancelled and the first failed text's error
        is raised."""
        if self.concurrency == 1 or len(texts) == 1:
            return [self._titan(text) for text in texts]
        with self._pool_lock:
            _ = self.client  # made here: creating a boto3 client is not thread-safe
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    self.concurrency, thread_name_prefix="bedrock-embed"
                )
        titan = in_current_trace(self._titan)
        futures = [self._pool.submit(titan, text) for text in texts]
        try:
            return [future.result() for future in futures]
        finally:
            for future in futures:
                future.cancel()

    def _titan(self, text: str) -> list[float]:
        body = {"inputText": text, "dimensions": self.dimension, "normalize": True}
        return self._vector(self._invoke(body).get("embedding"))

    def _cohere(self, texts: list[str]) -> list[list[float]]:
        body = {"texts": texts, "input_type": "search_document"}
        embeddings = self._invoke(body).get("embeddings")
        if isinstance(embeddings, dict):  # when embedding types are named: {"float": [...]}
            embeddings = embeddings.get("float")
        if not isinstance(embeddings, list) or len(embeddings) != len(texts):
            raise self._malformed(f"expected {len(texts)} embeddings")
        return [self._vector(vector) for vector in embeddings]

    def _invoke(self, body: dict) -> dict:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self.client.invoke_model(
                modelId=self.model_id,
                body=json.dumps(body),
                contentType="application/json",
                accept="application/json",
            )
            raw = response["body"].read()
        except ClientError as exc:
            why, retryable = refusal(exc)
            raise EmbeddingError(
                f"Bedrock refused to embed with {self.model_id}: {why}.", retryable=retryable
            ) from exc
        except BotoCoreError as exc:
            raise EmbeddingError(
                f"Bedrock could not be reached to embed with {self.model_id}: {exc}.",
                retryable=True,
            ) from exc
        try:
            parsed = json.loads(raw)
        except ValueError as exc:
            raise self._malformed("the body is not JSON") from exc
        if not isinstance(parsed, dict):
            raise self._malformed("the body is not a JSON object")
        return parsed

    def _vector(self, vector: Any) -> list[float]:
        if not isinstance(vector, list) or len(vector) != self.dimension:
            got = f"{len(vector)}" if isinstance(vector, list) else type(vector).__name__
            raise self._malformed(f"expected a list of {self.dimension} numbers, got {got}")
        if not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in vector):
            raise self._malformed("the embedding holds values that are not numbers")
        return vector

    def _malformed(self, reason: str) -> EmbeddingError:
        return EmbeddingError(
            f"Bedrock model {self.model_id} returned a malformed embedding response: {reason}.",
            retryable=False,
        )
