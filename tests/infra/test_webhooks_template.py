"""template.yaml agrees with the webhook code: the deliver queue allows exactly the attempts
the worker counts, its visibility covers the worker's timeout, and every function that can
publish an event (and so fan out to webhooks) may send to the deliver queue."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

from engram.webhooks.models import MAX_ATTEMPTS
from engram_local.resources import load_template

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


def _wiring_calls(tree: ast.AST) -> set[str]:
    """Names of the composition root's builders a module calls (`wiring.x(...)`)."""
    return {
        node.func.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "wiring"
    }


def _publishing_builders() -> set[str]:
    """The builders of engram.wiring that make an event feed, directly or through another."""
    tree = ast.parse(Path(importlib.util.find_spec("engram.wiring").origin).read_text())
    calls = {
        fn.name: {
            n.func.id
            for n in ast.walk(fn)
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
        }
        for fn in tree.body
        if isinstance(fn, ast.FunctionDef)
    }
    publishing = {"events"}
    while True:
        more = {name for name, called in calls.items() if called & publishing} - publishing
        if not more:
            return publishing
        publishing |= more


def _builders_reached(handler: Path) -> set[str]:
    """Every wiring builder called by the handler or any engram module it imports, directly
    or through others (imports inside functions too; the composition root itself aside)."""
    seen, todo, called = set(), [handler], set()
    while todo:
        tree = ast.parse(todo.pop().read_text())
        called |= _wiring_calls(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("engram"):
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
                for name in set(names) - seen - {"engram.wiring"}:
                    seen.add(name)
                    if origin := _source_of(name):
                        todo.append(origin)
    return called


def _source_of(module: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(module)
    except ModuleNotFoundError:  # a name imported from a module, not a module
        return None
    return Path(spec.origin) if spec and spec.origin else None


def test_every_function_that_publishes_events_may_send_to_the_deliver_queue():
    publishing, checked = _publishing_builders(), 0
    for name, res in _resources().items():
        if res["Type"] != "AWS::Serverless::Function":
            continue
        handler = ROOT / res["Properties"]["CodeUri"] / "handler.py"
        if _builders_reached(handler) & publishing:
            checked += 1
            assert _sends_to(res, "DeliverQueue"), (
                f"{name} publishes events but may not send to DeliverQueue"
            )
    assert checked >= 6  # sessions, memories, webhooks, export and the embed/extract workers
