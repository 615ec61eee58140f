"""Adapter-specific behaviour of the embedders: the local model's semantics, files and
loading, Bedrock's errors, and how get_embedder picks an adapter."""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import random
import subprocess
import sys
import threading
from importlib import resources

import numpy as np
import pytest

from engram import text, wiring
from engram.adapters import local_embedder
from engram.adapters.bedrock_embedder import BedrockEmbedder
from engram.adapters.local_embedder import LocalEmbedder
from engram.search.embedder import EmbeddingError
from engram.text import ModelIntegrityError, count_tokens

TITAN = "amazon.titan-embed-text-v2:0"


@pytest.fixture(scope="module")
def local():
    return LocalEmbedder()


@pytest.fixture
def fresh_load_state(monkeypatch):
    """An empty per-process load cache for this test; the real one comes back after."""
    monkeypatch.setattr(local_embedder, "_loaded", {})
    monkeypatch.setattr(text, "_counter", [])


# --- local model -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("anchor", "near", "far"),
    [
        ("The cat sits on the mat", "A cat is sitting on a rug", "Stock markets fell sharply"),
        ("I adopted a puppy last week", "We got a new dog recently", "The invoice is overdue"),
        ("How do I reset my password?", "I forgot my login credentials", "Paris is in France"),
        ("She loves painting sunsets", "Her hobby is painting landscapes", "The server crashed"),
    ],
)
def test_local_model_ranks_paraphrases_above_unrelated_text(local, anchor, near, far):
    a, n, f = local.embed([anchor, near, far])
    assert float(a @ n) > float(a @ f) + 0.2


def test_local_model_retrieves_the_matching_memory(local):
    memories = [
        "Melanie ran a charity race for mental health last Sunday.",
        "Caroline is researching adoption agencies.",
        "The team moved the database to Postgres 16.",
        "John's flight to Tokyo leaves on Friday morning.",
    ]
    queries = ["Who is looking into adopting?", "Which database do we use?", "When is the trip?"]
    scores = local.embed(queries) @ local.embed(memories).T
    assert scores.argmax(axis=1).tolist() == [1, 2, 3]


def test_the_model_session_uses_its_threads_and_does_not_spin():
    """Idle pool threads sleep: spinning held both cores after every call (docs/benchmarks.md)."""
    options = local_embedder._session(2).get_session_options()
    assert options.intra_op_num_threads == 2
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"


def test_calls_stay_within_the_batch_size_and_the_token_budget():
    embedder = LocalEmbedder(batch_size=4, token_budget=100)
    lengths = [30, 5, 300, 10, 10, 10, 10, 10, 40, 25, 25]
    groups = embedder._groups([[7] * n for n in lengths])
    assert sorted(i for g in groups for i in g) == list(range(len(lengths)))
    for group in groups:
        widths = [lengths[i] for i in group]
        assert widths == sorted(widths) and len(group) <= 4
        assert len(group) * max(widths) <= 100 or len(group) == 1  # 300 tokens go alone
    assert [[lengths[i] for i in g] for g in groups] == [
        [5, 10, 10, 10],
        [10, 10, 25, 25],
        [30, 40],
        [300],
    ]


def _split_cost(groups: list[list[int]], lengths: list[int]) -> int:
    return sum(
        local_embedder.CALL_COST_TOKENS + len(g) * max(lengths[i] for i in g) for g in groups
    )


def _least_cost(lengths: list[int], batch_size: int, budget: int) -> int:
    """By brute force: every split of the sorted lengths into calls within the limits."""
    widths = sorted(lengths)
    best = None
    for cuts in itertools.product([False, True], repeat=len(widths) - 1):
        calls, current = [], [widths[0]]
        for width, cut in zip(widths[1:], cuts, strict=True):
            if cut:
                calls.append(current)
                current = []
            current.append(width)
        calls.append(current)
        if all(len(c) <= batch_size and (len(c) * c[-1] <= budget or len(c) == 1) for c in calls):
            cost = sum(local_embedder.CALL_COST_TOKENS + len(c) * c[-1] for c in calls)
            best = cost if best is None else min(best, cost)
    return best


