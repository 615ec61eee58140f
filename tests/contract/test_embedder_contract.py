"""The Embedder contract, run on every adapter that can run here.

The local adapter runs its real model. The Bedrock adapter runs on a real boto3
client under botocore's Stubber: before each call that embeds, the case queues the
canned responses (a deterministic fake vector per text) for exactly the texts about
to be sent, and the stub checks each request's parameters. The Stubber answers calls in
order, so Titan's concurrent calls run instead over real HTTP, against a receiver on
127.0.0.1 that answers as Bedrock does; each request it got is then checked, and its texts
counted against the ones the test sent.
"""

from __future__ import annotations

import collections
import hashlib
import io
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import unquote

import numpy as np
import pytest

from engram.search.embedder import Embedder, embed_one

FAKE_DIMENSION = 256
TITAN_V2 = "amazon.titan-embed-text-v2:0"


@dataclass
class Case:
    embedder: Embedder
    expect: Callable[[Sequence[str]], None]  # queue what embedding these texts will call


def fake_vector(text: str, dimension: int = FAKE_DIMENSION) -> list[float]:
    """Deterministic per text, and not unit length, so re-normalisation is exercised."""
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")
    return (np.random.default_rng(seed).normal(size=dimension) * 3.0).tolist()


def streaming_body(payload: dict):
    from botocore.response import StreamingBody

    data = json.dumps(payload).encode()
    return StreamingBody(io.BytesIO(data), len(data))


def stubbed_client():
    import boto3
    from botocore.stub import Stubber

    client = boto3.client("bedrock-runtime", region_name="us-east-1")
    return client, Stubber(client)


def invoke_params(model_id: str, body: dict) -> dict:
    return {
        "modelId": model_id,
        "body": json.dumps(body),
        "contentType": "application/json",
        "accept": "application/json",
    }


def titan_case(stubber, client) -> Case:
    from engram.adapters.bedrock_embedder import BedrockEmbedder

    model_id = TITAN_V2

    def expect(texts: Sequence[str]) -> None:
        for text in texts:
            body = {"inputText": text, "dimensions": FAKE_DIMENSION, "normalize": True}
            stubber.add_response(
                "invoke_model",
                {
                    "body": streaming_body({"embedding": fake_vector(text)}),
                    "contentType": "application/json",
                },
                invoke_params(model_id, body),
            )

    return Case(BedrockEmbedder(model_id, FAKE_DIMENSION, client=client), expect)


def cohere_case(stubber, client) -> Case:
    from engram.adapters.bedrock_embedder import COHERE_BATCH, BedrockEmbedder

    model_id = "cohere.embed-english-v3"

    def expect(texts: Sequence[str]) -> None:
        texts = list(texts)
        for i in range(0, len(texts), COHERE_BATCH):
            batch = texts[i : i + COHERE_BATCH]
            stubber.add_response(
                "invoke_model",
                {
                    "body": streaming_body({"embeddings": [fake_vector(t) for t in batch]}),
                    "contentType": "application/json",
                },
                invoke_params(model_id, {"texts": batch, "input_type": "search_document"}),
            )

    return Case(BedrockEmbedder(model_id, FAKE_DIMENSION, client=client), expect)


CONCURRENCY = 4


def titan_reply(request) -> bytes:
    """Bedrock's InvokeModel answer for Titan V2: fake_vector of the text sent."""
    return json.dumps({"embedding": fake_vector(json.loads(request.body)["inputText"])}).encode()


@pytest.fixture(scope="module")
def titan_endpoint():
    from tests.integration.webhooks_helpers import Receiver

    receiver = Receiver(reply=titan_reply).start()
    yield receiver
    receiver.stop()


def titan_http_case(receiver) -> tuple[Case, collections.Counter[str]]:
    """The Titan case over HTTP with CONCURRENCY calls in flight; the counter it returns
    holds the texts the test is expected to send."""
    import boto3
    from botocore.config import Config

    from engram.adapters.bedrock_embedder import BedrockEmbedder

    client = boto3.client(
        "bedrock-runtime",
        region_name="us-east-1",
        endpoint_url=f"http://127.0.0.1:{receiver.server.server_address[1]}",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=10),
    )
    expected: collections.Counter[str] = collections.Counter()
    embedder = BedrockEmbedder(TITAN_V2, FAKE_DIMENSION, client=client, concurrency=CONCURRENCY)
    return Case(embedder, expected.update), expected


