"""`engram-mcp`: Engram as tools for MCP hosts (Claude Code, Claude Desktop, Cursor...).

Configured by `ENGRAM_URL` and `ENGRAM_API_KEY` (or `--env-file .engram/dev.env`); speaks
stdio (the default) or streamable HTTP (`--transport streamable-http`). An API error comes
back as a tool error carrying the API's sentence; the server keeps running. Needs the
`mcp` extra: `pip install 'engram-sdk[mcp]'`."""

from __future__ import annotations

import argparse
import functools
import logging
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, Literal, ParamSpec, TypeVar

from pydantic import Field

from engram_sdk import AsyncEngram
from engram_sdk.cli import load_env_file
from engram_sdk.errors import APIStatusError, EngramError

try:
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ToolError
except ImportError as exc:  # pragma: no cover - the message is the point
    raise SystemExit("engram-mcp needs the mcp extra: pip install 'engram-sdk[mcp]'") from exc

P = ParamSpec("P")
R = TypeVar("R")
MemoryType = Literal["episodic", "fact", "preference", "decision", "pattern", "entity", "summary"]
INSTRUCTIONS = """Engram is your long-term memory. At the start of a task call start_session
(it returns what you already know); store durable facts, decisions and preferences with
remember; look things up with recall; send the conversation with add_messages; call
end_session when done so it is distilled into memories for next time."""


def sentence(exc: EngramError) -> str:
    """The API's own sentence, with what a user needs to report it."""
    if isinstance(exc, APIStatusError):
        request = f", request {exc.request_id}" if exc.request_id else ""
        return f"{exc.detail} (HTTP {exc.status} {exc.code}{request})"
    return str(exc)


