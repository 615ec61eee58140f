"""Deliveries end to end against moto and a real HTTP receiver on 127.0.0.1 (with
WEBHOOK_ALLOW_PRIVATE on): the API publishes, the deliver worker's lambda_handler is called
with SQS events built from the messages moto hands out, and the receiver checks signatures
with engram.webhooks.verify. Later attempts of a message are driven by raising its
ApproximateReceiveCount rather than waiting out the backoff; the DLQ test uses real
redelivery with a zero base delay."""

from __future__ import annotations

import boto3
import pytest

from engram.webhooks import verify
from tests.integration.webhooks_helpers import (
    HANG_SECONDS,
    Receiver,
    body_of,
    failed_ids,
    receive_all,
    sqs_event,
    sqs_record,
)


@pytest.fixture
def settings_env(aws_env, monkeypatch):
    """Sets WEBHOOK_* settings for this test (allow-private is always on here)."""
    from engram import config

    def apply(**values):
        for name, value in {"webhook_allow_private": "true", **values}.items():
            monkeypatch.setenv(name.upper(), str(value))
        config.get_settings.cache_clear()

    apply()
    return apply


@pytest.fixture
def receiver():
    server = Receiver().start()
    yield server
    server.stop()


@pytest.fixture
def delays(aws_env, monkeypatch):
    """The visibility timeouts the worker sets (its backoff), in order."""
    from engram import aws

    sqs, seen = aws.client("sqs"), []
    real = sqs.change_message_visibility

    def spy(**kwargs):
        seen.append(kwargs["VisibilityTimeout"])
        return real(**kwargs)

    monkeypatch.setattr(sqs, "change_message_visibility", spy)
    return seen


@pytest.fixture
def queue(aws_env):
    return (
        boto3.client("sqs"),
        aws_env.queue_urls["DeliverQueue"],
        aws_env.queue_arns["DeliverQueue"],
    )


@pytest.fixture
def run(lambda_context, queue):
    """run(message, receive_count=None) → the worker's batchItemFailures ids."""
    from functions.deliver_worker.handler import lambda_handler

    def invoke(*messages, receive_count=None):
        records = [sqs_record(m, queue[2], receive_count) for m in messages]
        return failed_ids(lambda_handler(sqs_event(*records), lambda_context))

    return invoke


def _webhook(client, auth, url, events=("session.created",)):
    response = client.post("/v1/webhooks", json={"url": url, "events": list(events)}, headers=auth)
    assert response.status_code == 201, response.text
    return response.json()


def _publish(client, auth, queue, count=1):
    for _ in range(count):
        assert client.post("/v1/sessions", json={}, headers=auth).status_code == 201
    return receive_all(queue[0], queue[1])


def _deliveries(client, auth, webhook_id):
    return client.get(f"/v1/webhooks/{webhook_id}/deliveries", headers=auth).json()["data"]


def _get(client, auth, webhook_id):
    return client.get(f"/v1/webhooks/{webhook_id}", headers=auth).json()


def test_500_500_200_is_three_signed_attempts_with_growing_delays(
    client, auth, settings_env, receiver, queue, run, delays
):
    receiver.script = [500, 500]
    webhook = _webhook(client, auth, receiver.url)
    [message] = _publish(client, auth, queue)

    assert run(message) == [message["MessageId"]]
    assert receive_all(queue[0], queue[1]) == []  # hidden for the backoff delay
    assert run(message, receive_count=2) == [message["MessageId"]]
    assert run(message, receive_count=3) == []

    assert delays == [60, 120]
    assert len(receiver.requests) == 3
    job = body_of(message)
    for request in receiver.requests:
        event = verify(webhook["secret"], request.headers, request.body, tolerance=300)
        assert event == job["event"] and event["type"] == "session.created"
        assert request.headers["Engram-Event"] == "session.created"
        assert request.headers["Engram-Delivery"] == job["delivery_id"]  # stable across retries
        assert request.headers["Content-Type"] == "application/json" and request.path == "/hook"
    [delivery] = _deliveries(client, auth, webhook["webhook_id"])
    assert delivery["status"] == "succeeded" and delivery["attempt"] == 3
    assert delivery["status_code"] == 200 and delivery["error"] is None
    assert delivery["duration_ms"] is not None and delivery["next_attempt_at"] is None
    state = _get(client, auth, webhook["webhook_id"])
    assert state["failure_count"] == 0 and state["last_delivery_status"] == 200
    assert state["last_delivery_at"] and state["active"] is True


