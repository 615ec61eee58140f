"""The queue pump: Lambda's SQS event source mapping, for the local stack. Workers come from
the template itself (each function with an SQS event on `!GetAtt <Queue>.Arn`); the pump
long-polls that queue, calls the handler with an SQS-shaped event and deletes only the
records it did not report as failed. Failed records reappear after the queue's visibility
timeout and the emulator's redrive moves them to the DLQ after maxReceiveCount, as on AWS."""

from __future__ import annotations

import base64
import importlib.util
import logging
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engram_local.resources import TEMPLATE, LocalResources, load_template, resources_of_type

logger = logging.getLogger("engram_local.pump")

FUNCTION = "AWS::Serverless::Function"
REPORT_FAILURES = "ReportBatchItemFailures"
MAX_RECEIVE = 10  # ReceiveMessage's ceiling: a bigger batch is gathered over several receives
DEFAULT_BATCH_SIZE = 10
GATHER_PAUSE_SECONDS = 0.05  # between receives that found nothing while a batch gathers
WORKER_NICENESS = 10


@dataclass(frozen=True)
class Worker:
    function_id: str
    queue_id: str
    handler: Callable[[dict[str, Any], Any], Any]
    batch_size: int = DEFAULT_BATCH_SIZE
    reports_failures: bool = False
    timeout_seconds: int = 3
    memory_mb: int = 128
    batching_window_seconds: float = 0.0


@dataclass(frozen=True)
class RoundResult:
    received: int = 0
    deleted: int = 0
    failed: int = 0


