"""The user CLI through its entry point (`engram`, as installed), against the local stack:
reading `.engram/dev.env` from the working directory, tables by default, JSON on --json."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from engram_sdk import Engram

pytestmark = pytest.mark.e2e

ENGRAM = str(Path(sys.executable).parent / "engram")


def run(stack_env, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`engram ARGS` in the stack's directory: settings come from its .engram/dev.env."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ENGRAM_")}
    return subprocess.run(
        [ENGRAM, *args],
        check=False,
        cwd=stack_env["ENGRAM_STACK_DIR"],
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


def ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_one_help_page_shows_admin_and_user_commands(stack_env):
    page = ok(run(stack_env, "--help"))
    for command in ("admin", "remember", "search", "sessions", "context", "export", "keys"):
        assert command in page


def test_remember_search_sessions_context_export_and_keys(stack_env, tmp_path):
    stored = json.loads(
        ok(run(stack_env, "remember", "Ada likes tea.", "--type", "preference", "--json"))
    )
    assert stored["memory_type"] == "preference"
    table = ok(run(stack_env, "search", "what does Ada like to drink?", "--limit", "3"))
    assert table.splitlines()[0].split() == ["SCORE", "MEMORY_ID", "MEMORY_TYPE", "CONTENT"]
    assert stored["memory_id"] in table

    with Engram(stack_env["ENGRAM_URL"], stack_env["ENGRAM_API_KEY"]) as sdk:
        session = sdk.sessions.create(agent_id="cli-bot", prompt="Tea or coffee?")
    sid = session.session_id
    listing = ok(run(stack_env, "sessions", "list", "--agent", "cli-bot"))
    assert sid in listing and "SESSION_ID" in listing
    assert json.loads(ok(run(stack_env, "sessions", "show", sid, "--json")))["session_id"] == sid
    markdown = ok(run(stack_env, "context", sid))
    assert markdown.startswith(f"## Session Context ({sid})")
    ended = json.loads(ok(run(stack_env, "sessions", "end", sid, "--summary", "Tea.", "--json")))
    assert ended["status"] == "completed"

    out = tmp_path / "export.csv"
    ok(run(stack_env, "export", "--format", "csv", "--output", str(out)))
    assert stored["memory_id"] in out.read_text()
    exported = json.loads(ok(run(stack_env, "export")))
    assert stored["memory_id"] in {m["memory_id"] for m in exported}

    key = json.loads(ok(run(stack_env, "keys", "create", "cli-key", "--scope", "read", "--json")))
    assert key["api_key"].startswith("ek_")
    assert key["id"] in ok(run(stack_env, "keys", "list"))
    assert "revoked" in ok(run(stack_env, "keys", "revoke", key["id"]))


def test_errors_are_one_sentence_and_a_nonzero_exit(stack_env):
    missing = run(stack_env, "sessions", "show", "sess_missing")
    assert missing.returncode == 1
    assert missing.stderr.startswith("error: ") and "HTTP 404" in missing.stderr
    bad_key = run(stack_env, "search", "x", env={"ENGRAM_API_KEY": "ek_wrong"})
    assert bad_key.returncode == 1 and "HTTP 401" in bad_key.stderr
