"""Neuroloom's own MCP server (`neuroloom-mcp` 0.1.0 from PyPI), unmodified, in its own
Python 3.12 interpreter, driven over stdio through the `mcp` client library against the
local stack with one changed setting: `MEMORIES_API_URL=<engram>/neuroloom` (it appends
`/api/v1` and sends `Authorization: Token`). At start it checks `GET /workspaces/` and
`/workspaces/{id}/` and exits on any error, so the module's first call also proves those.
Every tool a seed covers, one test each, asserting on what the tool returns; tools no seed
describes come back as the 501 sentence."""

from __future__ import annotations

import json
from typing import Any

import anyio
import pytest

from tests.e2e.seed_clients.helpers import unique
from tests.stack import WAIT

# The first test may build the server's venv (once per machine) and start the stack.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def workspace_id(engram) -> str:
    return engram.workspace_id()


@pytest.fixture(scope="module")
def call(engram, workspace_id, neuroloom_server, tmp_path_factory):
    """call(tool, **arguments) -> the tool's JSON result, through one server process for the
    module (its start-up checks run once), in an empty directory so no stray .env is read.
    The client's event loop runs in a thread of its own (anyio's blocking portal)."""
    from anyio.from_thread import start_blocking_portal
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    params = StdioServerParameters(
        command=str(neuroloom_server),
        args=[],
        env={
            "MEMORIES_API_URL": f"{engram.url}/neuroloom",
            "MEMORIES_API_TOKEN": engram.key,
            "MEMORIES_WORKSPACE_ID": workspace_id,
            "LOG_LEVEL": "WARNING",
            "PATH": "/usr/bin:/bin",
        },
        cwd=str(tmp_path_factory.mktemp("neuroloom-cwd")),
    )
    with (
        start_blocking_portal() as portal,
        portal.wrap_async_context_manager(stdio_client(params)) as (read, write),
        portal.wrap_async_context_manager(ClientSession(read, write)) as session,
    ):
        portal.call(_initialize, session)

        def run(tool: str, **arguments: Any) -> dict[str, Any]:
            result = portal.call(session.call_tool, tool, arguments, WAIT)
            return json.loads(result.content[0].text)

        yield run


async def _initialize(session: Any) -> None:
    with anyio.fail_after(WAIT):  # the server's start-up checks included
        await session.initialize()


def _store(call, **fields) -> dict[str, Any]:
    body = {
        "title": "Prefer async SQLAlchemy for all DB calls",
        "memory_type": "pattern",
        "content": "All database operations must use async/await.",
        "sync_embedding": True,
        **fields,
    }
    stored = call("memory_store", **body)
    assert "error" not in stored, stored
    return stored


def test_memory_store(call, workspace_id):
    stored = _store(
        call,
        concepts=["sqlalchemy", "async"],
        tags=["lang:python"],
        files=["app/db.py"],
        importance=0.9,
        confidence=0.6,
    )
    assert stored["memory_id"].startswith("mem_") and stored["workspace_id"] == workspace_id
    assert stored["title"] == "Prefer async SQLAlchemy for all DB calls"
    assert stored["narrative"] == "All database operations must use async/await."
    assert (stored["importance_score"], stored["confidence_score"]) == (0.9, 0.6)
    assert stored["concepts"] == ["sqlalchemy", "async"]
    assert stored["source_files"] == ["app/db.py"] and stored["tags"] == ["lang:python"]
    assert stored["embedding_status"] == "ready"  # sync_embedding: embedded before the answer


def test_memory_search(call):
    word = unique("pgvectorcosine")
    stored = _store(call, content=f"Hybrid scoring uses {word} similarity.", tags=["feat:search"])
    found = call("memory_search", query=word, min_score=0.0)
    assert found["count"] >= 1 and found["query"] == word
    first = found["results"][0]
    assert first["memory_id"] == stored["memory_id"] and first["title"] == stored["title"]
    assert first["memory_type"] == "pattern" and first["tags"] == ["feat:search"]
    assert word in first["snippet"] and 0 < first["score"] <= 1


def test_memory_search_with_a_tag_prefix(call):
    word = unique("prefixword")
    stored = _store(call, content=f"{word} one", tags=["lang:python"])
    other = _store(call, content=f"{word} two", tags=["lang:go"])
    found = call("memory_search", query=word, tag_prefixes=["lang:py"], min_score=0.0)
    # semantic neighbours from other tests may follow; each has a `lang:py...` tag
    assert found["results"][0]["memory_id"] == stored["memory_id"]
    assert other["memory_id"] not in [r["memory_id"] for r in found["results"]]
    assert all(any(t.startswith("lang:py") for t in r["tags"]) for r in found["results"])


def test_memory_get_detail(call):
    stored = _store(call)
    detail = call("memory_get_detail", memory_id=stored["memory_id"], include_related=False)
    assert detail["memory_id"] == stored["memory_id"]
    assert detail["narrative"] == stored["narrative"] and detail["concepts"] == stored["concepts"]


def test_memory_search_with_min_importance(call):
    word = unique("importantword")
    kept = _store(call, content=f"{word} matters", importance=0.9, confidence=0.9)
    weak = _store(call, content=f"{word} barely", importance=0.2, confidence=0.9)
    found = call("memory_search", query=word, min_importance=0.8, min_score=0.0)
    ids = [r["memory_id"] for r in found["results"]]  # other tests' neighbours may follow
    assert ids[0] == kept["memory_id"] and weak["memory_id"] not in ids


