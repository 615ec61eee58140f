"""Fixtures for the client tests: the session's shared local stack (as `make dev` starts
it), and a scripted 127.0.0.1 HTTP server that answers errors first and then forwards."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from tests.stack import Stack


@pytest.fixture(scope="session")
def stack_env(running_stack) -> dict[str, str]:
    """The shared stack's .engram/dev.env (ENGRAM_URL, ENGRAM_API_KEY...) and its directory."""
    return {**running_stack.env, "ENGRAM_STACK_DIR": str(running_stack.cwd)}


@pytest.fixture(scope="module")
def webhook_stack_env(tmp_path_factory) -> Iterator[dict[str, str]]:
    """A stack of its own whose webhooks may target 127.0.0.1 receivers (as in local
    development with WEBHOOK_ALLOW_PRIVATE): the shared one keeps the SSRF guard."""
    os.environ["WEBHOOK_ALLOW_PRIVATE"] = "true"
    try:
        running = Stack(tmp_path_factory.mktemp("webhook-stack"))
    finally:
        del os.environ["WEBHOOK_ALLOW_PRIVATE"]
    try:
        yield running.wait_ready()
    finally:
        running.kill()


class ScriptedServer:
    """Answers each request with the next scripted (status, headers, body) while any is
    left, then forwards it to `upstream` (or answers 404). Records what it received."""

    def __init__(self, upstream: str | None = None) -> None:
        self.script: list[tuple[int, dict[str, str], dict]] = []
        self.received: list[tuple[str, str, dict[str, str], bytes]] = []
        self.forward_then_fail = 0  # forward this many requests, then lose their answers
        self.upstream = upstream
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def _next(self) -> tuple[int, dict[str, str], dict] | None:
        with self._lock:
            return self.script.pop(0) if self.script else None

    def _forward(self, method: str, path: str, headers: dict[str, str], body: bytes):
        if not self.upstream:
            return 404, {}, b'{"detail": "no such route", "code": "not_found"}'
        keep = {k: v for k, v in headers.items() if k.lower() not in ("host", "content-length")}
        with httpx.Client(base_url=self.upstream, timeout=30) as http:
            answer = http.request(method, path, headers=keep, content=body)
        return answer.status_code, dict(answer.headers), answer.content

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                server.received.append((self.command, self.path, headers, body))
                scripted = server._next()
                if scripted is None and server.forward_then_fail > 0:
                    server.forward_then_fail -= 1
                    server._forward(self.command, self.path, headers, body)
                    scripted = (503, {}, {"detail": "The answer was lost.", "code": "lost"})
                if scripted is not None:
                    status, extra, payload = scripted
                    raw = json.dumps(payload).encode()
                    extra = {"content-type": "application/json", **extra}
                else:
                    status, extra, raw = server._forward(self.command, self.path, headers, body)
                self.send_response(status)
                for name, value in extra.items():
                    if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(name, value)
                self.send_header("content-length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _serve

            def log_message(self, *args) -> None:  # quiet
                pass

        return Handler

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def scripted() -> Iterator[ScriptedServer]:
    server = ScriptedServer()
    yield server
    server.close()
