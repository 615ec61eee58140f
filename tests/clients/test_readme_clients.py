"""The README's client sections stay true: the quick start's Python runs against the stack
and recalls what it stored, the MCP snippet names the installed server, and every CLI line
parses with the real `engram` parser."""

from __future__ import annotations

import contextlib
import io
import json
import shlex
import sys
import time
from pathlib import Path

import pytest

from engram.cli import build_parser

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()
CLIENTS = README.split("## Clients: Python SDK, MCP server, CLI", 1)[1].split("\n## ", 1)[0]


def block(after: str, language: str) -> str:
    return CLIENTS.split(after, 1)[1].split(f"```{language}\n", 1)[1].split("```", 1)[0]


@pytest.mark.e2e
def test_the_quick_start_stores_and_recalls_a_memory(stack_env, monkeypatch):
    monkeypatch.setenv("ENGRAM_URL", stack_env["ENGRAM_URL"])
    monkeypatch.setenv("ENGRAM_API_KEY", stack_env["ENGRAM_API_KEY"])
    code = block("### Quick start", "python")
    assert len(code.strip().splitlines()) <= 6
    namespace: dict = {}
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, "README quick start", "exec"), namespace)
    # search catches up with a write in the background: the recall is re-run until it does
    search = code.split("for hit", 1)[1]
    deadline = time.monotonic() + 60
    while "Ada prefers email" not in printed.getvalue():
        assert time.monotonic() < deadline, printed.getvalue()
        time.sleep(0.25)
        with contextlib.redirect_stdout(printed):
            exec(compile("for hit" + search, "README recall", "exec"), namespace)


def test_the_mcp_snippet_runs_the_installed_server():
    config = json.loads(block("### MCP server", "json"))
    server = config["mcpServers"]["engram"]
    assert Path(server["command"]).name == "engram-mcp"
    assert (Path(sys.executable).parent / "engram-mcp").exists()
    assert set(server["env"]) == {"ENGRAM_URL", "ENGRAM_API_KEY"}


def test_every_cli_line_parses():
    lines = [line for line in block("### CLI", "sh").splitlines() if line.strip()]
    parser = build_parser()
    for line in lines:
        words = shlex.split(line, comments=True)
        assert words[0] == ".venv/bin/engram", line
        parser.parse_args(words[1:])