@dataclass
class LambdaContext:
    """The attributes of Lambda's context object that handlers and Powertools read."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    timeout_seconds: int
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = ""
    log_stream_name: str = "local"
    _started: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.log_group_name = self.log_group_name or f"/aws/lambda/{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        left = self.timeout_seconds - (time.monotonic() - self._started)
        return max(0, int(left * 1000))


# --- discovery -------------------------------------------------------------------------


def queue_of(event_properties: dict[str, Any]) -> str | None:
    """The logical id X of `Queue: !GetAtt X.Arn`, else None."""
    target = event_properties.get("Queue") or {}
    target = target.get("Fn::GetAtt") if isinstance(target, dict) else None
    if isinstance(target, str):
        target = target.split(".", 1)
    if isinstance(target, list) and len(target) == 2 and target[1] == "Arn":
        return str(target[0])
    return None


SqsSource = tuple[str, dict[str, Any], str, dict[str, Any]]


def sqs_sources(template: dict[str, Any]) -> Iterator[SqsSource]:
    """(function id, function properties with Globals, queue id, event properties) per SQS event."""
    defaults = template.get("Globals", {}).get("Function", {})
    for function_id, res in resources_of_type(template, FUNCTION).items():
        properties = {**defaults, **res.get("Properties", {})}
        for event in (properties.get("Events") or {}).values():
            event_properties = event.get("Properties", {})
            queue_id = queue_of(event_properties)
            if event.get("Type") == "SQS" and queue_id and event_properties.get("Enabled", True):
                yield function_id, properties, queue_id, event_properties


def load_handler(root: Path, code_uri: str, handler: str) -> Callable[..., Any]:
    """`Handler: handler.lambda_handler` in `CodeUri: functions/x/` is lambda_handler of
    functions/x/handler.py, loaded by path (no sys.path edits) as `functions.x.handler`."""
    module_path, _, attribute = handler.rpartition(".")
    path = (root / code_uri / f"{module_path.replace('.', '/')}.py").resolve()
    name = ".".join((*Path(code_uri).parts, module_path))
    loaded = sys.modules.get(name)
    if loaded is not None and Path(getattr(loaded, "__file__", "") or "").resolve() == path:
        return getattr(loaded, attribute)  # already imported (e.g. by a test): don't run it twice
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None or not path.is_file():
        raise FileNotFoundError(f"No handler module at {path}.")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses, pydantic and pickle look modules up here
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return getattr(module, attribute)


def discover_workers(
    template: dict[str, Any] | None = None, root: Path | None = None
) -> dict[str, Worker]:
    """The worker of each queue, by queue logical id."""
    template = template or load_template()
    root = root or TEMPLATE.parent
    workers: dict[str, Worker] = {}
    for function_id, props, queue_id, event in sqs_sources(template):
        if queue_id in workers:
            raise ValueError(
                f"{queue_id} has two workers: {workers[queue_id].function_id} "
                f"and {function_id}; the pump runs one per queue."
            )
        workers[queue_id] = Worker(
            function_id=function_id,
            queue_id=queue_id,
            handler=load_handler(root, str(props["CodeUri"]), str(props["Handler"])),
            batch_size=int(event.get("BatchSize", DEFAULT_BATCH_SIZE)),
            reports_failures=REPORT_FAILURES in (event.get("FunctionResponseTypes") or []),
            timeout_seconds=int(props.get("Timeout", 3)),
            memory_mb=int(props.get("MemorySize", 128)),
            batching_window_seconds=float(event.get("MaximumBatchingWindowInSeconds", 0)),
        )
    return workers


def dead_letter_queues(template: dict[str, Any]) -> set[str]:
    targets = set()
    for res in resources_of_type(template, "AWS::SQS::Queue").values():
        policy = res.get("Properties", {}).get("RedrivePolicy") or {}
        queue_id = queue_of({"Queue": policy.get("deadLetterTargetArn")})
        if queue_id:
            targets.add(queue_id)
    return targets


# --- the event and the response ----------------------------------------------------------


def sqs_event(messages: list[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    return {"Records": [_record(m, queue_arn, region) for m in messages]}


def _record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    record = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message.get("Body", ""),
        "attributes": dict(message.get("Attributes", {})),
        "messageAttributes": {
            k: _attribute(v) for k, v in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def _attribute(value: dict[str, Any]) -> dict[str, Any]:
    """SQS API's StringValue/BinaryValue(bytes) form to Lambda's stringValue/binaryValue(base64)."""
    converted: dict[str, Any] = {
        "stringListValues": list(value.get("StringListValues", [])),
        "binaryListValues": [_b64(b) for b in value.get("BinaryListValues", [])],
        "dataType": value.get("DataType", "String"),
    }
    if "StringValue" in value:
        converted["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        converted["binaryValue"] = _b64(value["BinaryValue"])
    return converted


def _b64(data: bytes | str) -> str:
    return base64.b64encode(data if isinstance(data, bytes) else data.encode()).decode()


def failed_ids(response: Any, batch_ids: list[str]) -> set[str]:
    """Lambda's reading of a ReportBatchItemFailures response: a null/empty response or list
    is full success; a malformed entry or an id not in the batch fails the whole batch."""
    if response is None or response == {}:
        return set()
    if not isinstance(response, dict):
        return set(batch_ids)
    failures = response.get("batchItemFailures")
    if not failures:
        return set()
    ids = [f.get("itemIdentifier") if isinstance(f, dict) else None for f in failures]
    known = [i for i in ids if isinstance(i, str) and i in batch_ids]
    if len(known) < len(ids):
        return set(batch_ids)
    return set(known)


# --- the pump ------------------------------------------------------------------------------


class QueuePump:
    """One daemon thread per worker queue; `run_once` is one receive round, synchronously."""

    def __init__(
        self,
        sqs: Any,
        made: LocalResources,
        template: dict[str, Any] | None = None,
        root: Path | None = None,
        wait_seconds: int = 1,
        monotonic: Callable[[], float] = time.monotonic,
        pause: Callable[[float], object] | None = None,
    ) -> None:
        template = template or load_template()
        self._sqs = sqs
        # The batching window's clock, and how the pump waits within it (tests inject both).
        self._monotonic = monotonic
        self._pause = pause
        self._made = made
        self._wait = wait_seconds  # long-poll length: also bounds how long stop() waits
        self.workers = discover_workers(template, root)
        missing = set(self.workers) - set(made.queue_urls)
        if missing:
            raise ValueError(f"Workers read queues that were not created: {sorted(missing)}.")
        dlqs = dead_letter_queues(template)
        self.idle_queues = [q for q in made.queue_urls if q not in self.workers and q not in dlqs]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def describe(self) -> list[str]:
        lines = [
            f"{w.function_id} reads {q} (batch {w.batch_size}"
            + (f", window {w.batching_window_seconds:g} s)" if w.batching_window_seconds else ")")
            for q, w in self.workers.items()
        ]
        return lines + [f"no worker for {q} yet; messages stay queued" for q in self.idle_queues]

    def start(self) -> None:
        self._stop.clear()
        for queue_id in self.workers:
            thread = threading.Thread(
                target=self._loop, args=(queue_id,), daemon=True, name=f"pump-{queue_id}"
            )
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 5.0) -> bool:
        """True when every thread has ended within the timeout."""
        self._stop.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._threads = [t for t in self._threads if t.is_alive()]
        return not self._threads

    def drain_once(self, wait_seconds: int = 0) -> dict[str, RoundResult]:
        return {queue_id: self.run_once(queue_id, wait_seconds) for queue_id in self.workers}

    def run_once(self, queue_id: str, wait_seconds: int = 0, gather: bool = False) -> RoundResult:
        """One receive and one invocation. With `gather` (the background loop), a batch
        fills as Lambda's poller fills it: until BatchSize records, or until the function's
        MaximumBatchingWindowInSeconds has passed since the first one."""
        worker, url = self.workers[queue_id], self._made.queue_urls[queue_id]
        messages = self._receive(url, worker.batch_size, wait_seconds)
        if not messages:
            return RoundResult()
        if gather and worker.batching_window_seconds > 0:
            messages += self._gather(url, worker, messages)
        event = sqs_event(messages, self._made.queue_arns[queue_id], self._region)
        failed = self._invoke(worker, event)
        done = [m for m in messages if m["MessageId"] not in failed]
        self._delete(url, done)
        return RoundResult(len(messages), deleted=len(done), failed=len(messages) - len(done))

    def _receive(self, url: str, wanted: int, wait_seconds: int) -> list[dict[str, Any]]:
        return self._sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=min(wanted, MAX_RECEIVE),
            WaitTimeSeconds=wait_seconds,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])

    def _gather(self, url: str, worker: Worker, have: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """More messages for the batch `have`, within the batching window. A message that
        turns visible again meanwhile (a window longer than the visibility timeout) is not
        put in the batch twice."""
        more: list[dict[str, Any]] = []
        seen = {m["MessageId"] for m in have}
        deadline = self._monotonic() + worker.batching_window_seconds
        pause = self._pause or self._stop.wait
        while len(have) + len(more) < worker.batch_size and not self._stop.is_set():
            left = deadline - self._monotonic()
            if left <= 0:
                break
            found = [
                m
                for m in self._receive(url, worker.batch_size - len(have) - len(more), 0)
                if m["MessageId"] not in seen
            ]
            seen.update(m["MessageId"] for m in found)
            more += found
            if not found:
                pause(min(GATHER_PAUSE_SECONDS, left))
        return more

    @property
    def _region(self) -> str:
        return str(self._sqs.meta.region_name)

    def _loop(self, queue_id: str) -> None:
        _lower_priority()
        while not self._stop.is_set():
            try:
                self.run_once(queue_id, self._wait, gather=True)
            except Exception:
                logger.exception("queue pump round failed for %s", queue_id)
                self._stop.wait(1.0)  # e.g. the emulator is going away: don't spin

    def _invoke(self, worker: Worker, event: dict[str, Any]) -> set[str]:
        batch_ids = [r["messageId"] for r in event["Records"]]
        try:
            response = worker.handler(event, self._context(worker, event))
        except Exception:
            logger.exception(
                "%s raised; the whole batch of %d stays queued", worker.function_id, len(batch_ids)
            )
            return set(batch_ids)
        return failed_ids(response, batch_ids) if worker.reports_failures else set()

    def _context(self, worker: Worker, event: dict[str, Any]) -> LambdaContext:
        account = event["Records"][0]["eventSourceARN"].split(":")[4]
        name = f"engram-local-{worker.function_id}"
        arn = f"arn:aws:lambda:{self._region}:{account}:function:{name}"
        return LambdaContext(name, arn, worker.memory_mb, worker.timeout_seconds)

    def _delete(self, url: str, messages: list[dict[str, Any]]) -> None:
        for start in range(0, len(messages), MAX_RECEIVE):
            chunk = messages[start : start + MAX_RECEIVE]
            entries = [
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)
            ]
            result = self._sqs.delete_message_batch(QueueUrl=url, Entries=entries)
            for failure in result.get("Failed", []):
                logger.warning("could not delete a processed message: %s", failure)


def _lower_priority() -> None:
    """On AWS the workers run on their own compute; here they share the API's cores, so the
    pump's threads (and the threads they start, such as the model's pool) yield to the API's.
    Linux keeps a nice value per thread; elsewhere the call would renice the whole process."""
    if sys.platform != "linux":
        return
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), WORKER_NICENESS)
    except OSError:
        logger.info("could not lower the queue pump's priority")