def test_calls_are_the_split_of_least_cost():
    """Checked against every split, on random lengths: the greedy fill it replaced fails this."""
    rng = random.Random(7)
    for _ in range(60):
        lengths = [rng.choice([3, 8, 12, 19, 30, 45, 80, 200]) for _ in range(rng.randint(1, 11))]
        batch_size, budget = rng.choice([2, 4, 32]), rng.choice([60, 128, 512])
        embedder = LocalEmbedder(batch_size=batch_size, token_budget=budget)
        groups = embedder._groups([[7] * n for n in lengths])
        assert sorted(i for g in groups for i in g) == list(range(len(lengths)))
        assert _split_cost(groups, lengths) == _least_cost(lengths, batch_size, budget), lengths


def test_a_long_text_gets_its_own_call_when_padding_to_it_costs_more():
    lengths = [10] * 6 + [60]  # together: 7 x 60 = 420 padded tokens; apart: 60 + 60, two calls
    groups = LocalEmbedder()._groups([[7] * n for n in lengths])
    assert [[lengths[i] for i in g] for g in groups] == [[10] * 6, [60]]


def test_a_vector_does_not_depend_on_the_texts_it_is_embedded_with(local):
    """Calls are padded to their longest text; the mask keeps padding out of the vector."""
    texts = [
        "short",
        "a somewhat longer sentence about a dog and its owner " * 3,
        "mid length text",
    ]
    alone = np.stack([local.embed([t])[0] for t in texts])
    together = LocalEmbedder(batch_size=3, token_budget=10_000).embed(texts)
    split = LocalEmbedder(batch_size=1).embed(texts)
    assert np.abs(together - alone).max() < 1e-5 and np.abs(split - alone).max() < 1e-5


def test_long_text_is_truncated_not_refused(local):
    vector = local.embed(["word " * 2000])[0]
    assert vector.shape == (384,) and abs(float(np.linalg.norm(vector)) - 1) < 1e-5


def test_committed_tokenizer_matches_the_pinned_hash():
    data = (resources.files("engram.adapters") / "minilm" / "tokenizer.json").read_bytes()
    assert hashlib.sha256(data).hexdigest() == text.TOKENIZER_SHA256
    licence = (resources.files("engram.adapters") / "minilm" / "LICENSE").read_text()
    assert "Apache License" in licence and "Version 2.0" in licence


def test_tokenizer_hash_mismatch_is_a_clear_error(monkeypatch, fresh_load_state):
    monkeypatch.setattr(text, "TOKENIZER_SHA256", "0" * 64)
    with pytest.raises(ModelIntegrityError, match=r"tokenizer file .* SHA-256 .* expected"):
        count_tokens("hello")
    with pytest.raises(ModelIntegrityError, match="tokenizer file"):
        LocalEmbedder().embed(["hello"])


def test_model_hash_mismatch_is_a_clear_error(monkeypatch, fresh_load_state):
    monkeypatch.setattr(local_embedder, "MODEL_SHA256", "0" * 64)
    with pytest.raises(ModelIntegrityError, match=r"model file .*model\.onnx.* SHA-256"):
        LocalEmbedder().load()


def test_word_vectors_put_forms_and_synonyms_of_a_word_close(local):
    words = ["painted", "painting", "kids", "children", "buy", "bought", "zebra"]
    vectors = local.word_vectors(words)
    assert vectors.shape == (7, local.dimension) and vectors.dtype == np.float32
    assert np.linalg.norm(vectors, axis=1) == pytest.approx(np.ones(7), abs=1e-5)
    cosine = {
        (a, b): float(vectors[i] @ vectors[j])
        for (i, a), (j, b) in itertools.combinations(enumerate(words), 2)
    }
    assert all(cosine[pair] > 0.6 for pair in [("painted", "painting"), ("kids", "children")])
    assert cosine[("buy", "bought")] > 0.6
    assert all(value < 0.3 for pair, value in cosine.items() if "zebra" in pair)
    # a lookup: the same whatever the words beside it
    assert local.word_vectors(["kids"])[0] == pytest.approx(vectors[2])


