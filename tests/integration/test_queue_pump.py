"""The queue pump against moto: a template written here (a queue whose DLQ takes a message
after two receives, a one-second visibility timeout) and a worker handler written to tmp_path."""

from __future__ import annotations

import json
import sys
import textwrap
import threading
import time

import boto3
import pytest
from moto import mock_aws

from engram_local.pump import QueuePump, RoundResult, failed_ids
from engram_local.resources import create_resources

HANDLER = """
import json
from pathlib import Path

CALLS = Path(__file__).with_name("calls.jsonl")


def lambda_handler(event, context):
    with CALLS.open("a") as out:
        out.write(json.dumps({"event": event, "function_name": context.function_name,
                              "remaining": context.get_remaining_time_in_millis()}) + "\\n")
    bodies = {r["messageId"]: json.loads(r["body"]) for r in event["Records"]}
    if any(b.get("raise") for b in bodies.values()):
        raise RuntimeError("boom")
    failed = [i for i, b in bodies.items() if b.get("fail")]
    return {"batchItemFailures": [{"itemIdentifier": i} for i in failed]}
"""


def template(report_failures: bool = True, batch_size: int = 5, window: float = 0) -> dict:
    event = {"Queue": {"Fn::GetAtt": ["WorkQueue", "Arn"]}, "BatchSize": batch_size}
    if window:
        event["MaximumBatchingWindowInSeconds"] = window
    if report_failures:
        event["FunctionResponseTypes"] = ["ReportBatchItemFailures"]
    return {
        "Globals": {"Function": {"Timeout": 20}},
        "Resources": {
            "WorkQueue": {
                "Type": "AWS::SQS::Queue",
                "Properties": {
                    "VisibilityTimeout": 1,
                    "RedrivePolicy": {
                        "deadLetterTargetArn": {"Fn::GetAtt": ["WorkDLQ", "Arn"]},
                        "maxReceiveCount": 2,
                    },
                },
            },
            "WorkDLQ": {"Type": "AWS::SQS::Queue", "Properties": {}},
            "IdleQueue": {"Type": "AWS::SQS::Queue", "Properties": {}},
            "WorkFunction": {
                "Type": "AWS::Serverless::Function",
                "Properties": {
                    "CodeUri": "functions/work_worker/",
                    "Handler": "handler.lambda_handler",
                    "Events": {"Work": {"Type": "SQS", "Properties": event}},
                },
            },
        },
    }


@pytest.fixture
def root(tmp_path):
    folder = tmp_path / "functions" / "work_worker"
    folder.mkdir(parents=True)
    (folder / "handler.py").write_text(textwrap.dedent(HANDLER))
    return tmp_path


@pytest.fixture
def sqs():
    with mock_aws():
        yield boto3.client("sqs", region_name="us-east-1")