def test_memory_get_related(call):
    word = unique("relatedconcept")
    # Contents of their own: the module's other memories share _store's default content,
    # and an identical neighbour outranks a shared concept.
    first = _store(call, content=f"Retry budgets for {word} calls.", concepts=[word])
    second = _store(call, content="Another memory on the same idea.", concepts=[word])
    related = call("memory_get_related", memory_id=first["memory_id"], limit=5)
    assert related["memory_id"] == first["memory_id"] and related["count"] >= 1
    by_id = {r["memory_id"]: r for r in related["related"]}
    assert "shared_concepts" in by_id[second["memory_id"]]["reasons"]
    detail = call("memory_get_detail", memory_id=first["memory_id"])
    assert second["memory_id"] in [m["memory_id"] for m in detail["related_memories"]]


def test_memory_get_detail_of_an_unknown_memory_is_the_404(call):
    detail = call("memory_get_detail", memory_id="mem_nope", include_related=False)
    assert detail["status_code"] == 404 and "mem_nope was not found" in detail["error"]


def test_memory_get_index(call):
    stored = _store(call, title=unique("Index title "))
    index = call("memory_get_index", limit=50)
    entry = next(m for m in index["memories"] if m["memory_id"] == stored["memory_id"])
    assert entry == {
        "memory_id": stored["memory_id"],
        "title": stored["title"],
        "memory_type": "pattern",
        "importance_score": 0.7,
        "created_at": stored["created_at"],
    }


def test_memory_get_timeline(call, workspace_id):
    stored = _store(call)
    timeline = call("memory_get_timeline", days=1, limit=30)
    assert timeline["workspace_id"] == workspace_id and timeline["days"] == 1
    assert stored["memory_id"] in [m["memory_id"] for m in timeline["memories"]]


def test_session_start(call, workspace_id, tmp_path):
    started = call("session_start", project_path=str(tmp_path))
    session = started["session"]
    assert started["message"] == f"Session started: {session['session_id']}"
    assert session["workspace_id"] == workspace_id and session["is_active"] is True
    assert session["project_name"] == tmp_path.name
    assert session["metadata_json"] == {"project_path": str(tmp_path)}
    assert started["context"]["session"]["session_id"] == session["session_id"]


def test_session_end(call):
    sid = call("session_start")["session"]["session_id"]
    ended = call("session_end", session_id=sid, summary="Implemented the graph API.")
    session = ended["session"]
    assert ended["message"] == f"Session ended: {sid}"
    assert session["is_active"] is False and session["ended_at"]
    assert session["summary"] == "Implemented the graph API."


def test_session_get_context(call):
    _store(call, title=unique("Context pattern "), importance=0.95)
    sid = call("session_start")["session"]["session_id"]
    context = call("session_get_context", session_id=sid, max_memories=5)
    assert context["session"]["session_id"] == sid
    recent = context["context"]["recent_memories"]
    assert 1 <= len(recent) <= 5 and {"memory_id", "title", "narrative"} <= set(recent[0])
    assert "recent_sessions" in context["context"] and "workspace_summary" in context["context"]


DOC = {"title": "t", "content": "c", "source_type": "clipboard"}
SDLC = {"title": "t", "content": "c", "tags": ["x"], "knowledge_id": "k"}
# Every tool whose area no seed describes, with what its 501 names. Three never reach the
# API from a stdio server: the two upload-URL tools (HTTP transport only) and code_sync
# (it parses the files first, with an optional parser the package does not install).
NOT_OFFERED = [
    ("memory_explore", {"query": "auth"}, "graph exploration"),
    ("document_ingest", DOC, "document ingestion"),
    ("document_ingest_batch", {"documents": [DOC]}, "document ingestion"),
    ("document_ingest_file", {"path": "{dir}/doc.md"}, "document ingestion"),
    ("document_ingest_files_batch", {"documents": [{"path": "{dir}/doc.md"}]}, "document"),
    ("document_ingest_batch_from_file", {"path": "{dir}/docs.json"}, "document ingestion"),
    ("sdlc_get_version", {}, "SDLC knowledge seeding"),
    ("sdlc_seed", {"entries": [SDLC], "version": "1.0.0"}, "SDLC knowledge seeding"),
    ("sdlc_seed_from_file", {"path": "{dir}/sdlc.json"}, "SDLC knowledge seeding"),
    ("code_search", {"q": "parse"}, "code graph"),
    ("code_navigate", {"symbol_id": "sym_1"}, "code graph"),
    ("code_callers", {"symbol_id": "sym_1"}, "code graph"),
    ("code_callees", {"symbol_id": "sym_1"}, "code graph"),
    ("code_context", {"symbol_name": "parse"}, "code graph"),
]


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> str:
    """The local files the file-reading tools send."""
    root = tmp_path_factory.mktemp("neuroloom-files")
    (root / "doc.md").write_text("# Auth design\nTokens rotate daily.\n")
    (root / "docs.json").write_text(json.dumps([DOC]))
    (root / "sdlc.json").write_text(json.dumps({"entries": [SDLC], "version": "1.0.0"}))
    return str(root)


@pytest.mark.parametrize(("tool", "arguments", "what"), NOT_OFFERED)
def test_a_tool_no_seed_describes_is_the_501_sentence(call, files, tool, arguments, what):
    filled = json.loads(json.dumps(arguments).replace("{dir}", files))
    result = call(tool, **filled)
    assert result["status_code"] == 501, result
    assert f"Engram does not offer Neuroloom's {what}" in result["error"]


def test_memory_by_file_is_the_501_sentence(call):
    result = call("memory_by_file", file_path="app/db.py")
    assert result["status_code"] == 501
    assert "search by source file" in result["error"]


def test_memory_rate_is_the_501_sentence(call):
    stored = _store(call)
    result = call("memory_rate", memory_id=stored["memory_id"], useful=True)
    assert result["memory_id"] == stored["memory_id"]
    assert "usefulness feedback (memory_rate)" in result["error"] and "501" in result["error"]