def titan_requests_sent(receiver) -> collections.Counter[str]:
    """The texts of the InvokeModel requests received; each request is checked as Titan's."""
    texts: collections.Counter[str] = collections.Counter()
    for request in receiver.requests:
        body = json.loads(request.body)
        assert unquote(request.path) == f"/model/{TITAN_V2}/invoke"
        assert body == {
            "inputText": body["inputText"],
            "dimensions": FAKE_DIMENSION,
            "normalize": True,
        }
        texts[body["inputText"]] += 1
    return texts


@pytest.fixture(scope="module")
def local_embedder():
    from engram.adapters.local_embedder import LocalEmbedder

    return LocalEmbedder()


@pytest.fixture(params=["local", "bedrock-titan", "bedrock-titan-http", "bedrock-cohere"])
def case(request, local_embedder):
    if request.param == "local":
        yield Case(local_embedder, lambda texts: None)
        return
    if request.param == "bedrock-titan-http":
        receiver = request.getfixturevalue("titan_endpoint")
        receiver.requests.clear()
        made, expected = titan_http_case(receiver)
        yield made
        assert titan_requests_sent(receiver) == expected
        return
    client, stubber = stubbed_client()
    make = titan_case if request.param == "bedrock-titan" else cohere_case
    with stubber:
        yield make(stubber, client)
        stubber.assert_no_pending_responses()


def embed(case: Case, texts: Sequence[str]) -> np.ndarray:
    case.expect(texts)
    return case.embedder.embed(texts)


TEXTS = [
    "Caroline went to an LGBTQ support group on 7 May 2023.",
    "Melanie painted a sunrise over the lake last year.",
    "The deploy failed because the IAM role lacked s3:GetObject.",
]


def test_is_an_embedder_with_a_name(case):
    assert isinstance(case.embedder, Embedder)
    assert case.embedder.dimension > 0
    prefix, _, model = case.embedder.name.partition(":")
    assert prefix in {"local", "bedrock"} and model


def test_shape_and_dtype(case):
    vectors = embed(case, TEXTS)
    assert vectors.shape == (len(TEXTS), case.embedder.dimension)
    assert vectors.dtype == np.float32
    assert np.isfinite(vectors).all()


def test_rows_have_unit_norm(case):
    norms = np.linalg.norm(embed(case, TEXTS), axis=1)
    np.testing.assert_allclose(norms, 1.0, atol=1e-5)


def test_deterministic(case):
    first = embed(case, TEXTS)
    second = embed(case, TEXTS)
    np.testing.assert_allclose(first, second, atol=1e-6)


def test_different_texts_give_different_vectors(case):
    vectors = embed(case, TEXTS)
    assert float(vectors[0] @ vectors[2]) < 0.99


def test_empty_list_gives_empty_matrix(case):
    vectors = case.embedder.embed([])
    assert vectors.shape == (0, case.embedder.dimension)
    assert vectors.dtype == np.float32


@pytest.mark.parametrize("blank", ["", "   ", "\n\t"])
def test_blank_text_is_refused_before_any_call(case, blank):
    # No stub is queued: had the adapter called Bedrock, the Stubber would fail instead.
    with pytest.raises(ValueError, match="empty or blank"):
        case.embedder.embed(["fine", blank])


def test_a_single_string_is_refused(case):
    with pytest.raises(TypeError, match="embed_one"):
        case.embedder.embed("one string")


def test_batch_equals_one_by_one(case):
    # More than one local batch (32), and lengths that differ a lot, so padding is exercised.
    texts = [
        f"Memory {i}: " + "the quick brown fox " * (i % 7) + "jumps over it" for i in range(40)
    ]
    batched = embed(case, texts)
    singles = np.stack([embed(case, [text])[0] for text in texts])
    np.testing.assert_allclose(batched, singles, atol=1e-5)


def test_embed_one_is_the_row_of_embed(case):
    case.expect([TEXTS[0]])
    one = embed_one(case.embedder, TEXTS[0])
    assert one.shape == (case.embedder.dimension,)
    np.testing.assert_allclose(one, embed(case, TEXTS[:1])[0], atol=1e-6)
