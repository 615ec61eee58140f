"""`engram-mcp` over stdio, driven by the official `mcp` client library against the local
stack: it lists its tools with schemas, and every tool works; an API error is a tool error
carrying the API's sentence, and the server keeps answering."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from tests.stack import free_port

pytestmark = pytest.mark.e2e

TOOLS = {
    "remember",
    "recall",
    "get_context",
    "start_session",
    "add_messages",
    "end_session",
    "forget",
    "list_memories",
}


def server_command() -> str:
    script = Path(sys.executable).parent / "engram-mcp"
    return str(script) if script.exists() else shutil.which("engram-mcp")


def params(env: dict[str, str]) -> StdioServerParameters:
    return StdioServerParameters(
        command=server_command(),
        env={
            "ENGRAM_URL": env["ENGRAM_URL"],
            "ENGRAM_API_KEY": env["ENGRAM_API_KEY"],
            "PATH": os.environ["PATH"],
        },
    )


def data(result) -> dict:
    assert not result.is_error, result.content
    if result.structured_content is not None:
        return result.structured_content.get("result", result.structured_content)
    return json.loads(result.content[0].text)


async def recall_until_found(mcp, arguments: dict, memory_id: str) -> dict:
    """Recall until the memory is among the hits: search catches up with a write in the
    background (bounded in tries and time)."""
    deadline = time.monotonic() + 60
    while True:
        found = data(await mcp.call_tool("recall", arguments))
        if memory_id in [hit["memory_id"] for hit in found["results"]]:
            return found
        assert time.monotonic() < deadline, f"{memory_id} never recalled: {found}"
        await asyncio.sleep(0.25)


def text(result) -> str:
    assert not result.is_error, result.content
    return result.content[0].text


async def conversation(env: dict[str, str]) -> dict:
    out: dict = {}
    async with Client(params(env), read_timeout_seconds=60) as mcp:
        tools = {tool.name: tool for tool in (await mcp.list_tools()).tools}
        out["tools"] = tools
        out["no_session"] = await mcp.call_tool("get_context", {})

        started = data(
            await mcp.call_tool("start_session", {"project_name": "mcp", "agent_id": "claude"})
        )
        out["started"] = started
        out["remembered"] = data(
            await mcp.call_tool(
                "remember",
                {
                    "content": "The team deploys with `make release` on Fridays.",
                    "memory_type": "decision",
                    "tags": ["mcp-test"],
                    "importance": 0.9,
                },
            )
        )
        out["added"] = data(
            await mcp.call_tool(
                "add_messages",
                {"messages": [{"role": "user", "content": "How do we deploy?"}]},
            )
        )
        out["recalled"] = await recall_until_found(
            mcp,
            {"query": "how do we deploy", "tags": ["mcp-test"]},
            out["remembered"]["memory_id"],
        )
        out["context"] = text(await mcp.call_tool("get_context", {}))
        out["resource"] = await mcp.read_resource("engram://session/current/context")
        out["listed"] = data(await mcp.call_tool("list_memories", {"tag": "mcp-test"}))
        out["bad"] = await mcp.call_tool("forget", {"memory_id": "mem_does_not_exist"})
        out["invalid"] = await mcp.call_tool("remember", {"content": "   "})
        out["forgot"] = data(
            await mcp.call_tool("forget", {"memory_id": out["remembered"]["memory_id"]})
        )
        out["ended"] = data(await mcp.call_tool("end_session", {"summary": "Deploys covered."}))
        out["resources"] = await mcp.list_resources()
    return out


def test_every_tool_over_stdio(stack_env):
    out = asyncio.run(conversation(stack_env))
    tools = out["tools"]
    assert set(tools) >= TOOLS
    for tool in tools.values():
        assert tool.description and tool.input_schema["type"] == "object", tool.name
    assert tools["remember"].input_schema["required"] == ["content"]
    assert "memory_types" in tools["recall"].input_schema["properties"]

    assert out["no_session"].is_error
    assert "start_session" in out["no_session"].content[0].text
    assert out["started"]["session_id"].startswith("sess_")
    assert out["started"]["context"].startswith("## ")
    assert out["remembered"]["memory_type"] == "decision"
    assert out["added"]["stored"] == 1
    hits = out["recalled"]["results"]
    assert hits and hits[0]["memory_id"] == out["remembered"]["memory_id"]
    assert out["started"]["session_id"] in out["context"]
    assert out["resource"].contents[0].text.startswith("## ")
    assert [m["memory_id"] for m in out["listed"]["memories"]] == [out["remembered"]["memory_id"]]
    assert out["bad"].is_error and "HTTP 404" in out["bad"].content[0].text
    assert out["invalid"].is_error and "content" in out["invalid"].content[0].text
    assert out["forgot"]["soft"] is True
    assert out["ended"]["status"] == "completed"
    assert "engram://session/current/context" in {str(r.uri) for r in out["resources"].resources}


def test_a_second_session_recalls_what_the_first_remembered(stack_env):
    async def run() -> tuple[dict, dict]:
        async with Client(params(stack_env), read_timeout_seconds=60) as first:
            await first.call_tool("start_session", {"project_name": "two-sessions"})
            stored = data(
                await first.call_tool(
                    "remember",
                    {"content": "Ada's favourite editor is Helix.", "memory_type": "preference"},
                )
            )
            await first.call_tool("end_session", {})
        async with Client(params(stack_env), read_timeout_seconds=60) as second:
            await second.call_tool("start_session", {"project_name": "two-sessions"})
            found = await recall_until_found(
                second, {"query": "which editor does Ada use?"}, stored["memory_id"]
            )
        return stored, found

    stored, found = asyncio.run(run())
    assert found["results"][0]["memory_id"] == stored["memory_id"]


def test_streamable_http_transport(stack_env, tmp_path):
    port = free_port()
    log = (tmp_path / "mcp.log").open("wb")
    process = subprocess.Popen(
        [server_command(), "--transport", "streamable-http", "--port", str(port)],
        env={**os.environ, **params(stack_env).env},
        stdout=log,
        stderr=subprocess.STDOUT,
    )

    async def run() -> tuple[set[str], dict]:
        deadline = time.monotonic() + 30
        while not port_in_use(port):
            assert process.poll() is None, (tmp_path / "mcp.log").read_text()
            assert time.monotonic() < deadline, "engram-mcp did not listen within 30 s"
            await asyncio.sleep(0.1)
        async with Client(f"http://127.0.0.1:{port}/mcp", read_timeout_seconds=60) as mcp:
            names = {tool.name for tool in (await mcp.list_tools()).tools}
            listed = data(await mcp.call_tool("list_memories", {"limit": 1}))
        return names, listed

    try:
        names, listed = asyncio.run(run())
    finally:
        process.terminate()
        process.wait(10)
        log.close()
    assert names >= TOOLS and "memories" in listed


def port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0