def test_the_delivery_list_shows_a_retry_in_progress(
    client, auth, settings_env, receiver, queue, run
):
    receiver.script = [500]
    webhook = _webhook(client, auth, receiver.url)
    [message] = _publish(client, auth, queue)
    run(message)
    [delivery] = _deliveries(client, auth, webhook["webhook_id"])
    assert delivery["status"] == "retrying" and delivery["attempt"] == 1
    assert delivery["status_code"] == 500 and "500" in delivery["error"]
    assert delivery["next_attempt_at"] > delivery["last_attempt_at"]
    state = _get(client, auth, webhook["webhook_id"])
    assert state["failure_count"] == 1 and state["last_delivery_status"] == 500


def test_a_hanging_receiver_times_out_and_is_retried(
    client, auth, settings_env, receiver, queue, run, delays
):
    settings_env(webhook_read_timeout_seconds="0.5")
    receiver.script = ["hang"]
    webhook = _webhook(client, auth, receiver.url)
    [message] = _publish(client, auth, queue)

    assert run(message) == [message["MessageId"]]
    [delivery] = _deliveries(client, auth, webhook["webhook_id"])
    assert delivery["status"] == "retrying" and delivery["status_code"] is None
    assert "Timed out" in delivery["error"]
    assert delivery["duration_ms"] < HANG_SECONDS * 1000
    assert _get(client, auth, webhook["webhook_id"])["last_delivery_status"] is None

    assert run(message, receive_count=2) == []
    assert len(receiver.requests) == 2 and delays == [60]
    assert _deliveries(client, auth, webhook["webhook_id"])[0]["status"] == "succeeded"


def test_a_webhook_failing_past_the_threshold_is_switched_off(
    client, auth, settings_env, receiver, queue, run
):
    settings_env(webhook_disable_after_failures=3)
    receiver.then = 500
    webhook = _webhook(client, auth, receiver.url)
    messages = _publish(client, auth, queue, count=3)
    assert len(messages) == 3

    failed = run(*messages)
    assert len(failed) == 2  # the third failure switched it off: that one stops retrying
    state = _get(client, auth, webhook["webhook_id"])
    assert state["active"] is False and state["failure_count"] == 3
    assert "3 consecutive" in state["disabled_reason"]

    assert _publish(client, auth, queue) == []  # no deliveries to a switched-off webhook
    retried = [m for m in messages if m["MessageId"] in failed]
    assert run(*retried, receive_count=2) == []
    assert len(receiver.requests) == 3
    statuses = [d["status"] for d in _deliveries(client, auth, webhook["webhook_id"])]
    assert statuses == ["failed"] * 3

    on = client.patch(
        f"/v1/webhooks/{webhook['webhook_id']}", json={"active": True}, headers=auth
    ).json()
    assert on["active"] is True and on["failure_count"] == 0 and on["disabled_reason"] is None


