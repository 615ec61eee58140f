"""What every dialect shares (engram.dialects): each mount answers errors in its product's
shape (unknown routes, validation, auth and body-size refusals too), /v1 keeps Engram's,
and the combined OpenAPI document keeps every dialect's models apart."""

from __future__ import annotations

import pytest

from engram.dialects import offset_page
from engram_local.app import build_app


def test_remembr_errors_are_its_nested_error_object(client, auth):
    for response in (
        client.get("/remembr/api/v1/no-such-route", headers=auth),
        client.get("/remembr/api/v1/sessions"),
        client.post("/remembr/api/v1/memory", headers=auth, json={"content": "x"}),
    ):
        body = response.json()
        assert body["success"] is False and body["error"]["message"], response.text
        assert body["error"]["request_id"] == response.headers["x-request-id"]
    assert client.get("/remembr/api/v1/sessions").json()["error"]["code"] == "unauthorized"


def test_memtrace_errors_are_one_sentence_under_error(client, auth):
    missing = client.get("/memtrace/api/v1/sessions/sess_nope", headers=auth)
    assert missing.status_code == 404
    assert missing.json()["error"] == "Session sess_nope was not found."
    invalid = client.post("/memtrace/api/v1/sessions", headers=auth, json={})
    assert invalid.status_code == 422 and invalid.json()["error"] == "'agent_id' is required."


def test_memtrace_closes_a_session_and_replaces_its_metadata_in_one_put(client, auth):
    created = client.post("/memtrace/api/v1/sessions", headers=auth, json={"agent_id": "a"})
    sid = created.json()["id"] if "id" in created.json() else created.json()["session_id"]
    body = {"status": "closed", "metadata": {"ticket": 7}}
    closed = client.put(f"/memtrace/api/v1/sessions/{sid}", headers=auth, json=body)
    assert closed.status_code == 200, closed.text
    assert closed.json()["status"] == "closed" and closed.json()["metadata"] == {"ticket": 7}


def test_an_oversized_body_is_refused_in_the_mounts_shape(client, auth, monkeypatch):
    monkeypatch.setenv("MAX_BODY_BYTES", "1024")
    from engram.config import get_settings

    get_settings.cache_clear()
    body = {"agent_id": "a", "metadata": {"pad": "x" * 2000}}
    response = client.post("/memtrace/api/v1/sessions", headers=auth, json=body)
    assert response.status_code == 413 and "1024 bytes" in response.json()["error"]


def test_v1_and_the_agent_sessions_mount_keep_engrams_error_body(client, auth):
    for path in ("/v1/sessions/nope", "/agent-sessions/api/sessions/nope"):
        body = client.get(path, headers=auth).json()
        assert body["code"] == "not_found" and body["detail"] and "error" not in body


def test_the_openapi_document_documents_each_mounts_error_body_and_keeps_models_apart():
    spec = build_app().openapi()
    schemas = spec["components"]["schemas"]
    assert not [name for name in schemas if name.startswith("engram__")], "two models share a name"

    def error_ref(path: str) -> str:
        operation = next(iter(spec["paths"][path].values()))
        return operation["responses"]["404"]["content"]["application/json"]["schema"]["$ref"]

    assert error_ref("/remembr/api/v1/sessions").endswith("/RemembrError")
    assert error_ref("/memtrace/api/v1/sessions").endswith("/MemtraceError")
    assert error_ref("/v1/sessions").endswith("/Error")
    tags = {t for ops in spec["paths"].values() for op in ops.values() for t in op["tags"]}
    assert {
        "remembr dialect",
        "memtrace dialect",
        "neuroloom dialect",
        "agent-sessions dialect",
    } <= tags


class _Page:
    def __init__(self, data, next_cursor):
        self.data, self.next_cursor = data, next_cursor


@pytest.mark.parametrize(
    ("offset", "limit", "expected", "more"),
    [(0, 3, [0, 1, 2], True), (5, 3, [5, 6, 7], True), (8, 5, [8, 9], False), (20, 2, [], False)],
)
def test_offset_page_walks_a_cursor_list(offset, limit, expected, more):
    items = list(range(10))
    calls = []

    def fetch(size, cursor):
        start = int(cursor or 0)
        calls.append(size)
        end = min(start + size, len(items))
        return _Page(items[start:end], str(end) if end < len(items) else None)

    assert offset_page(fetch, offset, limit) == (expected, more)
    assert all(1 <= size <= 100 for size in calls)