def test_word_vectors_are_the_mean_of_the_word_pieces_rows(local):
    rows, scale = local_embedder._word_pieces()
    assert rows.shape == (30522, local.dimension) and rows.dtype == np.int8
    pieces = local_embedder._model_tokenizer().encode("zygomorphic", add_special_tokens=False)
    assert len(pieces.ids) > 1  # split into word pieces
    mean = (rows[pieces.ids].astype(np.float32) * scale[pieces.ids, None]).mean(axis=0)
    assert local.word_vectors(["zygomorphic"])[0] == pytest.approx(mean / np.linalg.norm(mean))


def test_onnx_initializers_reads_raw_tensors_from_the_protobuf():
    def varint(value):
        out = b""
        while True:
            byte, value = value & 0x7F, value >> 7
            out += bytes([byte | (0x80 if value else 0)])
            if not value:
                return out

    def field(number, payload):
        return varint(number << 3 | 2) + varint(len(payload)) + payload

    def tensor(name, dims, data_type, raw):
        dims_fields = b"".join(varint(1 << 3) + varint(d) for d in dims)
        return field(
            5,
            dims_fields
            + varint(2 << 3)
            + varint(data_type)
            + field(8, name.encode())
            + field(9, raw),
        )

    weights = np.arange(6, dtype=np.int8).reshape(2, 3)
    scale = np.asarray([0.5, 2.0], dtype=np.float32)
    node = field(1, b"\x0a\x01x")  # a graph node: skipped
    graph = (
        node
        + tensor("w_q", [2, 3], 3, weights.tobytes())
        + tensor("w_scale", [2], 1, scale.tobytes())
    )
    model = varint(1 << 3) + varint(8) + field(7, graph)  # ir_version, then the graph
    found = local_embedder.onnx_initializers(model, {"w_q", "w_scale", "absent"})
    assert set(found) == {"w_q", "w_scale"}
    assert found["w_q"].tolist() == weights.tolist()
    assert found["w_scale"].tolist() == [0.5, 2.0]


def test_count_tokens():
    assert count_tokens("") == 0
    assert count_tokens("hello world") == 2  # no [CLS]/[SEP]
    assert count_tokens("Tokenization") > 1  # WordPiece splits it
    assert count_tokens("hello " * 1000) == 1000  # the true length, not the model's 256


def test_session_loads_once_under_concurrent_first_use(monkeypatch, fresh_load_state):
    calls = []
    real = local_embedder._session

    def counting(threads):
        calls.append(threads)
        return real(threads)

    monkeypatch.setattr(local_embedder, "_session", counting)
    embedder = LocalEmbedder()
    results: list[np.ndarray] = []
    workers = [
        threading.Thread(target=lambda: results.append(embedder.embed(["same text"])))
        for _ in range(8)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert calls == [2] and len(results) == 8


def run_python(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    return done.stdout.strip()


def test_importing_the_port_loads_no_model_runtime():
    out = run_python(
        "import sys, engram.search.embedder, engram.wiring as w\n"
        "w.embedder()\n"  # building the default adapter must not load it either
        "from engram.text import count_tokens\n"
        "count_tokens('cheap')\n"  # the tokenizer alone
        "print(sorted(m for m in ('onnxruntime', 'tokenizers', 'boto3', 'torch') if m in sys.modules))"
    )
    assert out == "[]"


def test_first_embed_loads_onnxruntime_without_telemetry():
    out = run_python(
        "import os, sys\n"
        "os.environ.pop('ORT_DISABLE_TELEMETRY', None)\n"
        "from engram.search.embedder import embed_one\n"
        "from engram.wiring import embedder\n"
        "embed_one(embedder(), 'hello')\n"
        "print('onnxruntime' in sys.modules, os.environ.get('ORT_DISABLE_TELEMETRY'))"
    )
    assert out == "True 1"


# --- Bedrock errors ----------------------------------------------------------------------


@pytest.fixture
def stubbed():
    import boto3
    from botocore.stub import Stubber

    client = boto3.client("bedrock-runtime", region_name="us-east-1")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def respond(stubber, raw: bytes) -> None:
    from botocore.response import StreamingBody

    stubber.add_response(
        "invoke_model",
        {"body": StreamingBody(io.BytesIO(raw), len(raw)), "contentType": "application/json"},
    )


def test_throttling_is_a_retryable_embedding_error(stubbed):
    client, stubber = stubbed
    stubber.add_client_error(
        "invoke_model", "ThrottlingException", "Too many requests, please wait", 429
    )
    with pytest.raises(EmbeddingError, match="ThrottlingException") as caught:
        BedrockEmbedder(TITAN, 256, client=client).embed(["hi"])
    assert caught.value.retryable and caught.value.status == 503
    assert TITAN in caught.value.detail


def test_access_denied_is_not_retryable(stubbed):
    client, stubber = stubbed
    stubber.add_client_error("invoke_model", "AccessDeniedException", "no model access", 403)
    with pytest.raises(EmbeddingError, match=r"AccessDeniedException.*no model access") as caught:
        BedrockEmbedder(TITAN, 256, client=client).embed(["hi"])
    assert not caught.value.retryable


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"<html>oops</html>", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (json.dumps({"embeddingz": [0.1] * 256}).encode(), "got NoneType"),
        (json.dumps({"embedding": [0.1] * 10}).encode(), "expected a list of 256 numbers, got 10"),
        (json.dumps({"embedding": ["x"] * 256}).encode(), "not numbers"),
    ],
)
def test_malformed_titan_response_is_a_clear_error(stubbed, raw, reason):
    client, stubber = stubbed
    respond(stubber, raw)
    with pytest.raises(EmbeddingError, match=f"malformed embedding response: .*{reason}") as caught:
        BedrockEmbedder(TITAN, 256, client=client).embed(["hi"])
    assert not caught.value.retryable


