"""The OpenSearch adapter through index faults: osmem-server in a subprocess that the test
freezes (SIGSTOP), kills and restarts empty. Statuses stay truthful (`ready` only once the
index holds a memory), searches fail fast with 503 and Retry-After, nothing is lost, a
write meeting a missing index re-creates it with its mapping (tag filters keep working),
and maintenance heals what the lost index held."""

from __future__ import annotations

import json
import os
import signal
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.webhooks_helpers import failed_ids, receive_all, sqs_event, sqs_record

INDEX = "engram-faults"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Osmem:
    """One osmem-server on a fixed loopback port, so a restarted one has the same URL."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.server: Any = None
        self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        from osmem_server import OsmemServer

        self.server = OsmemServer.start(
            japanese=False, addr=f"127.0.0.1:{self.port}", startup_timeout=30.0
        )

    def freeze(self) -> None:
        os.kill(self.server.process.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        os.kill(self.server.process.pid, signal.SIGCONT)

    def kill(self) -> None:
        self.thaw()
        self.server.process.kill()
        self.server.process.wait(timeout=10)

    def close(self) -> None:
        if self.server.process.poll() is None:
            self.thaw()
            self.server.close(grace=5.0)


@pytest.fixture
def osmem() -> Iterator[Osmem]:
    server = Osmem()
    try:
        yield server
    finally:
        server.close()


class Ticks:
    """The breaker's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def ticks(osmem, aws_env, monkeypatch) -> Ticks:
    """The stack's settings point at the osmem-server, with short timeouts."""
    from engram import wiring
    from engram.search.breaker import CircuitBreaker

    monkeypatch.setenv("SEARCH_BACKEND", "opensearch")
    monkeypatch.setenv("OPENSEARCH_ENDPOINT", osmem.url)
    monkeypatch.setenv("OPENSEARCH_INDEX", INDEX)
    monkeypatch.setenv("SEARCH_TIMEOUT_SECONDS", "0.5")
    monkeypatch.setenv("OPENSEARCH_TIMEOUT_SECONDS", "1")
    wiring.reset()
    ticks = Ticks()
    wiring.search_index()._breaker = CircuitBreaker(failures=3, cooldown=10.0, clock=ticks)
    return ticks


def _embed_records(aws_env) -> list[dict]:
    import boto3

    url, arn = aws_env.queue_urls["EmbedQueue"], aws_env.queue_arns["EmbedQueue"]
    return [sqs_record(m, arn) for m in receive_all(boto3.client("sqs"), url, rounds=10)]


def _work(aws_env, lambda_context, records=None) -> tuple[list[dict], list[str]]:
    """Runs the embed worker on the waiting (or given) records: (records, failed ids)."""
    from functions.embed_worker.handler import lambda_handler

    records = records if records is not None else _embed_records(aws_env)
    if not records:
        return records, []
    try:
        return records, failed_ids(lambda_handler(sqs_event(*records), lambda_context))
    except Exception as exc:  # Powertools raises when every record failed
        if "All records failed" not in str(exc):
            raise
        return records, [r["messageId"] for r in records]


def _status(client, auth, memory_id) -> str:
    return client.get(f"/v1/memories/{memory_id}/status", headers=auth).json()["embedding_status"]


def _search(client, auth, query: str, **extra) -> Any:
    body = {"query": query, "search_mode": "keyword", **extra}
    return client.post("/v1/memories/search", json=body, headers=auth)


def _store(client, auth, content: str, tags: list[str]) -> str:
    response = client.post("/v1/memories", json={"content": content, "tags": tags}, headers=auth)
    assert response.status_code == 201, response.text
    return response.json()["memory_id"]


def test_freeze_kill_restart_statuses_stay_true_searches_fail_fast_and_all_heals(
    osmem, ticks, aws_env, client, auth, lambda_context
):
    from engram import wiring
    from engram.memories.maintenance_jobs import run_maintenance

    tea = _store(client, auth, "Ada prefers green tea.", ["kind:preference"])
    assert _work(aws_env, lambda_context)[1] == []
    assert _status(client, auth, tea) == "ready"
    tagged = {"tag_filters": [{"key": "kind", "op": "eq", "value": "preference"}]}
    assert [r["memory_id"] for r in _search(client, auth, "tea", **tagged).json()["results"]] == [
        tea
    ]

    osmem.freeze()
    walks = _store(client, auth, "Bob likes long walks.", ["kind:preference"])  # still 201
    records, failed = _work(aws_env, lambda_context)
    assert failed == [r["messageId"] for r in records]  # retried later, not lost
    assert _status(client, auth, walks) == "pending"  # no index holds it
    for _ in range(3):  # each waits out the short search timeout, then the breaker opens
        down = _search(client, auth, "walks")
        assert down.status_code == 503, down.text
        assert int(down.headers["Retry-After"]) >= 1
        assert "search index" in down.json()["detail"]
    calls = []
    index = wiring.search_index()
    real = index._client.search
    index._client.search = lambda **kw: calls.append(kw) or real(**kw)
    open_ = _search(client, auth, "walks")
    assert open_.status_code == 503 and calls == []  # open: no request, no wait
    assert 1 <= int(open_.headers["Retry-After"]) <= 10

    osmem.kill()
    osmem.start()  # empty: the index and everything in it are gone
    ticks.now += 11  # past the cool-down: the next search probes
    index._client.search = real
    assert _search(client, auth, "tea").status_code == 200  # a missing index finds nothing
    _, failed = _work(aws_env, lambda_context, records)  # the retried records
    assert failed == []
    assert _status(client, auth, walks) == "ready"
    mapping = osmem.server.request("GET", f"/{INDEX}/_mapping")[INDEX]["mappings"]
    assert mapping["properties"]["tags"]["type"] == "keyword"  # re-created from infra/
    found = _search(client, auth, "walks", **tagged).json()["results"]
    assert [r["memory_id"] for r in found] == [walks]

    assert run_maintenance({"action": "heal-index"}) == {"healed": 2}  # tea came back
    found = _search(client, auth, "tea walks", **tagged).json()["results"]
    assert sorted(r["memory_id"] for r in found) == sorted([tea, walks])
    listed = client.get("/v1/memories", headers=auth).json()["data"]
    assert sorted(m["memory_id"] for m in listed) == sorted([tea, walks])  # nothing lost


def test_a_failed_record_comes_back_after_a_short_growing_backoff(aws_env, lambda_context):
    """The embed worker hides a failed record for 2 s, 4 s, ... (at most 60 s), instead of
    the queue's 180 s visibility timeout; 25 receives span 20 minutes of outage."""
    import boto3
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

    from engram.workers import backoff_seconds, retry_in

    assert [backoff_seconds(a) for a in (1, 2, 3, 4, 5, 6, 24)] == [2, 4, 8, 16, 32, 60, 60]
    assert sum(backoff_seconds(a) for a in range(1, 25)) > 15 * 60
    sqs, url = boto3.client("sqs"), aws_env.queue_urls["EmbedQueue"]
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"memory_id": "m"}))
    (message,) = sqs.receive_message(QueueUrl=url).get("Messages", [])
    assert sqs.receive_message(QueueUrl=url).get("Messages", []) == []  # in flight
    retry_in(SQSRecord(sqs_record(message, aws_env.queue_arns["EmbedQueue"])), 0)
    again = sqs.receive_message(QueueUrl=url).get("Messages", [])
    assert [m["MessageId"] for m in again] == [message["MessageId"]]
