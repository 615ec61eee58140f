"""The webhooks function and the deliver worker called as Lambda would, with the sample
events tests/events/webhooks_create.json and deliver_worker_sqs.json, against moto."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import boto3
import pytest

from engram import keys, wiring

EVENTS = Path(__file__).resolve().parents[1] / "events"


def _event(name: str) -> dict:
    return json.loads((EVENTS / f"{name}.json").read_text())


pytestmark = pytest.mark.usefixtures("fake_dns")  # webhook URLs are resolved when created


def _create(key: str, context) -> dict:
    from functions.webhooks.handler import lambda_handler

    event = _event("webhooks_create")
    event["headers"]["authorization"] = f"Bearer {key}"
    response = lambda_handler(event, context)
    assert response["statusCode"] == 201, response["body"]
    return json.loads(response["body"])


def test_create_through_the_webhooks_function(workspace, lambda_context):
    created = _create(workspace[1], lambda_context)
    assert created["secret"].startswith("whsec_")
    assert created["events"] == ["memory.stored", "session.ended"]


def _sqs_event(workspace_id: str, webhook_id: str, aws_env) -> dict:
    event = _event("deliver_worker_sqs")
    text = json.dumps(event).replace("ws_REPLACE_ME", workspace_id)
    event = json.loads(text.replace("wh_REPLACE_ME", webhook_id))
    event["Records"][0]["eventSourceARN"] = aws_env.queue_arns["DeliverQueue"]
    return event


def test_deliver_worker_fails_only_the_bad_record(workspace, aws_env, lambda_context):
    """A good job for a deleted webhook settles (dropped as failed); an unparsable body fails
    alone, so SQS retries it and in the end dead-letters it."""
    from functions.deliver_worker.handler import lambda_handler

    event = _sqs_event(workspace[0].workspace_id, "wh_gone", aws_env)
    bad = copy.deepcopy(event["Records"][0])
    bad.update(messageId="bad-1", body="{not json")
    event["Records"].append(bad)
    response = lambda_handler(event, lambda_context)
    assert response == {"batchItemFailures": [{"itemIdentifier": "bad-1"}]}


def test_deliver_worker_sends_to_a_real_webhook_target(
    workspace, aws_env, lambda_context, monkeypatch
):
    """With the HTTP call replaced: the worker signs and records what the receiver said."""
    from engram.webhooks import delivery, worker
    from functions.deliver_worker.handler import lambda_handler

    created = _create(workspace[1], lambda_context)
    sent = []

    def fake_post(target, body, headers, connect, read):
        sent.append((target.host, target.addresses, headers))
        return delivery.Attempt(202, 7)

    monkeypatch.setattr(
        wiring,
        "delivery_worker",
        lambda: worker.DeliveryWorker(
            wiring.webhook_repository(), wiring.clock(), wiring.settings(), send=fake_post
        ),
    )
    response = lambda_handler(
        _sqs_event(workspace[0].workspace_id, created["webhook_id"], aws_env), lambda_context
    )
    assert response == {"batchItemFailures": []}
    [(host, addresses, headers)] = sent
    assert host == "hooks.example.com" and addresses == ("93.184.216.34",)
    assert (
        headers["Engram-Delivery"] == "dlv_REPLACE_ME"
        and headers["Engram-Event"] == "memory.stored"
    )
    table = boto3.resource("dynamodb").Table(aws_env.tables["Table"])
    item = table.get_item(Key=keys.webhook_key(workspace[0].workspace_id, created["webhook_id"]))
    assert item["Item"]["last_delivery_status"] == 202
