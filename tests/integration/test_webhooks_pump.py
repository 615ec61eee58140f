"""Webhook deliveries through the local queue pump (the template's DeliverWorkerFunction on
the DeliverQueue, as the local stack runs it): retries and the dead-letter queue come from
SQS itself. A real receiver on 127.0.0.1; zero base delay so redelivery is immediate."""

from __future__ import annotations

import boto3
import pytest

from engram.webhooks import verify
from engram.webhooks.models import MAX_ATTEMPTS
from tests.integration.webhooks_helpers import Receiver, body_of, receive_all

pump_module = pytest.importorskip("engram_local.pump")


@pytest.fixture
def receiver():
    server = Receiver().start()
    yield server
    server.stop()


@pytest.fixture
def deliver_pump(aws_env, monkeypatch):
    from engram import config

    monkeypatch.setenv("WEBHOOK_ALLOW_PRIVATE", "true")
    monkeypatch.setenv("WEBHOOK_RETRY_BASE_SECONDS", "0")
    config.get_settings.cache_clear()
    return pump_module.QueuePump(boto3.client("sqs"), aws_env)


def _setup(client, auth, receiver):
    webhook = client.post(
        "/v1/webhooks", json={"url": receiver.url, "events": ["session.created"]}, headers=auth
    ).json()
    assert client.post("/v1/sessions", json={}, headers=auth).status_code == 201
    return webhook


def _pump_until_empty(pump, rounds: int) -> list:
    results = []
    for _ in range(rounds):  # bounded
        result = pump.run_once("DeliverQueue")
        if not result.received:
            break
        results.append(result)
    return results


def test_the_pump_retries_a_failed_delivery_until_it_succeeds(client, auth, receiver, deliver_pump):
    receiver.script = [500, 502]
    webhook = _setup(client, auth, receiver)
    results = _pump_until_empty(deliver_pump, 6)
    assert [(r.failed, r.deleted) for r in results] == [(1, 0), (1, 0), (0, 1)]
    assert len(receiver.requests) == 3
    assert len({r.headers["Engram-Delivery"] for r in receiver.requests}) == 1
    for request in receiver.requests:
        verify(webhook["secret"], request.headers, request.body)
    [delivery] = client.get(
        f"/v1/webhooks/{webhook['webhook_id']}/deliveries", headers=auth
    ).json()["data"]
    assert (delivery["status"], delivery["attempt"]) == ("succeeded", 3)


def test_the_pump_dead_letters_after_the_last_attempt(
    client, auth, receiver, deliver_pump, aws_env
):
    receiver.then = 500
    webhook = _setup(client, auth, receiver)
    _pump_until_empty(deliver_pump, MAX_ATTEMPTS + 3)
    assert len(receiver.requests) == MAX_ATTEMPTS
    [dead] = receive_all(boto3.client("sqs"), aws_env.queue_urls["DeliverDLQ"])
    [delivery] = client.get(
        f"/v1/webhooks/{webhook['webhook_id']}/deliveries", headers=auth
    ).json()["data"]
    assert body_of(dead)["delivery_id"] == delivery["delivery_id"]
    assert (delivery["status"], delivery["attempt"]) == ("failed", MAX_ATTEMPTS)
