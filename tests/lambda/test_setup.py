"""The setup function (functions/setup): CloudFormation custom resource requests in, the
answer PUT to the request's pre-signed ResponseURL (here a receiver on 127.0.0.1); the index
in osmem-server, the workspace and its key's secret in moto."""

from __future__ import annotations

import importlib
import json
import queue
import socket
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest

from engram import custom_resources
from engram.adapters.opensearch_index import OpenSearchIndex, make_client
from engram.search.index import IndexDocument

ANSWER_WAIT = 10  # seconds an answer may take to reach the receiver
STACK_ID = "arn:aws:cloudformation:us-east-1:123456789012:stack/engram-test/0f6c3e2a"


class Receiver:
    """Stands in for the pre-signed S3 URL: records each PUT (path, headers, JSON body)."""

    def __init__(self) -> None:
        self.answers: queue.Queue[dict[str, Any]] = queue.Queue()
        answers = self.answers

        class Handler(BaseHTTPRequestHandler):
            def do_PUT(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                answers.put(
                    {"path": self.path, "headers": dict(self.headers), "body": json.loads(body)}
                )
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/cfn-answer?X-Amz-Signature=abc"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def answer(self) -> dict[str, Any]:
        return self.answers.get(timeout=ANSWER_WAIT)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    running = Receiver()
    yield running
    running.close()


def request(
    receiver: Receiver,
    request_type: str,
    resource_type: str,
    props: dict[str, Any],
    *,
    old: dict[str, Any] | None = None,
    physical_id: str | None = None,
) -> dict[str, Any]:
    """A custom resource request as CloudFormation sends it (properties are strings)."""
    event = {
        "RequestType": request_type,
        "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:engram-setup",
        "ResponseURL": receiver.url,
        "StackId": STACK_ID,
        "RequestId": str(uuid.uuid4()),
        "LogicalResourceId": resource_type.split("::")[1],
        "ResourceType": resource_type,
        "ResourceProperties": {"ServiceToken": "arn:aws:lambda:...", **props},
    }
    if old is not None:
        event["OldResourceProperties"] = {"ServiceToken": "arn:aws:lambda:...", **old}
    if physical_id is not None:
        event["PhysicalResourceId"] = physical_id
    return event


def invoke(event: dict[str, Any], context: Any, receiver: Receiver) -> dict[str, Any]:
    """Runs the handler; returns CloudFormation's view: the one answer it received."""
    handler = importlib.import_module("functions.setup.handler").lambda_handler
    result = handler(event, context)
    answer = receiver.answer()
    assert receiver.answers.empty(), "answered more than once"
    assert answer["path"] == "/cfn-answer?X-Amz-Signature=abc"
    assert answer["headers"].get("Content-Type") == ""  # part of the pre-signed signature
    body = answer["body"]
    assert result == {"Status": body["Status"]}
    for echoed in ("StackId", "RequestId", "LogicalResourceId"):
        assert body[echoed] == event[echoed]
    assert body["PhysicalResourceId"]
    if body["Status"] == "FAILED":
        assert body["Reason"].endswith(".") or ":" in body["Reason"], body["Reason"]
    return body


# --- Custom::SearchIndex against osmem-server ---


@pytest.fixture
def index_props(osmem_base):
    name = f"engram-setup-{uuid.uuid4().hex[:12]}"
    yield {"Endpoint": osmem_base.url, "Index": name, "Dimension": "8", "Service": "es"}
    make_client(osmem_base.url, region="us-east-1", service="es").indices.delete(
        index=name, ignore_unavailable=True
    )


def _mapping(props: dict[str, Any]) -> dict[str, Any]:
    client = make_client(props["Endpoint"], region="us-east-1", service="es")
    return client.indices.get_mapping(index=props["Index"])[props["Index"]]["mappings"]


def _doc(memory_id: str) -> IndexDocument:
    from datetime import UTC, datetime

    return IndexDocument(
        memory_id=memory_id,
        workspace_id="ws-setup",
        content="kept across updates",
        embedding=[1.0] + [0.0] * 7,
        memory_type="fact",
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
    )


def test_create_makes_the_index_with_its_mapping(index_props, receiver, lambda_context):
    body = invoke(
        request(receiver, "Create", "Custom::SearchIndex", index_props), lambda_context, receiver
    )
    assert body["Status"] == "SUCCESS", body["Reason"]
    assert body["PhysicalResourceId"] == f"127.0.0.1/{index_props['Index']}"
    assert body["Data"] == {"Index": index_props["Index"], "Dimension": "8"}
    mapping = _mapping(index_props)
    assert mapping["properties"]["embedding"]["dimension"] == 8
    assert mapping["properties"]["content"]["analyzer"] == "engram_english"


def test_update_keeps_the_index_and_its_documents(index_props, receiver, lambda_context):
    create = request(receiver, "Create", "Custom::SearchIndex", index_props)
    physical_id = invoke(create, lambda_context, receiver)["PhysicalResourceId"]
    client = make_client(index_props["Endpoint"], region="us-east-1", service="es")
    OpenSearchIndex(client, index_props["Index"], refresh="wait_for").upsert([_doc("mem_1")])

    update = request(
        receiver,
        "Update",
        "Custom::SearchIndex",
        index_props,
        old=index_props,
        physical_id=physical_id,
    )
    body = invoke(update, lambda_context, receiver)
    assert body["Status"] == "SUCCESS", body["Reason"]
    assert body["PhysicalResourceId"] == physical_id  # no replacement, so no Delete follows
    assert OpenSearchIndex(client, index_props["Index"]).count("ws-setup") == 1


def test_a_new_dimension_is_refused_with_a_sentence(index_props, receiver, lambda_context):
    physical_id = invoke(
        request(receiver, "Create", "Custom::SearchIndex", index_props), lambda_context, receiver
    )["PhysicalResourceId"]
    wider = {**index_props, "Dimension": "16"}
    body = invoke(
        request(
            receiver,
            "Update",
            "Custom::SearchIndex",
            wider,
            old=index_props,
            physical_id=physical_id,
        ),
        lambda_context,
        receiver,
    )
    assert body["Status"] == "FAILED"
    assert "holds 8-dimensional vectors" in body["Reason"]
    assert "EmbeddingDimension is now 16" in body["Reason"]
    assert "reindex" in body["Reason"]
    assert body["PhysicalResourceId"] == physical_id
    assert _mapping(index_props)["properties"]["embedding"]["dimension"] == 8


def test_delete_leaves_the_index(index_props, receiver, lambda_context):
    physical_id = invoke(
        request(receiver, "Create", "Custom::SearchIndex", index_props), lambda_context, receiver
    )["PhysicalResourceId"]
    body = invoke(
        request(receiver, "Delete", "Custom::SearchIndex", index_props, physical_id=physical_id),
        lambda_context,
        receiver,
    )
    assert body["Status"] == "SUCCESS"
    assert body["PhysicalResourceId"] == physical_id
    assert _mapping(index_props)["properties"]["embedding"]["dimension"] == 8


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"Dimension": "lots"}, "Dimension must be a whole number from 1 to 16000, not 'lots'."),
        ({"Dimension": "0"}, "Dimension must be a whole number from 1 to 16000, not '0'."),
        ({"Index": ""}, "The resource property Index is required."),
    ],
)
def test_bad_properties_fail_with_a_sentence(index_props, receiver, lambda_context, change, reason):
    event = request(receiver, "Create", "Custom::SearchIndex", {**index_props, **change})
    body = invoke(event, lambda_context, receiver)
    assert (body["Status"], body["Reason"]) == ("FAILED", reason)


