"""The local stack as `make dev` starts it (`python -m engram.local`, in a subprocess), driven
over HTTP, then stopped by a signal: exit code 0 and both ports free again."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import boto3
import httpx
import pytest

pytestmark = pytest.mark.e2e

READY = "Engram is ready"
READY_TIMEOUT = 60
STOP_TIMEOUT = 15


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


class Stack:
    def __init__(self, tmp_path: Path) -> None:
        self.cwd = tmp_path
        self.ports = (free_port(), free_port())
        self.log = tmp_path / "stack.log"
        env = {**os.environ, "PORT": str(self.ports[0]), "EMULATOR_PORT": str(self.ports[1]),
               "PYTHONUNBUFFERED": "1"}
        with self.log.open("wb") as out:  # a file, not a pipe: nothing can block on a full pipe
            self.process = subprocess.Popen([sys.executable, "-m", "engram.local"], cwd=tmp_path,
                                            env=env, stdout=out, stderr=subprocess.STDOUT)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(self) -> dict[str, str]:
        deadline = time.monotonic() + READY_TIMEOUT
        while READY not in self.output():
            assert self.process.poll() is None, f"the stack exited early:\n{self.output()}"
            assert time.monotonic() < deadline, f"not ready in {READY_TIMEOUT} s:\n{self.output()}"
            time.sleep(0.1)
        lines = (self.cwd / ".engram" / "dev.env").read_text().splitlines()
        return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))

    def stop(self, sig: int) -> int:
        self.process.send_signal(sig)
        return self.process.wait(STOP_TIMEOUT)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


@pytest.fixture
def stack(tmp_path):
    running = Stack(tmp_path)
    yield running
    running.kill()


def test_the_stack_serves_the_sessions_api_and_stops_on_sigint(stack):
    env = stack.wait_ready()
    assert env["ENGRAM_URL"] == f"http://127.0.0.1:{stack.ports[0]}"
    assert env["AWS_ENDPOINT_URL"] == f"http://127.0.0.1:{stack.ports[1]}"
    for shown in (env["ENGRAM_URL"], f"{env['ENGRAM_URL']}/docs", env["ENGRAM_API_KEY"]):
        assert shown in stack.output()

    auth = {"Authorization": f"Bearer {env['ENGRAM_API_KEY']}"}
    with httpx.Client(base_url=env["ENGRAM_URL"], timeout=10) as http:
        session_id = drive_sessions(http, auth)
        assert_unauthenticated(http)
        assert http.get("/docs").status_code == 200
        if "no worker for ExtractQueue yet" in stack.output():
            assert_extract_message(env, session_id)
        else:
            assert_extracted(http, auth, session_id)

    assert stack.stop(signal.SIGINT) == 0, stack.output()
    assert "Traceback" not in stack.output()
    assert all(port_is_free(p) for p in stack.ports)


def test_sigterm_stops_it_cleanly(stack):
    env = stack.wait_ready()
    assert httpx.get(f"{env['ENGRAM_URL']}/health", timeout=10).status_code == 200

    assert stack.stop(signal.SIGTERM) == 0, stack.output()
    assert "Traceback" not in stack.output()
    assert all(port_is_free(p) for p in stack.ports)


def drive_sessions(http: httpx.Client, auth: dict[str, str]) -> str:
    health = http.get("/health")
    assert health.status_code == 200 and health.json()["status"] == "ok"

    created = http.post("/v1/sessions", headers=auth,
                        json={"agent_id": "agent-1", "metadata": {"a": 1}})
    assert created.status_code == 201, created.text
    session_id = created.json()["session_id"]

    listed = http.get("/v1/sessions", headers=auth, params={"agent_id": "agent-1"})
    assert listed.status_code == 200
    assert [s["session_id"] for s in listed.json()["data"]] == [session_id]
    assert http.get(f"/v1/sessions/{session_id}", headers=auth).json()["status"] == "active"

    patched = http.patch(f"/v1/sessions/{session_id}", headers=auth, json={"metadata": {"b": 2}})
    assert patched.status_code == 200 and patched.json()["metadata"] == {"b": 2}
    illegal = http.patch(f"/v1/sessions/{session_id}", headers=auth, json={"status": "created"})
    assert illegal.status_code == 409 and illegal.json()["detail"]

    ended = http.post(f"/v1/sessions/{session_id}/end", headers=auth)
    assert ended.status_code == 200, ended.text
    assert (ended.json()["status"], ended.json()["summary_status"]) == ("completed", "pending")
    return session_id


def assert_unauthenticated(http: httpx.Client) -> None:
    response = http.get("/v1/sessions")
    assert response.status_code == 401
    body = response.json()
    assert body["detail"] and body["code"] and body["request_id"]
    assert response.headers["X-Request-Id"] == body["request_id"]


def assert_extracted(http: httpx.Client, auth: dict[str, str], session_id: str) -> None:
    """With an extract worker in the template, the pump hands it the message and the
    session's summary leaves `pending`."""
    deadline = time.monotonic() + 30
    for _ in range(300):
        status = http.get(f"/v1/sessions/{session_id}", headers=auth).json()["summary_status"]
        if status != "pending" or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert status != "pending"


def assert_extract_message(env: dict[str, str], session_id: str) -> None:
    """Without an extract worker, the pump leaves the message on the queue."""
    sqs = boto3.client("sqs", endpoint_url=env["AWS_ENDPOINT_URL"], region_name=env["AWS_REGION"],
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    messages = sqs.receive_message(QueueUrl=env["EXTRACT_QUEUE_URL"], WaitTimeSeconds=2,
                                   MaxNumberOfMessages=10)["Messages"]
    assert [json.loads(m["Body"])["session_id"] for m in messages] == [session_id]