def test_a_dead_lettered_delivery_is_listed_as_failed(
    client, auth, settings_env, receiver, queue, run, aws_env
):
    from engram.webhooks.models import MAX_ATTEMPTS

    settings_env(webhook_retry_base_seconds=0)  # redelivered at once, through SQS itself
    receiver.then = 503
    webhook = _webhook(client, auth, receiver.url)
    [first] = _publish(client, auth, queue)
    sqs, url, _ = queue
    messages = [first]
    for _ in range(MAX_ATTEMPTS + 3):  # bounded: 8 attempts, then the redrive
        if not messages:
            break
        assert run(*messages) == [m["MessageId"] for m in messages]
        messages = sqs.receive_message(QueueUrl=url, AttributeNames=["All"], WaitTimeSeconds=0).get(
            "Messages", []
        )

    assert len(receiver.requests) == MAX_ATTEMPTS
    dead = receive_all(sqs, aws_env.queue_urls["DeliverDLQ"])
    assert [body_of(m)["delivery_id"] for m in dead] == [body_of(first)["delivery_id"]]
    [delivery] = _deliveries(client, auth, webhook["webhook_id"])
    assert delivery["status"] == "failed" and delivery["attempt"] == MAX_ATTEMPTS
    assert delivery["status_code"] == 503 and "503" in delivery["error"]
    assert delivery["next_attempt_at"] is None


def test_after_a_rotation_deliveries_verify_with_the_new_and_the_old_secret(
    client, auth, settings_env, receiver, queue, run
):
    webhook = _webhook(client, auth, receiver.url)
    rotated = client.post(
        f"/v1/webhooks/{webhook['webhook_id']}/rotate-secret", headers=auth
    ).json()
    [message] = _publish(client, auth, queue)
    assert run(message) == []
    [request] = receiver.requests
    assert request.headers["Engram-Signature"].count("v1=") == 2
    assert verify(rotated["secret"], request.headers, request.body)
    assert verify(webhook["secret"], request.headers, request.body)


def test_an_event_nobody_subscribed_to_reaches_no_receiver(
    client, auth, settings_env, receiver, queue
):
    webhook = _webhook(client, auth, receiver.url, events=["memory.deleted"])
    assert _publish(client, auth, queue) == []
    assert receiver.requests == [] and _deliveries(client, auth, webhook["webhook_id"]) == []


def test_the_test_endpoint_delivers_webhook_test_even_to_a_switched_off_webhook(
    client, auth, settings_env, receiver, queue, run
):
    webhook = _webhook(client, auth, receiver.url, events=["memory.stored"])
    client.patch(f"/v1/webhooks/{webhook['webhook_id']}", json={"active": False}, headers=auth)
    assert (
        client.post(f"/v1/webhooks/{webhook['webhook_id']}/test", headers=auth).status_code == 202
    )
    [message] = receive_all(queue[0], queue[1])
    assert run(message) == []
    [request] = receiver.requests
    event = verify(webhook["secret"], request.headers, request.body)
    assert event["type"] == "webhook.test" and request.headers["Engram-Event"] == "webhook.test"
    assert event["data"]["webhook_id"] == webhook["webhook_id"]


def test_deliveries_queued_for_a_deleted_webhook_are_dropped_as_failed(
    client, auth, settings_env, receiver, queue, run, workspace
):
    webhook = _webhook(client, auth, receiver.url)
    [message] = _publish(client, auth, queue)
    assert client.delete(f"/v1/webhooks/{webhook['webhook_id']}", headers=auth).status_code == 204
    assert run(message) == [] and receiver.requests == []

    from engram import aws
    from engram.webhooks.repository import WebhookRepository

    repo = WebhookRepository(aws.table())
    job = body_of(message)
    delivery = repo.get_delivery(
        workspace[0].workspace_id, webhook["webhook_id"], job["delivery_id"]
    )
    assert delivery.status == "failed" and "deleted" in delivery.error


def test_the_url_is_checked_again_at_delivery_time(
    client, auth, settings_env, receiver, queue, run
):
    webhook = _webhook(client, auth, receiver.url)
    [message] = _publish(client, auth, queue)
    settings_env(webhook_allow_private="false")  # as if the address had become forbidden
    assert run(message) == [message["MessageId"]]
    assert receiver.requests == []
    [delivery] = _deliveries(client, auth, webhook["webhook_id"])
    assert delivery["status"] == "retrying" and "https" in delivery["error"]
