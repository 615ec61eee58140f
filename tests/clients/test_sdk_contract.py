"""The SDK covers the API: every operation of the server's OpenAPI document (built from the
app in process) has an SDK call, and every SDK call names a route that exists, with an
Idempotency-Key exactly where the route takes one. Also: the sync client is the generated
twin of the async one, and webhook signatures verify as the server makes them."""

from __future__ import annotations

import ast
import importlib.util
import json
from pathlib import Path

import pytest
from engram_sdk import WebhookVerificationError, verify_webhook

from engram.webhooks.signing import signature_header
from engram_local.app import build_app

CLIENT = Path(__file__).resolve().parents[2] / "clients" / "python"
METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}
# The seed products' own APIs, served for their clients: not part of Engram's SDK.
DIALECT_PREFIXES = ("/remembr", "/memtrace", "/neuroloom", "/agent-sessions")


def sdk_calls() -> dict[tuple[str, str], set[bool]]:
    """(method, route) -> the `keyed` flags of every SDK call site, read from the source."""
    tree = ast.parse((CLIENT / "engram_sdk" / "_async.py").read_text())
    calls: dict[tuple[str, str], set[bool]] = {}
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        if node.func.attr not in {"_request", "_paginate", "stream"}:
            continue
        strings = [a.value for a in node.args if isinstance(a, ast.Constant)]
        strings = [s for s in strings if isinstance(s, str)]
        route = next((s for s in strings if s.startswith("/")), None)
        if route is None:
            continue  # the generic helpers themselves
        method = next((s for s in strings if s in METHODS), "GET")
        keyed = any(
            k.arg == "keyed" and isinstance(k.value, ast.Constant) and k.value.value
            for k in node.keywords
        )
        calls.setdefault((method, route), set()).add(bool(keyed))
    return calls


def api_operations() -> dict[tuple[str, str], bool]:
    """(method, path) -> whether the operation documents an Idempotency-Key header."""
    spec = build_app().openapi()
    operations = {}
    for path, items in spec["paths"].items():
        if path.startswith(DIALECT_PREFIXES):
            continue
        for method, operation in items.items():
            headers = {p["name"] for p in operation.get("parameters", []) if p["in"] == "header"}
            operations[(method.upper(), path)] = "Idempotency-Key" in headers
    return operations


def test_every_api_operation_has_an_sdk_call():
    missing = sorted(set(api_operations()) - set(sdk_calls()))
    assert not missing, f"API operations without an SDK method: {missing}"


def test_every_sdk_call_names_an_existing_route():
    unknown = sorted(set(sdk_calls()) - set(api_operations()))
    assert not unknown, f"SDK calls to routes the API does not have: {unknown}"


def test_posts_send_an_idempotency_key_exactly_where_the_route_takes_one():
    operations, calls = api_operations(), sdk_calls()
    wrong = [
        (op, flags) for op, flags in calls.items() if op in operations and flags != {operations[op]}
    ]
    assert not wrong, f"Idempotency-Key sent where not taken, or missing: {wrong}"


def test_the_sync_client_is_generated_from_the_async_one():
    spec = importlib.util.spec_from_file_location("unasync", CLIENT / "scripts" / "unasync.py")
    unasync = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(unasync)
    assert unasync.is_current(), "run python clients/python/scripts/unasync.py"


def test_the_sdk_does_not_import_the_server():
    for path in (CLIENT / "engram_sdk").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
                module = getattr(node, "module", None) or ""
                assert not any(n.split(".")[0] == "engram" for n in [*names, module]), path


def test_verify_webhook_accepts_the_servers_signature_and_rejects_others():
    body = json.dumps({"id": "evt_1", "type": "webhook.test", "data": {}}).encode()
    header = signature_header(["new-secret", "old-secret"], 1_700_000_000, body)
    now = 1_700_000_010
    assert verify_webhook(body, header, "old-secret", now=now)["id"] == "evt_1"
    assert verify_webhook(body.decode(), header, ["x", "new-secret"], now=now)["type"]
    with pytest.raises(WebhookVerificationError, match="No signature matches"):
        verify_webhook(body, header, "wrong", now=now)
    with pytest.raises(WebhookVerificationError, match="No signature matches"):
        verify_webhook(body + b" ", header, "new-secret", now=now)
    with pytest.raises(WebhookVerificationError, match="tolerance"):
        verify_webhook(body, header, "new-secret", now=now + 3600)
    with pytest.raises(WebhookVerificationError, match="malformed"):
        verify_webhook(body, "v1=abc", "new-secret", now=now)
    with pytest.raises(WebhookVerificationError, match="No Engram-Signature"):
        verify_webhook(body, None, "new-secret", now=now)
