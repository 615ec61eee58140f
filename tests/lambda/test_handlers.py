"""Each function's `lambda_handler` called with the API Gateway HTTP API (payload v2) events
of tests/events/, as `sam local invoke -e` would, against moto."""

from __future__ import annotations

import copy
import importlib
import json
from functools import cache
from pathlib import Path
from typing import Any

import boto3
import pytest

from engram import keys, wiring

EVENTS = Path(__file__).resolve().parents[1] / "events"
KEY_PLACEHOLDER = "ek_REPLACE_ME"
SESSION_PLACEHOLDER = "sess_REPLACE_ME"


@cache
def _event_file(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / f"{name}.json").read_text())


def _substitute(value: Any, replacements: dict[str, str]) -> Any:
    if isinstance(value, str):
        for old, new in replacements.items():
            value = value.replace(old, new)
        return value
    if isinstance(value, dict):
        return {k: _substitute(v, replacements) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, replacements) for v in value]
    return value


def invoke(
    function: str,
    event_name: str,
    context: Any,
    *,
    key: str | None = None,
    session_id: str | None = None,
    body: dict | None = None,
) -> dict[str, Any]:
    """Loads an event, fills in the key and session id, invokes the handler and returns
    the response with `json` (the parsed body, or None) added."""
    replacements = {}
    if key is not None:
        replacements[KEY_PLACEHOLDER] = key
    if session_id is not None:
        replacements[SESSION_PLACEHOLDER] = session_id
    event = _substitute(copy.deepcopy(_event_file(event_name)), replacements)
    if body is not None:
        event["body"] = json.dumps(body)
        event["headers"]["content-length"] = str(len(event["body"].encode()))
    handler = importlib.import_module(f"functions.{function}.handler").lambda_handler
    response = handler(event, context)
    headers = {k.lower(): v for k, v in response.get("headers", {}).items()}
    assert headers.get("x-request-id"), f"{event_name}: no x-request-id header"
    response["headers"] = headers
    response["json"] = json.loads(response["body"]) if response.get("body") else None
    return response


def assert_error(response: dict[str, Any], status: int, code: str) -> None:
    assert response["statusCode"] == status, response["body"]
    assert response["headers"]["content-type"].startswith("application/json")
    body = response["json"]
    assert body["code"] == code
    assert body["detail"] and body["detail"].endswith(".")
    assert body["request_id"] == response["headers"]["x-request-id"]


@pytest.fixture
def key(workspace) -> str:
    return workspace[1]


@pytest.fixture
def other_key(aws_env) -> str:
    from engram import aws
    from engram.workspaces.repository import WorkspaceRepository
    from engram.workspaces.service import WorkspaceService

    service = WorkspaceService(WorkspaceRepository(aws.table()), wiring.clock())
    return service.create_workspace("other")[1].api_key


@pytest.fixture
def table(aws_env):
    return boto3.resource("dynamodb").Table(aws_env.tables["Table"])


@pytest.fixture
def session(key, lambda_context) -> dict[str, Any]:
    response = invoke("sessions", "sessions_create", lambda_context, key=key)
    assert response["statusCode"] == 201, response["body"]
    return response["json"]


def test_health(lambda_context):
    response = invoke("health", "health_get", lambda_context)
    assert response["statusCode"] == 200
    assert response["json"]["status"] == "ok"
    assert response["json"]["version"]


def test_create_stores_the_session(key, workspace, table, lambda_context):
    response = invoke("sessions", "sessions_create", lambda_context, key=key)
    assert response["statusCode"] == 201, response["body"]
    created = response["json"]
    assert created["session_id"].startswith("sess_")
    assert created["workspace_id"] == workspace[0].workspace_id
    assert created["agent_id"] == "agent-7"
    assert (created["status"], created["is_active"]) == ("active", True)
    item = table.get_item(Key=keys.session_key(created["session_id"]))["Item"]
    assert item["workspace_id"] == workspace[0].workspace_id
    assert item["project_name"] == "engram"


def test_list_with_query_string(session, key, lambda_context):
    invoke("sessions", "sessions_create", lambda_context, key=key, body={"agent_id": "agent-8"})
    response = invoke("sessions", "sessions_list", lambda_context, key=key)
    assert response["statusCode"] == 200, response["body"]
    page = response["json"]
    assert [s["session_id"] for s in page["data"]] == [session["session_id"]]
    assert page["count"] == 1
    assert page["has_more"] is False