def test_an_unreachable_index_fails_after_bounded_retries(receiver, lambda_context, monkeypatch):
    with socket.socket() as sock:  # a loopback port nothing listens on
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    waits: list[float] = []
    monkeypatch.setattr(custom_resources, "INDEX_ATTEMPTS", 3)
    monkeypatch.setattr(custom_resources, "_sleep", waits.append)
    props = {"Endpoint": f"http://127.0.0.1:{closed}", "Index": "engram-x", "Dimension": "8"}
    body = invoke(
        request(receiver, "Create", "Custom::SearchIndex", props), lambda_context, receiver
    )
    assert body["Status"] == "FAILED"
    assert body["Reason"].startswith("ConnectionError")
    assert waits == [custom_resources.INDEX_RETRY_SECONDS] * 2


# --- Custom::FirstWorkspace against moto ---


@pytest.fixture
def workspace_props(aws_env):
    return {
        "SecretId": aws_env.secrets["AdminKeySecret"],
        "WorkspaceName": "engram-test",
    }


def _kept_key(secret_id: str) -> dict[str, str]:
    secrets = boto3.client("secretsmanager")
    return json.loads(secrets.get_secret_value(SecretId=secret_id)["SecretString"])


def test_create_makes_a_workspace_and_keeps_its_admin_key_in_the_secret(
    workspace_props, receiver, lambda_context, capsys, caplog
):
    from engram import aws
    from engram.workspaces.repository import WorkspaceRepository
    from engram.workspaces.service import hash_key

    event = request(receiver, "Create", "Custom::FirstWorkspace", workspace_props)
    body = invoke(event, lambda_context, receiver)
    assert body["Status"] == "SUCCESS", body["Reason"]
    kept = _kept_key(workspace_props["SecretId"])
    assert body["PhysicalResourceId"] == kept["workspace_id"]
    assert body["Data"] == {"WorkspaceId": kept["workspace_id"]}
    repo = WorkspaceRepository(aws.table())
    assert repo.get(kept["workspace_id"]).name == "engram-test"
    key = repo.find_key(hash_key(kept["api_key"]))
    assert (key.workspace_id, key.key_id, key.scopes) == (
        kept["workspace_id"],
        kept["key_id"],
        ["read", "write", "admin"],
    )
    # the key is in the secret only: not in the answer, not in the log
    logged = capsys.readouterr()
    assert kept["api_key"] not in json.dumps(body)
    assert kept["api_key"] not in logged.out + logged.err + caplog.text