class SqsClock:
    """moto's SQS clock, stopped: a visibility timeout passes only when the test advances it,
    so nothing sleeps and a slow host cannot let it pass early. Frozen, a long poll on an
    empty queue would never end: use it only with receives that do not wait."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import moto.sqs.models as sqs_models

        real = sqs_models.unix_time
        self.now = real()
        monkeypatch.setattr(sqs_models, "unix_time", lambda dt=None: real(dt) if dt else self.now)
        monkeypatch.setattr(
            sqs_models, "unix_time_millis", lambda dt=None: 1000 * (real(dt) if dt else self.now)
        )

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def sqs_clock(sqs, monkeypatch):
    return SqsClock(monkeypatch)


def make_pump(sqs, root, report_failures: bool = True, **batching) -> tuple[QueuePump, object]:
    tpl = template(report_failures, **batching)
    made = create_resources(
        boto3.client("dynamodb", region_name="us-east-1"), sqs, prefix="pump-test", template=tpl
    )
    return QueuePump(sqs, made, template=tpl, root=root), made


def send(sqs, made, *bodies: dict) -> list[str]:
    return [
        sqs.send_message(
            QueueUrl=made.queue_urls["WorkQueue"],
            MessageBody=json.dumps(b),
            MessageAttributes={"kind": {"DataType": "String", "StringValue": "t"}},
        )["MessageId"]
        for b in bodies
    ]


def counts(sqs, made, queue: str) -> tuple[int, int]:
    """(visible, in flight) messages of a queue."""
    attrs = sqs.get_queue_attributes(QueueUrl=made.queue_urls[queue], AttributeNames=["All"])[
        "Attributes"
    ]
    return (
        int(attrs["ApproximateNumberOfMessages"]),
        int(attrs["ApproximateNumberOfMessagesNotVisible"]),
    )


def calls(root) -> list[dict]:
    path = root / "functions" / "work_worker" / "calls.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_discovers_the_worker_from_the_template(sqs, root):
    pump, _ = make_pump(sqs, root)
    worker = pump.workers["WorkQueue"]
    assert list(pump.workers) == ["WorkQueue"]
    assert (worker.function_id, worker.batch_size) == ("WorkFunction", 5)
    assert (worker.reports_failures, worker.timeout_seconds) == (True, 20)
    assert pump.idle_queues == ["IdleQueue"]  # the DLQ is not listed as waiting for a worker
    assert "no worker for IdleQueue yet; messages stay queued" in pump.describe()


def test_success_deletes_the_message_and_the_event_is_sqs_shaped(sqs, root):
    pump, made = make_pump(sqs, root)
    (message_id,) = send(sqs, made, {"n": 1})

    assert pump.run_once("WorkQueue") == RoundResult(received=1, deleted=1, failed=0)
    assert counts(sqs, made, "WorkQueue") == (0, 0)
    call = calls(root)[0]
    record = call["event"]["Records"][0]
    assert record["messageId"] == message_id and json.loads(record["body"]) == {"n": 1}
    assert record["eventSource"] == "aws:sqs" and record["awsRegion"] == "us-east-1"
    assert record["eventSourceARN"] == made.queue_arns["WorkQueue"]
    assert record["messageAttributes"]["kind"]["stringValue"] == "t"
    assert record["messageAttributes"]["kind"]["dataType"] == "String"
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert record["md5OfBody"] and record["receiptHandle"]
    assert call["function_name"] == "engram-local-WorkFunction" and 0 < call["remaining"] <= 20_000


def test_a_reported_failure_is_redelivered_then_dead_lettered(sqs, root, sqs_clock):
    pump, made = make_pump(sqs, root)
    (message_id,) = send(sqs, made, {"fail": True})

    assert pump.run_once("WorkQueue") == RoundResult(received=1, deleted=0, failed=1)
    assert pump.run_once("WorkQueue").received == 0, "a failed record stays invisible meanwhile"
    sqs_clock.advance(0.999)
    assert pump.run_once("WorkQueue").received == 0

    sqs_clock.advance(0.002)  # past the queue's 1 s visibility timeout
    assert pump.run_once("WorkQueue") == RoundResult(received=1, deleted=0, failed=1)
    assert calls(root)[-1]["event"]["Records"][0]["attributes"]["ApproximateReceiveCount"] == "2"

    # maxReceiveCount is 2: the next receive moves it to the DLQ instead of delivering it.
    sqs_clock.advance(1.001)
    assert pump.run_once("WorkQueue").received == 0
    dead = sqs.receive_message(QueueUrl=made.queue_urls["WorkDLQ"])["Messages"]
    assert [m["MessageId"] for m in dead] == [message_id]
    assert counts(sqs, made, "WorkQueue") == (0, 0)
    assert len(calls(root)) == 2


def test_a_raising_handler_deletes_nothing(sqs, root, sqs_clock):
    pump, made = make_pump(sqs, root)
    send(sqs, made, {"n": 1}, {"raise": True})

    assert pump.run_once("WorkQueue") == RoundResult(received=2, deleted=0, failed=2)
    assert sum(counts(sqs, made, "WorkQueue")) == 2
    # Both turn visible again 1 s after that receive: past it, they come back as one batch.
    sqs_clock.advance(1.2)
    assert pump.run_once("WorkQueue") == RoundResult(received=2, deleted=0, failed=2)
    assert sum(counts(sqs, made, "WorkQueue")) == 2


def test_one_bad_record_does_not_fail_its_batch_mates(sqs, root, sqs_clock):
    pump, made = make_pump(sqs, root)
    _, bad, _ = send(sqs, made, {"n": 1}, {"fail": True}, {"n": 2})

    assert pump.run_once("WorkQueue") == RoundResult(received=3, deleted=2, failed=1)
    assert len(calls(root)[0]["event"]["Records"]) == 3
    assert sum(counts(sqs, made, "WorkQueue")) == 1
    sqs_clock.advance(1.001)
    assert pump.run_once("WorkQueue") == RoundResult(received=1, deleted=0, failed=1)
    assert calls(root)[-1]["event"]["Records"][0]["messageId"] == bad


def test_without_report_batch_item_failures_the_response_is_ignored(sqs, root):
    pump, made = make_pump(sqs, root, report_failures=False)
    send(sqs, made, {"fail": True}, {"n": 1})

    assert pump.run_once("WorkQueue") == RoundResult(received=2, deleted=2, failed=0)
    assert counts(sqs, made, "WorkQueue") == (0, 0)


def test_the_threads_process_messages_and_stop(sqs, root):
    pump, made = make_pump(sqs, root)
    pump.start()
    try:
        send(sqs, made, {"n": 1})
        deadline = time.monotonic() + 10
        while counts(sqs, made, "WorkQueue") != (0, 0) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert counts(sqs, made, "WorkQueue") == (0, 0)
    finally:
        assert pump.stop(timeout=5)  # True: the threads ended within it (not a 20 s long poll)
    assert len(calls(root)) == 1


@pytest.mark.parametrize(
    ("response", "failed"),
    [
        (None, set()),
        ({}, set()),
        ({"batchItemFailures": []}, set()),
        ({"batchItemFailures": [{"itemIdentifier": "b"}]}, {"b"}),
        ({"batchItemFailures": [{"itemIdentifier": "zzz"}]}, {"a", "b"}),  # unknown id: all fail
        ({"batchItemFailures": [{"itemIdentifier": ""}]}, {"a", "b"}),
        ({"batchItemFailures": [{"id": "a"}]}, {"a", "b"}),
        ("not json", {"a", "b"}),
    ],
)
def test_failed_ids_read_the_response_as_lambda_does(response, failed):
    assert failed_ids(response, ["a", "b"]) == failed


class FakeClock:
    """The pump's batching-window clock: waiting advances it, nothing sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def pause(self, seconds: float) -> None:
        self.now += seconds


