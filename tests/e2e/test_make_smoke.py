"""`make smoke` (the documented check after a deploy) against a running local stack, so it
cannot rot: every step passes, the webhook receiver (on 127.0.0.1) gets the test delivery,
nothing the run made is left, and the key is never printed; a bad key fails clearly and
still cleans up. Its stack is its own, shared by this module: a receiver on 127.0.0.1 needs
WEBHOOK_ALLOW_PRIVATE, which the session's shared stack (running_stack) must not have."""

from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.stack import Stack

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
RUN_TIMEOUT = 300  # seconds the whole smoke run may take on a loaded machine
STEPS = (
    "health",
    "create a session",
    "store a memory",
    "search finds it",
    "messages",
    "end the session",
    "context",
    "webhook test delivery",
    "clean up",
)


class Receiver:
    """A webhook receiver on 127.0.0.1: records each POST's headers and answers 200."""

    def __init__(self) -> None:
        self.posts: queue.Queue[dict[str, Any]] = queue.Queue()
        posts = self.posts

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                posts.put(dict(self.headers))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/engram"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def smoke_stack(tmp_path_factory):
    running = Stack(tmp_path_factory.mktemp("smoke-stack"), {"WEBHOOK_ALLOW_PRIVATE": "true"})
    try:
        yield running.wait_ready()
    finally:
        running.kill()


@pytest.fixture
def receiver():
    running = Receiver()
    yield running
    running.close()


def _run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("ENGRAM_", "WEBHOOK_"))}
    return subprocess.run(
        command,
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )


def _verdicts(output: str) -> dict[str, str]:
    return {
        m.group(2): m.group(1)
        for m in re.finditer(r"^(PASS|FAIL|SKIP)\s+([^:]+):", output, re.MULTILINE)
    }


def test_make_smoke_passes_against_the_local_stack_and_leaves_nothing(smoke_stack, receiver):
    url, key = smoke_stack["ENGRAM_URL"], smoke_stack["ENGRAM_API_KEY"]
    done = _run(
        ["make", "--no-print-directory", "smoke", f"WEBHOOK_RECEIVER={receiver.url}"],
        {"ENGRAM_URL": url, "ENGRAM_API_KEY": key},
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert _verdicts(output) == dict.fromkeys(STEPS, "PASS"), output
    assert done.stdout.rstrip().endswith("smoke: passed")  # stderr may carry pip's notes
    assert key not in output
    delivered = receiver.posts.get(timeout=5)
    assert delivered["Engram-Event"] == "webhook.test"
    assert delivered["Engram-Signature"].startswith("t=")

    session_id = re.search(r"create a session: (\S+)", output).group(1)
    auth = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=url, headers=auth, timeout=20) as http:
        assert http.get(f"/v1/sessions/{session_id}").status_code == 404
        left = http.get("/v1/memories", params={"session_id": session_id, "include_deleted": True})
        assert left.status_code == 200 and left.json()["data"] == []
        assert http.get("/v1/webhooks").json()["data"] == []


def test_a_bad_key_fails_at_the_first_authenticated_step_and_says_why(smoke_stack):
    done = _run(
        [sys.executable, "-m", "engram.cli", "smoke"],
        {"ENGRAM_URL": smoke_stack["ENGRAM_URL"], "ENGRAM_API_KEY": "ek_not-a-key"},
    )
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    verdicts = _verdicts(output)
    assert (verdicts["health"], verdicts["create a session"]) == ("PASS", "FAIL")
    assert "POST /v1/sessions answered 401, not 201" in output
    assert all(verdicts[step] == "SKIP" for step in STEPS[2:-1])
    assert verdicts["clean up"] == "PASS"
    assert output.rstrip().endswith("smoke: FAILED")


def test_smoke_without_a_target_says_what_to_give():
    done = _run([sys.executable, "-m", "engram.cli", "smoke"], {})
    assert done.returncode == 2
    assert "give URL= and KEY= (or ENGRAM_URL and ENGRAM_API_KEY), or STACK_NAME=" in done.stderr
