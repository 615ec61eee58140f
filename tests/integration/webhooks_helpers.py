"""Shared by the webhook integration tests: a real HTTP receiver on 127.0.0.1 (also the
embedder contract's Bedrock endpoint), a fake DNS for the SSRF guard, and SQS-shaped events
built from messages received from moto."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PUBLIC_IP = "93.184.216.34"
FAKE_DNS = {
    "hooks.example.com": PUBLIC_IP,
    "other.example.com": "8.8.4.4",
    "intranet.example.com": "10.0.0.8",
    "sneaky.example.com": "169.254.169.254",
}
HANG_SECONDS = 2.0  # longer than the tests' read timeout, short enough to end quickly


def fake_getaddrinfo(real):
    """Known test hosts resolve from FAKE_DNS; anything else (127.0.0.1) as usual."""

    def resolve(host, port, *args, **kwargs):
        if host in FAKE_DNS:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (FAKE_DNS[host], port))]
        return real(host, port, *args, **kwargs)

    return resolve


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass
class Receiver:
    """Answers each POST with the next scripted action: an HTTP status, or "hang" (no answer
    for HANG_SECONDS). After the script runs out it answers `then`. The body is "ok", or
    what `reply` makes of the request (sent as JSON)."""

    script: list[Any] = field(default_factory=list)
    then: Any = 200
    reply: Callable[[Received], bytes] | None = None
    requests: list[Received] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def next_action(self) -> Any:
        with self._lock:
            return self.script.pop(0) if self.script else self.then

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(min(length, 1_000_000))
                received = Received(self.path, dict(self.headers.items()), body, time.monotonic())
                receiver.requests.append(received)
                action = receiver.next_action()
                if action == "hang":
                    receiver._stop.wait(HANG_SECONDS)
                    return
                answer = receiver.reply(received) if receiver.reply else b"ok"
                self.send_response(int(action))
                if receiver.reply:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def stop(self) -> None:
        self._stop.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def receive_all(sqs: Any, queue_url: str, rounds: int = 3) -> list[dict[str, Any]]:
    """Everything visible on the queue now (bounded rounds, no long polling)."""
    found: list[dict[str, Any]] = []
    for _ in range(rounds):
        batch = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0, AttributeNames=["All"]
        ).get("Messages", [])
        if not batch:
            break
        found += batch
    return found


def sqs_record(message: dict[str, Any], queue_arn: str, receive_count: int | None = None) -> dict:
    attributes = dict(message.get("Attributes", {}))
    if receive_count is not None:  # stands in for a later receive of the same message
        attributes["ApproximateReceiveCount"] = str(receive_count)
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": attributes,
        "messageAttributes": {},
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": "us-east-1",
    }


def sqs_event(*records: dict[str, Any]) -> dict[str, Any]:
    return {"Records": list(records)}


def body_of(message: dict[str, Any]) -> dict[str, Any]:
    return json.loads(message["Body"])


def failed_ids(response: dict[str, Any] | None) -> list[str]:
    return [f["itemIdentifier"] for f in (response or {}).get("batchItemFailures", [])]