def test_a_batching_window_gathers_up_to_the_batch_size(sqs, root):
    # The window stays under the queue's 1 s visibility timeout, as Lambda requires.
    clock = FakeClock()
    tpl = template(True, batch_size=25, window=0.5)
    made = create_resources(
        boto3.client("dynamodb", region_name="us-east-1"), sqs, prefix="pump-test", template=tpl
    )
    pump = QueuePump(
        sqs, made, template=tpl, root=root, monotonic=clock.monotonic, pause=clock.pause
    )
    assert pump.workers["WorkQueue"].batching_window_seconds == 0.5
    assert "WorkFunction reads WorkQueue (batch 25, window 0.5 s)" in pump.describe()
    send(sqs, made, *({"n": i} for i in range(30)))
    started = clock.now
    assert pump.run_once("WorkQueue", gather=True) == RoundResult(received=25, deleted=25, failed=0)
    assert clock.now == started  # full before the window closed: no waiting
    assert pump.run_once("WorkQueue", gather=True) == RoundResult(received=5, deleted=5, failed=0)
    assert clock.now - started == pytest.approx(0.5)  # the rest waited out the window
    assert [len(c["event"]["Records"]) for c in calls(root)] == [25, 5]
    assert sorted(
        json.loads(r["body"])["n"] for c in calls(root) for r in c["event"]["Records"]
    ) == list(range(30))
    # A synchronous drain (tests, tools) does not wait for a window.
    send(sqs, made, {"n": 99})
    started = clock.now
    assert pump.run_once("WorkQueue") == RoundResult(received=1, deleted=1, failed=0)
    assert clock.now == started


def test_a_window_longer_than_the_visibility_timeout_puts_no_message_in_twice(sqs, root):
    pump, made = make_pump(sqs, root, batch_size=25, window=1.5)  # the queue's timeout is 1 s
    send(sqs, made, *({"n": i} for i in range(5)))
    assert pump.run_once("WorkQueue", gather=True).received == 5
    (call,) = calls(root)
    assert sorted(json.loads(r["body"])["n"] for r in call["event"]["Records"]) == list(range(5))


@pytest.mark.skipif(sys.platform != "linux", reason="a nice value per thread is Linux's")
def test_the_pump_threads_run_at_a_lower_priority_and_the_caller_keeps_its_own(sqs, root):
    import os

    from engram_local.pump import WORKER_NICENESS

    pump, _ = make_pump(sqs, root)
    own = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    pump.start()
    try:
        (thread,) = pump._threads
        deadline = time.monotonic() + 5
        while os.getpriority(os.PRIO_PROCESS, thread.native_id) != WORKER_NICENESS:
            assert time.monotonic() < deadline, "the pump thread was not reniced"
            time.sleep(0.02)
    finally:
        assert pump.stop()
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == own