def test_create_again_finds_the_kept_workspace(workspace_props, receiver, lambda_context):
    first = invoke(
        request(receiver, "Create", "Custom::FirstWorkspace", workspace_props),
        lambda_context,
        receiver,
    )
    kept = _kept_key(workspace_props["SecretId"])
    again = invoke(
        request(receiver, "Create", "Custom::FirstWorkspace", workspace_props),
        lambda_context,
        receiver,
    )
    assert again["PhysicalResourceId"] == first["PhysicalResourceId"]
    assert _kept_key(workspace_props["SecretId"]) == kept


def test_update_and_delete_keep_the_workspace_and_its_key(
    workspace_props, receiver, lambda_context
):
    from engram import aws
    from engram.workspaces.repository import WorkspaceRepository

    created = invoke(
        request(receiver, "Create", "Custom::FirstWorkspace", workspace_props),
        lambda_context,
        receiver,
    )
    workspace_id = created["PhysicalResourceId"]
    kept = _kept_key(workspace_props["SecretId"])
    renamed = {**workspace_props, "WorkspaceName": "renamed"}
    for request_type in ("Update", "Delete"):
        body = invoke(
            request(
                receiver,
                request_type,
                "Custom::FirstWorkspace",
                renamed,
                old=workspace_props,
                physical_id=workspace_id,
            ),
            lambda_context,
            receiver,
        )
        assert (body["Status"], body["PhysicalResourceId"]) == ("SUCCESS", workspace_id)
    assert _kept_key(workspace_props["SecretId"]) == kept
    assert WorkspaceRepository(aws.table()).get(workspace_id).name == "engram-test"


def test_an_aws_error_fails_the_create_with_its_reason(workspace_props, receiver, lambda_context):
    missing = {**workspace_props, "SecretId": "no-such-secret"}
    body = invoke(
        request(receiver, "Create", "Custom::FirstWorkspace", missing), lambda_context, receiver
    )
    assert body["Status"] == "FAILED"
    assert body["Reason"].startswith("ResourceNotFoundException")


# --- the protocol ---


def test_an_unknown_resource_type_fails_but_its_delete_succeeds(receiver, lambda_context):
    body = invoke(request(receiver, "Create", "Custom::Nope", {}), lambda_context, receiver)
    assert body["Status"] == "FAILED"
    assert body["Reason"] == (
        "This function serves Custom::FirstWorkspace, Custom::SearchIndex, not 'Custom::Nope'."
    )
    # the rollback's Delete of what failed to be created must not strand the stack
    delete = request(receiver, "Delete", "Custom::Nope", {}, physical_id=body["PhysicalResourceId"])
    assert invoke(delete, lambda_context, receiver)["Status"] == "SUCCESS"


def test_the_watchdog_answers_before_the_function_times_out(receiver):
    """A resource still working when the function's time is nearly up: the watchdog answers
    FAILED at once (CloudFormation would otherwise wait an hour), and the late answer is not
    sent."""
    answered = threading.Event()

    def slow(request_type, props, old, physical_id):
        assert answered.wait(ANSWER_WAIT), "the watchdog did not answer"
        return custom_resources.Outcome("late")

    class NearlyOutOfTime:
        aws_request_id = "req-1"

        @staticmethod
        def get_remaining_time_in_millis() -> int:
            return 1_000

    event = request(receiver, "Create", "Custom::Slow", {})
    put = custom_resources.put_response

    def put_and_tell(url: str, body: bytes) -> None:
        put(url, body)
        answered.set()

    result = custom_resources.serve(
        event, NearlyOutOfTime(), {"Custom::Slow": slow}, put=put_and_tell, margin_seconds=1.0
    )
    answer = receiver.answer()["body"]
    assert (answer["Status"], answer["PhysicalResourceId"]) == ("FAILED", "Slow-req-1")
    assert "ran out of time" in answer["Reason"]
    assert result == {"Status": "FAILED"}
    assert receiver.answers.empty()


def test_a_request_without_a_response_url_is_refused_without_an_answer(receiver, lambda_context):
    event = request(receiver, "Create", "Custom::SearchIndex", {})
    del event["ResponseURL"]
    handler = importlib.import_module("functions.setup.handler").lambda_handler
    assert handler(event, lambda_context) == {"Status": "FAILED"}
    assert receiver.answers.empty()


def test_the_answer_is_retried_then_given_up_in_bounded_attempts():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    waits: list[float] = []
    with pytest.raises(OSError):
        custom_resources.put_response(
            f"http://127.0.0.1:{closed}/answer", b"{}", attempts=3, timeout=2, sleep=waits.append
        )
    assert waits == [1, 2]


def test_a_long_reason_is_cut_to_fit_the_answer():
    event = {"StackId": STACK_ID, "RequestId": "r", "LogicalResourceId": "X"}
    body = custom_resources.response_body(event, "FAILED", "x" * 10_000, "id")
    assert len(body) < 4096
    assert json.loads(body)["Reason"] == "x" * custom_resources.REASON_CHARS
