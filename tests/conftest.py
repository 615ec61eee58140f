"""Test-wide set-up. The environment is fixed here, before any engram import, so that no
test can reach real AWS and every cached factory starts clean."""

from __future__ import annotations

import os

os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_SECURITY_TOKEN="testing",
    AWS_SESSION_TOKEN="testing",
    AWS_DEFAULT_REGION="us-east-1",
    AWS_REGION="us-east-1",
    TABLE_NAME="engram-test",
    POWERTOOLS_TRACE_DISABLED="true",
    POWERTOOLS_SERVICE_NAME="engram",
    POWERTOOLS_METRICS_NAMESPACE="EngramTest",
    POWERTOOLS_LOG_LEVEL="WARNING",
    ORT_DISABLE_TELEMETRY="1",
)
for _name in (
    "AWS_ENDPOINT_URL",
    "AWS_PROFILE",
    "OPENSEARCH_ENDPOINT",
    "EMBED_QUEUE_URL",
    "EXTRACT_QUEUE_URL",
    "DELIVER_QUEUE_URL",
    "SEARCH_BACKEND",
    "EMBEDDER",
):
    os.environ.pop(_name, None)

from engram.bootstrap import bootstrap  # noqa: E402

bootstrap()  # the tests run FastAPI and pydantic as the functions do

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _fresh_caches():
    """Everything the composition root keeps (settings, clients, adapters, the JWT secret,
    the idempotency store) is made again for each test, from the test's environment."""
    from engram import wiring

    wiring.reset()
    yield
    wiring.reset()


@pytest.fixture
def aws_env(monkeypatch):
    """moto for every AWS call, with the template's table and queues created in it; the
    settings point at them. Yields the created resources."""
    import boto3
    from moto import mock_aws

    from engram import wiring
    from engram_local import moto_fixes
    from engram_local.resources import create_resources, function_environment

    # An emulator applies moto_fixes while it runs and undoes them when it stops; moto under
    # mock_aws() is moto as it is.
    assert not moto_fixes.targets(), "an emulator's moto patches outlived it"
    with mock_aws():
        made = create_resources(boto3.client("dynamodb"), boto3.client("sqs"), prefix="engram-test")
        for name, value in function_environment(made).items():
            monkeypatch.setenv(name, value)
        wiring.reset()
        yield made


@pytest.fixture
def pump(aws_env):
    """The local queue pump over the test's queues: `pump.drain_once()` runs each worker
    that template.yaml attaches to a queue on what is waiting there."""
    import boto3

    from engram_local.pump import QueuePump

    return QueuePump(boto3.client("sqs"), aws_env)


@pytest.fixture
def make_key(workspace):
    """Creates another key in `workspace`: make_key(scopes=[...], agent_id=..., expires_at=...)
    returns the key string."""
    from engram import wiring
    from engram.workspaces.models import ApiKeyCreate

    def make(**fields):
        service = wiring.workspace_service()
        body = ApiKeyCreate(name=fields.pop("name", "test"), **fields)
        return service.create_key(workspace[0].workspace_id, None, body).api_key

    return make


@pytest.fixture
def lambda_context():
    class Context:
        function_name = "engram-test"
        function_version = "$LATEST"
        memory_limit_in_mb = 512
        invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:engram-test"
        aws_request_id = "52fdfc07-2182-154f-163f-5f0f9a621d72"
        log_group_name = "/aws/lambda/engram-test"
        log_stream_name = "test"

        @staticmethod
        def get_remaining_time_in_millis() -> int:
            return 30_000

    return Context()


@pytest.fixture
def make_workspace(aws_env):
    """Creates a workspace with an all-scopes key: returns (workspace, api_key string)."""
    from engram import wiring

    def make(name: str = "test"):
        service = wiring.workspace_service()
        ws, key = service.create_workspace(name)
        return ws, key.api_key

    return make


@pytest.fixture
def workspace(make_workspace):
    return make_workspace("test")


@pytest.fixture
def other_auth(make_workspace):
    """Credentials of a second workspace in the same table (tenant isolation tests)."""
    return {"x-api-key": make_workspace("other")[1]}


@pytest.fixture
def client(aws_env):
    """The combined local app over an in-process HTTP client."""
    from fastapi.testclient import TestClient

    from engram_local.app import build_app

    with TestClient(build_app(), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def auth(workspace):
    return {"Authorization": f"Bearer {workspace[1]}"}


@pytest.fixture
def fake_dns(monkeypatch):
    """Test host names resolve through webhooks_helpers.FAKE_DNS (webhook URLs are checked
    against private addresses when created)."""
    import socket

    from tests.integration.webhooks_helpers import fake_getaddrinfo

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo(socket.getaddrinfo))


@pytest.fixture
def lambda_trace(monkeypatch):
    """The X-Ray SDK recording as in a traced Lambda invocation (its Lambda context, a trace
    header), with the handler's subsegment open; yields that subsegment. Nothing is sent:
    the subsegment is never ended, and the SDK's global state is put back."""
    import aws_xray_sdk
    from aws_xray_sdk.core import xray_recorder
    from aws_xray_sdk.core.lambda_launcher import LambdaContext

    monkeypatch.setenv(
        "_X_AMZN_TRACE_ID",
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
    )
    was_enabled, was_context = aws_xray_sdk.global_sdk_config.sdk_enabled(), xray_recorder.context
    aws_xray_sdk.global_sdk_config.set_sdk_enabled(True)
    xray_recorder.context = LambdaContext()
    try:
        yield xray_recorder.begin_subsegment("## lambda_handler")
    finally:
        xray_recorder.context.clear_trace_entities()
        xray_recorder.context = was_context
        aws_xray_sdk.global_sdk_config.set_sdk_enabled(was_enabled)


@pytest.fixture(scope="session")
def running_stack(tmp_path_factory):
    """One local stack (`python -m engram_local` in a subprocess) shared by every test of the
    session that drives Engram over real HTTP (clients, conformance, smoke): starting one
    costs seconds, so tests share it and keep to their own workspace or objects. Yields
    `tests.stack.Stack`; its `env` is .engram/dev.env (ENGRAM_URL, ENGRAM_API_KEY, ...)."""
    from tests.stack import Stack

    running = Stack(tmp_path_factory.mktemp("stack"))
    try:
        running.env = running.wait_ready()
        yield running
    finally:
        running.kill()


@pytest.fixture(scope="session")
def osmem_base():
    """One osmem-server (an in-memory OpenSearch) for the session on a free loopback port;
    bounded start, stopped after. The search index contract and the setup function use it."""
    from osmem_server import OsmemServer

    server = OsmemServer.start(japanese=False, addr="127.0.0.1:0", startup_timeout=30.0)
    try:
        assert server.url.startswith("http://127.0.0.1:"), server.url
        yield server
    finally:
        server.close(grace=5.0)
