"""The local stack as `make dev` starts it (`python -m engram_local`, in a subprocess), driven
over HTTP, then stopped by a signal: exit code 0 and both ports free again."""

from __future__ import annotations

import json
import signal
import time

import boto3
import httpx
import pytest

from tests.stack import port_is_free

pytestmark = pytest.mark.e2e


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

    created = http.post(
        "/v1/sessions", headers=auth, json={"agent_id": "agent-1", "metadata": {"a": 1}}
    )
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
    sqs = boto3.client(
        "sqs",
        endpoint_url=env["AWS_ENDPOINT_URL"],
        region_name=env["AWS_REGION"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    messages = sqs.receive_message(
        QueueUrl=env["EXTRACT_QUEUE_URL"], WaitTimeSeconds=2, MaxNumberOfMessages=10
    )["Messages"]
    assert [json.loads(m["Body"])["session_id"] for m in messages] == [session_id]


def test_concurrent_writes_through_the_stack_all_succeed(stack):
    """The emulator serialises DynamoDB requests (moto is not thread-safe); concurrent API
    calls must all succeed and every message must be counted."""
    from concurrent.futures import ThreadPoolExecutor

    env = stack.wait_ready()
    auth = {"Authorization": f"Bearer {env['ENGRAM_API_KEY']}"}
    with httpx.Client(base_url=env["ENGRAM_URL"], timeout=30) as http:
        sid = http.post("/v1/sessions", headers=auth, json={}).json()["session_id"]

        def post(n: int) -> int:
            body = {
                "messages": [{"role": "user", "content": f"message {n} {i}"} for i in range(20)]
            }
            return http.post(f"/v1/sessions/{sid}/messages", headers=auth, json=body).status_code

        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(pool.map(post, range(16)))
        assert statuses == [201] * 16
        assert http.get(f"/v1/sessions/{sid}", headers=auth).json()["message_count"] == 320
    assert stack.stop(signal.SIGINT) == 0, stack.output()