def test_get(session, key, lambda_context):
    response = invoke(
        "sessions", "sessions_get", lambda_context, key=key, session_id=session["session_id"]
    )
    assert response["statusCode"] == 200, response["body"]
    assert response["json"] == session


def test_patch(session, key, lambda_context):
    response = invoke(
        "sessions", "sessions_patch", lambda_context, key=key, session_id=session["session_id"]
    )
    assert response["statusCode"] == 200, response["body"]
    patched = response["json"]
    assert patched["status"] == "paused"
    assert patched["metadata"] == {"reviewed": True}  # replaced, not merged
    assert patched["branch_name"] == "feature/memory"
    assert patched["updated_at"]


def test_end_enqueues_extraction(session, key, aws_env, lambda_context):
    sid = session["session_id"]
    response = invoke("sessions", "sessions_end", lambda_context, key=key, session_id=sid)
    assert response["statusCode"] == 200, response["body"]
    ended = response["json"]
    assert (ended["status"], ended["is_active"], ended["summary_status"]) == (
        "completed",
        False,
        "pending",
    )
    assert ended["ended_at"] and ended["summary"] == "Set up the sessions API."

    messages = (
        boto3.client("sqs")
        .receive_message(
            QueueUrl=aws_env.queue_urls["ExtractQueue"], MaxNumberOfMessages=10, WaitTimeSeconds=0
        )
        .get("Messages", [])
    )
    assert len(messages) == 1
    body = json.loads(messages[0]["Body"])
    assert body["session_id"] == sid
    assert body["workspace_id"] == session["workspace_id"]


def test_end_twice_is_a_conflict(session, key, lambda_context):
    sid = session["session_id"]
    invoke("sessions", "sessions_end", lambda_context, key=key, session_id=sid)
    assert_error(
        invoke("sessions", "sessions_end", lambda_context, key=key, session_id=sid), 409, "conflict"
    )


def test_delete(session, key, table, lambda_context):
    sid = session["session_id"]
    response = invoke("sessions", "sessions_delete", lambda_context, key=key, session_id=sid)
    assert response["statusCode"] == 204, response["body"]
    assert not response["body"]
    assert "Item" not in table.get_item(Key=keys.session_key(sid))
    assert_error(
        invoke("sessions", "sessions_get", lambda_context, key=key, session_id=sid),
        404,
        "not_found",
    )


def test_malformed_json_is_400(key, table, lambda_context):
    response = invoke("sessions", "sessions_create_bad_json", lambda_context, key=key)
    assert_error(response, 400, "bad_request")
    assert "JSON" in response["json"]["detail"]


def test_no_credentials_is_401(aws_env, lambda_context):
    assert_error(invoke("sessions", "sessions_no_auth", lambda_context), 401, "unauthorized")


def test_wrong_key_is_401(aws_env, lambda_context):
    response = invoke("sessions", "sessions_list", lambda_context, key="ek_" + "x" * 40)
    assert_error(response, 401, "unauthorized")


@pytest.mark.parametrize(
    "event_name", ["sessions_get", "sessions_patch", "sessions_end", "sessions_delete"]
)
def test_another_workspaces_session_is_404(event_name, session, key, other_key, lambda_context):
    sid = session["session_id"]
    assert_error(
        invoke("sessions", event_name, lambda_context, key=other_key, session_id=sid),
        404,
        "not_found",
    )
    unchanged = invoke("sessions", "sessions_get", lambda_context, key=key, session_id=sid)
    assert unchanged["json"] == session


def test_another_workspaces_sessions_are_not_listed(session, other_key, lambda_context):
    response = invoke("sessions", "sessions_list", lambda_context, key=other_key)
    assert response["statusCode"] == 200
    assert response["json"]["data"] == [] and response["json"]["count"] == 0


def test_named_stage_prefix_is_routed(lambda_context):
    event = copy.deepcopy(_event_file("health_get"))
    event["requestContext"]["stage"] = "dev"
    event["rawPath"] = event["requestContext"]["http"]["path"] = "/dev/health"
    response = importlib.import_module("functions.health.handler").lambda_handler(
        event, lambda_context
    )
    assert response["statusCode"] == 200, response["body"]
    event["rawPath"] = event["requestContext"]["http"]["path"] = "/devices/health"
    response = importlib.import_module("functions.health.handler").lambda_handler(
        event, lambda_context
    )
    assert response["statusCode"] == 404  # only a whole /<stage> segment is taken off
