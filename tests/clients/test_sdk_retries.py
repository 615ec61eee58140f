"""Retries and errors against a scripted 127.0.0.1 server: 429 (honouring Retry-After) and
5xx are retried with backoff where a retry is safe, never elsewhere; errors carry the API's
body. The sleep is injected: the test sees each delay and waits for none."""

from __future__ import annotations

import asyncio
import socket

import pytest
from engram_sdk import (
    APIConnectionError,
    AsyncEngram,
    AuthenticationError,
    ConflictError,
    Engram,
    InternalServerError,
    NotFoundError,
    RateLimitError,
    UnprocessableEntityError,
)

MEMORY = {
    "memory_id": "mem_1",
    "workspace_id": "ws_1",
    "content": "The customer prefers email.",
    "created_at": "2026-01-01T00:00:00Z",
}


def error(status: int, code: str, headers: dict[str, str] | None = None):
    body = {"detail": f"Scripted {status}.", "code": code, "request_id": f"req_{status}"}
    return (status, headers or {}, body)


def client(server, sleeps: list[float], **options) -> Engram:
    return Engram(server.url, "ek_test", sleep=sleeps.append, backoff=0.5, **options)


def test_a_get_is_retried_after_429_and_503_honouring_retry_after(scripted):
    scripted.script = [
        error(429, "throttled", {"Retry-After": "3"}),
        error(503, "service_unavailable"),
        (200, {}, MEMORY),
    ]
    sleeps: list[float] = []
    memory = client(scripted, sleeps).memories.get("mem_1")
    assert memory.content == MEMORY["content"]
    assert len(scripted.received) == 3
    assert sleeps[0] == 3.0  # the server's Retry-After, exactly
    assert 0.5 <= sleeps[1] <= 1.0  # backoff 0.5 * 2**1 with jitter in [0.5, 1]
    assert scripted.received[0][2]["authorization"] == "Bearer ek_test"


def test_retries_stop_after_max_retries_with_the_apis_error(scripted):
    scripted.script = [error(429, "throttled", {"Retry-After": "1"})] * 5
    sleeps: list[float] = []
    with pytest.raises(RateLimitError) as caught:
        client(scripted, sleeps, max_retries=2).sessions.get("sess_1")
    assert len(scripted.received) == 3 and sleeps == [1.0, 1.0]
    err = caught.value
    assert (err.status, err.code, err.detail, err.request_id) == (
        429,
        "throttled",
        "Scripted 429.",
        "req_429",
    )


def test_a_creating_post_is_retried_with_the_same_idempotency_key(scripted):
    scripted.script = [error(503, "service_unavailable"), (201, {}, MEMORY)]
    sleeps: list[float] = []
    memory = client(scripted, sleeps).memories.create("The customer prefers email.")
    assert memory.memory_id == "mem_1"
    keys = [headers.get("idempotency-key") for _, _, headers, _ in scripted.received]
    assert len(keys) == 2 and keys[0] and keys[0] == keys[1]


def test_each_creating_call_gets_its_own_key(scripted):
    scripted.script = [(201, {}, MEMORY), (201, {}, MEMORY)]
    engram = client(scripted, [])
    engram.memories.create("one")
    engram.memories.create("two")
    keys = {headers.get("idempotency-key") for _, _, headers, _ in scripted.received}
    assert len(keys) == 2 and None not in keys


def test_unkeyed_posts_and_patches_are_not_retried(scripted):
    scripted.script = [error(503, "service_unavailable")] * 2
    sleeps: list[float] = []
    engram = client(scripted, sleeps)
    with pytest.raises(InternalServerError) as caught:
        engram.auth.login("ada@example.com", "secret-password")
    assert caught.value.status == 503
    with pytest.raises(InternalServerError):
        engram.memories.update("mem_1", title="x")
    assert len(scripted.received) == 2 and sleeps == []


def test_a_read_sent_as_post_is_retried(scripted):
    answer = {"results": [], "total": 0, "query_time_ms": 1.0}
    scripted.script = [error(502, "bad_gateway"), (200, {}, answer)]
    assert client(scripted, []).memories.search("anything").total == 0
    assert len(scripted.received) == 2
    assert "idempotency-key" not in scripted.received[0][2]


@pytest.mark.parametrize(
    ("status", "code", "cls"),
    [
        (401, "unauthorized", AuthenticationError),
        (404, "not_found", NotFoundError),
        (409, "conflict", ConflictError),
        (422, "validation_error", UnprocessableEntityError),
    ],
)
def test_client_errors_are_typed_and_not_retried(scripted, status, code, cls):
    scripted.script = [error(status, code)]
    with pytest.raises(cls) as caught:
        client(scripted, []).sessions.get("sess_1")
    assert caught.value.detail == f"Scripted {status}." and caught.value.code == code
    assert len(scripted.received) == 1


def test_a_refused_connection_is_retried_then_raised():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens once the socket is closed
    sleeps: list[float] = []
    engram = Engram(f"http://127.0.0.1:{port}", "ek", sleep=sleeps.append, max_retries=3)
    with pytest.raises(APIConnectionError):
        engram.health()
    assert len(sleeps) == 3 and all(0 < s <= 8.0 for s in sleeps)


def test_the_async_client_retries_the_same_way(scripted):
    scripted.script = [error(429, "throttled", {"Retry-After": "2"}), (201, {}, MEMORY)]
    sleeps: list[float] = []

    async def record(delay: float) -> None:
        sleeps.append(delay)

    async def main():
        async with AsyncEngram(scripted.url, "ek_test", sleep=record) as engram:
            return await engram.memories.create("The customer prefers email.")

    assert asyncio.run(main()).memory_id == "mem_1"
    assert sleeps == [2.0]
    keys = [headers.get("idempotency-key") for _, _, headers, _ in scripted.received]
    assert keys[0] and keys[0] == keys[1]


def test_a_large_export_follows_its_presigned_link_without_our_credentials(scripted):
    link = f"{scripted.url}/presigned/export.json?X-Amz-Signature=abc"
    scripted.script = [
        (303, {"Location": link}, {"url": link, "bytes": 2, "format": "json"}),
        (200, {}, [MEMORY]),
    ]
    exported = client(scripted, []).export.memories()
    assert [m.memory_id for m in exported] == ["mem_1"]
    (_, first, first_headers, _), (_, second, second_headers, _) = scripted.received
    assert first.startswith("/v1/export?format=json") and first_headers["authorization"]
    assert second.startswith("/presigned/export.json") and "authorization" not in second_headers
