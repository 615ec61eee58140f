"""template.yaml agrees with the webhook code: the deliver queue allows exactly the attempts
the worker counts, its visibility covers the worker's timeout, and every function that can
publish an event (and so fan out to webhooks) may send to the deliver queue."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

from engram_local.resources import load_template
from engram.webhooks.models import MAX_ATTEMPTS

ROOT = Path(__file__).resolve().parents[2]


def _resources():
    return load_template()["Resources"]


def _sends_to(function: dict, queue: str) -> bool:
    return any(
        isinstance(p, dict)
        and p.get("SQSSendMessagePolicy", {}).get("QueueName")
        == {"Fn::GetAtt": [queue, "QueueName"]}
        for p in function["Properties"].get("Policies", [])
    )


def test_deliver_queue_allows_exactly_the_workers_attempts():
    queue = _resources()["DeliverQueue"]["Properties"]
    assert queue["RedrivePolicy"]["maxReceiveCount"] == MAX_ATTEMPTS
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["DeliverDLQ", "Arn"]}


def test_deliver_worker_reads_the_deliver_queue_with_batch_failures():
    worker = _resources()["DeliverWorkerFunction"]["Properties"]
    [event] = worker["Events"].values()
    assert event["Type"] == "SQS"
    assert event["Properties"]["Queue"] == {"Fn::GetAtt": ["DeliverQueue", "Arn"]}
    assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    policies = worker["Policies"]
    assert {
        "SQSPollerPolicy": {"QueueName": {"Fn::GetAtt": ["DeliverQueue", "QueueName"]}}
    } in policies
    visibility = _resources()["DeliverQueue"]["Properties"]["VisibilityTimeout"]
    assert visibility >= 6 * worker["Timeout"]


def _engram_sources(handler: Path) -> list[str]:
    """The handler's text and that of each engram module it imports (one level)."""
    texts = [handler.read_text()]
    for node in ast.walk(ast.parse(texts[0])):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("engram."):
            spec = importlib.util.find_spec(node.module)
            if spec and spec.origin:
                texts.append(Path(spec.origin).read_text())
    return texts


def test_every_function_that_publishes_events_may_send_to_the_deliver_queue():
    checked = 0
    for name, res in _resources().items():
        if res["Type"] != "AWS::Serverless::Function":
            continue
        handler = ROOT / res["Properties"]["CodeUri"] / "handler.py"
        if any("EventFeed(" in text for text in _engram_sources(handler)):
            checked += 1
            assert _sends_to(res, "DeliverQueue"), (
                f"{name} publishes events but may not send to DeliverQueue"
            )
    assert checked >= 2  # at least sessions and webhooks