def api_errors(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Turns client errors into tool errors (is_error results), never a crash."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await fn(*args, **kwargs)
        except EngramError as exc:
            raise ToolError(sentence(exc)) from exc

    return wrapper


def _memory(memory: Any) -> dict[str, Any]:
    keep = ("memory_id", "memory_type", "title", "content", "tags", "importance_score")
    return {key: getattr(memory, key) for key in keep} | {"created_at": memory.created_at}


def build_server(client: AsyncEngram | None = None) -> MCPServer:
    engram = client or AsyncEngram()
    state: dict[str, str | None] = {"session_id": None}  # the session this server started
    server = MCPServer("engram", instructions=INSTRUCTIONS, version="0.1.0", log_level="WARNING")

    def session_or_current(session_id: str | None) -> str:
        chosen = session_id or state["session_id"]
        if not chosen:
            raise ToolError("No session: call start_session first, or pass session_id.")
        return chosen

    @server.tool()
    @api_errors
    async def remember(
        content: Annotated[str, Field(description="What to remember, as a full sentence.")],
        memory_type: Annotated[
            MemoryType, Field(description="fact, preference, decision, pattern, entity...")
        ] = "fact",
        tags: Annotated[
            list[str] | None, Field(description="Labels; `key:value` tags are filterable.")
        ] = None,
        importance: Annotated[
            float | None, Field(ge=0, le=1, description="0 to 1; default 0.5.")
        ] = None,
        title: Annotated[str | None, Field(description="A short title.")] = None,
        session_id: Annotated[
            str | None, Field(description="Attach it to this session (default: none).")
        ] = None,
    ) -> dict[str, Any]:
        """Store a durable memory (a fact, decision, preference...) for later recall."""
        memory = await engram.memories.create(
            content,
            memory_type=memory_type,
            tags=tags,
            importance_score=importance,
            title=title,
            session_id=session_id,
            sync_embedding=True,  # so the agent's next recall finds it
        )
        return _memory(memory)

    @server.tool()
    @api_errors
    async def recall(
        query: Annotated[str, Field(description="What to look for, in natural language.")],
        limit: Annotated[int, Field(ge=1, le=50, description="How many results.")] = 5,
        memory_types: Annotated[
            list[MemoryType] | None, Field(description="Only these types.")
        ] = None,
        tags: Annotated[list[str] | None, Field(description="Every tag must be present.")] = None,
        search_mode: Annotated[
            Literal["hybrid", "semantic", "keyword"], Field(description="Default hybrid.")
        ] = "hybrid",
        session_id: Annotated[str | None, Field(description="Only this session's.")] = None,
        from_time: Annotated[str | None, Field(description="ISO 8601, inclusive.")] = None,
        to_time: Annotated[str | None, Field(description="ISO 8601, inclusive.")] = None,
    ) -> dict[str, Any]:
        """Search memories (hybrid semantic + keyword by default), best match first."""
        found = await engram.memories.search(
            query,
            limit=limit,
            memory_types=memory_types,
            tags=tags,
            search_mode=search_mode,
            session_id=session_id,
            from_time=from_time,
            to_time=to_time,
        )
        results = [
            {
                "memory_id": hit.memory_id,
                "memory_type": hit.memory_type,
                "content": hit.content,
                "score": round(hit.score, 4),
                "tags": hit.tags,
                "created_at": hit.created_at,
            }
            for hit in found.results
        ]
        return {"results": results, "total": found.total}

    @server.tool()
    @api_errors
    async def get_context(
        session_id: Annotated[
            str | None, Field(description="Default: the session start_session opened.")
        ] = None,
        query: Annotated[
            str | None, Field(description="Also include memories relevant to this.")
        ] = None,
        max_memories: Annotated[int, Field(ge=1, le=100)] = 15,
        max_tokens: Annotated[int | None, Field(ge=50, le=200_000)] = None,
    ) -> str:
        """The session's context block (markdown): decisions, preferences, facts, recent
        sessions' summaries. Read it before starting work."""
        context = await engram.sessions.context(
            session_or_current(session_id),
            query=query,
            max_memories=max_memories,
            max_tokens=max_tokens,
        )
        return context.markdown

    @server.tool()
    @api_errors
    async def start_session(
        project_name: Annotated[str | None, Field(description="The project worked on.")] = None,
        branch_name: Annotated[str | None, Field(description="The git branch, if any.")] = None,
        agent_id: Annotated[str | None, Field(description="Which agent this is.")] = None,
        task_id: Annotated[str | None, Field(description="The task's id, if any.")] = None,
        prompt: Annotated[
            str | None, Field(description="The user's request (stored as the first message).")
        ] = None,
    ) -> dict[str, Any]:
        """Open a session; answers its id and the context (markdown) to start from."""
        session = await engram.sessions.create(
            project_name=project_name,
            branch_name=branch_name,
            agent_id=agent_id,
            task_id=task_id,
            prompt=prompt,
        )
        state["session_id"] = session.session_id
        context = await engram.sessions.context(session.session_id, query=prompt)
        return {"session_id": session.session_id, "context": context.markdown}

    @server.tool()
    @api_errors
    async def add_messages(
        messages: Annotated[
            list[dict[str, str]],
            Field(
                description='Messages in order, each {"role": "user"|"assistant"|"system"|'
                '"tool", "content": "..."}.',
                min_length=1,
            ),
        ],
        session_id: Annotated[
            str | None, Field(description="Default: the session start_session opened.")
        ] = None,
    ) -> dict[str, Any]:
        """Record conversation messages in the session (searchable at once)."""
        stored = await engram.sessions.add_messages(session_or_current(session_id), messages)
        return {"stored": len(stored), "memory_ids": [m.memory_id for m in stored]}

    @server.tool()
    @api_errors
    async def end_session(
        session_id: Annotated[
            str | None, Field(description="Default: the session start_session opened.")
        ] = None,
        summary: Annotated[str | None, Field(description="What was done, briefly.")] = None,
        status: Literal["completed", "failed"] = "completed",
    ) -> dict[str, Any]:
        """End the session; it is distilled into memories in the background."""
        chosen = session_or_current(session_id)
        session = await engram.sessions.end(chosen, summary=summary, status=status)
        if state["session_id"] == chosen:
            state["session_id"] = None
        return {"session_id": session.session_id, "status": session.status}

    @server.tool()
    @api_errors
    async def forget(
        memory_id: Annotated[str, Field(description="The memory to forget.")],
        hard: Annotated[
            bool, Field(description="Erase at once for good (default: restorable 30 days).")
        ] = False,
    ) -> dict[str, Any]:
        """Forget a memory: soft-deleted (restorable) unless hard."""
        if hard:
            await engram.memories.hard_delete(memory_id)
            return {"memory_id": memory_id, "deleted": True, "soft": False}
        deleted = await engram.memories.delete(memory_id)
        return deleted.model_dump()

    @server.tool()
    @api_errors
    async def list_memories(
        memory_type: Annotated[MemoryType | None, Field(description="Only this type.")] = None,
        tag: Annotated[str | None, Field(description="Only memories with this tag.")] = None,
        session_id: Annotated[str | None, Field(description="Only this session's.")] = None,
        limit: Annotated[int, Field(ge=1, le=100)] = 20,
        cursor: Annotated[
            str | None, Field(description="next_cursor of the previous answer.")
        ] = None,
    ) -> dict[str, Any]:
        """List memories, newest first, one page at a time."""
        page = await engram.memories.list(
            memory_type=memory_type, tag=tag, session_id=session_id, limit=limit, cursor=cursor
        ).page()
        return {
            "memories": [_memory(memory) for memory in page.data],
            "next_cursor": page.next_cursor,
        }

    @server.resource(
        "engram://session/current/context",
        name="current-session-context",
        description="The context block (markdown) of the session start_session opened.",
        mime_type="text/markdown",
    )
    async def current_context() -> str:
        if not state["session_id"]:
            return "No session yet: call the start_session tool."
        return await _context_markdown(state["session_id"])

    @server.resource(
        "engram://sessions/{session_id}/context",
        name="session-context",
        description="A session's context block (markdown).",
        mime_type="text/markdown",
    )
    async def session_context(session_id: str) -> str:
        return await _context_markdown(session_id)

    async def _context_markdown(session_id: str) -> str:
        try:
            return (await engram.sessions.context(session_id)).markdown
        except EngramError as exc:
            return f"Error: {sentence(exc)}"

    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="engram-mcp", description=__doc__.split("\n\n")[0])
    parser.add_argument("--transport", choices=("stdio", "streamable-http"), default="stdio")
    parser.add_argument("--host", default="127.0.0.1", help="streamable-http: bind address")
    parser.add_argument("--port", type=int, default=8765, help="streamable-http: port")
    parser.add_argument("--env-file", type=Path, help="read ENGRAM_URL/ENGRAM_API_KEY from it")
    args = parser.parse_args(argv)
    if args.env_file:
        load_env_file(args.env_file, override=False)
    if not os.environ.get("ENGRAM_API_KEY"):
        print("engram-mcp: set ENGRAM_API_KEY (and ENGRAM_URL)", file=sys.stderr)
        return 2
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per API call
    server = build_server()
    if args.transport == "stdio":
        server.run("stdio")
    else:
        server.run("streamable-http", host=args.host, port=args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