def test_cohere_response_with_the_wrong_count_is_a_clear_error(stubbed):
    client, stubber = stubbed
    respond(stubber, json.dumps({"embeddings": [[0.1] * 8]}).encode())
    with pytest.raises(EmbeddingError, match="expected 2 embeddings"):
        BedrockEmbedder("cohere.embed-english-v3", 8, client=client).embed(["a", "b"])


def test_cohere_typed_embeddings_are_accepted(stubbed):
    client, stubber = stubbed
    respond(stubber, json.dumps({"embeddings": {"float": [[3.0] + [0.0] * 7]}}).encode())
    vector = BedrockEmbedder("cohere.embed-english-v3", 8, client=client).embed(["a"])[0]
    assert vector[0] == pytest.approx(1.0)


def test_unreachable_bedrock_is_a_retryable_error():
    from botocore.exceptions import EndpointConnectionError

    class Unreachable:
        def invoke_model(self, **kwargs):
            raise EndpointConnectionError(endpoint_url="https://bedrock-runtime.example")

    with pytest.raises(EmbeddingError, match="could not be reached") as caught:
        BedrockEmbedder(TITAN, 256, client=Unreachable()).embed(["hi"])
    assert caught.value.retryable


class FakeTitan:
    """A thread-safe Bedrock client for the concurrency tests. A call waits for `wait()`:
    by default, a barrier that lets calls return only once `parties` of them are in flight
    together, so sequential calls break it (after its timeout) instead of passing."""

    def __init__(self, parties: int = 1, fail_on: str | None = None) -> None:
        self.wait = threading.Barrier(parties, timeout=10).wait
        self.fail_on = fail_on
        self.texts: list[str] = []
        self._lock = threading.Lock()

    def invoke_model(self, **kwargs):
        from botocore.exceptions import ClientError
        from botocore.response import StreamingBody

        text = json.loads(kwargs["body"])["inputText"]
        with self._lock:
            self.texts.append(text)
        if text == self.fail_on:
            raise ClientError(
                {"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "InvokeModel"
            )
        self.wait()
        raw = json.dumps({"embedding": [float(len(text))] + [1.0] * 255}).encode()
        return {"body": StreamingBody(io.BytesIO(raw), len(raw))}


def test_titan_calls_run_concurrently_and_rows_keep_the_texts_order():
    texts = ["a" * n for n in range(1, 9)]
    client = FakeTitan(parties=4)
    vectors = BedrockEmbedder(TITAN, 256, client=client, concurrency=4).embed(texts)
    # Row i is text i's vector: its first component grows with the text's length.
    assert np.all(np.diff(vectors[:, 0]) > 0)
    assert sorted(client.texts) == sorted(texts)


def test_a_failed_concurrent_call_fails_the_batch_and_cancels_the_calls_not_started():
    client, gate = FakeTitan(fail_on="fails"), threading.Event()
    client.wait = lambda: gate.wait(timeout=10)  # the other calls hold until the batch has failed
    embedder = BedrockEmbedder(TITAN, 256, client=client, concurrency=2)
    with pytest.raises(EmbeddingError, match="ThrottlingException") as caught:
        embedder.embed(["fails"] + [f"text {i}" for i in range(40)])
    gate.set()
    embedder._pool.shutdown(wait=True)
    assert caught.value.retryable
    # "fails", and at most one held call per thread of the pool: the other 38 never ran.
    assert "fails" in client.texts and len(client.texts) <= 3


def test_concurrent_titan_calls_nest_under_the_invocations_trace(lambda_trace):
    from aws_xray_sdk.core import xray_recorder

    seen = []

    class Recording(FakeTitan):
        def invoke_model(self, **kwargs):
            seen.append(xray_recorder.get_trace_entity())
            return super().invoke_model(**kwargs)

    BedrockEmbedder(TITAN, 256, client=Recording(parties=2), concurrency=2).embed(["a", "b"])
    assert len(seen) == 2 and all(entity is lambda_trace for entity in seen)


@pytest.mark.parametrize("concurrency", [0, 11])
def test_concurrency_out_of_range_is_refused(concurrency):
    from engram.adapters.bedrock_embedder import MAX_CONCURRENCY
    from engram.config import Settings

    with pytest.raises(ValueError, match="concurrency must be from 1 to 10"):
        BedrockEmbedder(TITAN, 256, concurrency=concurrency)
    # The setting allows exactly what the adapter does (config cannot import the adapter).
    field = Settings.model_fields["bedrock_embedding_concurrency"]
    bounds = {type(m).__name__: m for m in field.metadata}
    assert (bounds["Ge"].ge, bounds["Le"].le) == (1, MAX_CONCURRENCY)


def test_titan_v2_refuses_a_dimension_it_cannot_produce():
    with pytest.raises(ValueError, match="EMBEDDING_DIMENSION"):
        BedrockEmbedder(TITAN, 384)


# --- choosing the adapter ----------------------------------------------------------------


@pytest.fixture
def clean_caches():
    wiring.reset()
    yield
    wiring.reset()


def test_get_embedder_defaults_to_the_local_model(monkeypatch, clean_caches):
    monkeypatch.delenv("EMBEDDER", raising=False)
    embedder = wiring.embedder()
    assert isinstance(embedder, LocalEmbedder)
    assert (embedder.dimension, embedder.name) == (384, "local:all-MiniLM-L6-v2-int8")
    assert wiring.embedder() is embedder  # cached


def test_get_embedder_picks_bedrock_from_settings(monkeypatch, clean_caches):
    monkeypatch.setenv("EMBEDDER", "bedrock")
    monkeypatch.setenv("BEDROCK_EMBEDDING_MODEL_ID", "amazon.titan-embed-text-v2:0")
    monkeypatch.setenv("EMBEDDING_DIMENSION", "512")
    embedder = wiring.embedder()
    assert isinstance(embedder, BedrockEmbedder)
    assert embedder.dimension == 512
    # another size is another embedding space: a reindex must not reuse 1024-size vectors
    assert embedder.name == "bedrock:amazon.titan-embed-text-v2:0/512"
    assert embedder.concurrency == 8  # the setting's default


def test_bedrock_concurrency_comes_from_settings(monkeypatch, clean_caches):
    monkeypatch.setenv("EMBEDDER", "bedrock")
    monkeypatch.setenv("BEDROCK_EMBEDDING_CONCURRENCY", "3")
    assert wiring.embedder().concurrency == 3


def test_bedrock_name_changes_with_the_dimension_but_not_at_the_default():
    """Stored vectors are reused by name: 1024 (Titan's default) keeps the name existing
    vectors were made under; any other size is a new name, so they are embedded again."""
    model = "amazon.titan-embed-text-v2:0"
    assert BedrockEmbedder(model, 1024).name == f"bedrock:{model}"
    assert BedrockEmbedder(model, 256).name == f"bedrock:{model}/256"
