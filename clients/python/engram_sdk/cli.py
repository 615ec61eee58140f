"""The user CLI on the SDK: `remember`, `search`, `sessions list|show|end`, `context`,
`export`, `keys create|list|revoke`. The server's `engram` command shows these beside its
admin commands (through the `engram.cli` entry point); `engram-client` runs them alone.
Settings: ENGRAM_URL and ENGRAM_API_KEY from the environment, else `.engram/dev.env`."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from engram_sdk._sync import Engram
from engram_sdk.errors import APIStatusError, EngramError

DEV_ENV = Path(".engram") / "dev.env"
WIDTH = 60  # a table cell's most characters


def load_env_file(path: Path, *, override: bool = True) -> None:
    """`NAME=value` lines into the environment (the format `make dev` writes)."""
    for line in path.read_text().splitlines():
        name, sep, value = line.strip().partition("=")
        if sep and name and not name.startswith("#") and (override or name not in os.environ):
            os.environ[name] = value


def client() -> Engram:
    if DEV_ENV.is_file():  # the environment wins over the file
        load_env_file(DEV_ENV, override=False)
    if not os.environ.get("ENGRAM_API_KEY"):
        raise EngramError("no API key: set ENGRAM_API_KEY or run `make dev` here")
    return Engram()


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def _cell(value: Any) -> str:
    text = ", ".join(map(str, value)) if isinstance(value, list) else str(value or "")
    text = " ".join(text.split())
    return text if len(text) <= WIDTH else text[: WIDTH - 1] + "…"


def table(rows: Iterable[BaseModel | dict[str, Any]], columns: Sequence[str]) -> str:
    """A plain aligned table of the given columns."""
    cells = [[_cell(_plain(row).get(c)) for c in columns] for row in rows]
    if not cells:
        return "(none)"
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = [[c.upper() for c in columns], *cells]
    return "\n".join(
        "  ".join(v.ljust(w) for v, w in zip(line, widths, strict=False)).rstrip() for line in lines
    )


def show(args: argparse.Namespace, value: Any, columns: Sequence[str] | None = None) -> None:
    if args.json:
        print(json.dumps(_plain(value), indent=2))
    elif columns is not None:
        print(table(value if isinstance(value, list) else [value], columns))
    else:
        for key, item in _plain(value).items():
            print(f"{key:<18} {_cell(item)}")


# commands: each takes the parsed arguments and an Engram client, and prints


def remember(args: argparse.Namespace, engram: Engram) -> None:
    memory = engram.memories.create(
        args.content,
        memory_type=args.type,
        tags=args.tag or None,
        importance_score=args.importance,
        title=args.title,
        session_id=args.session,
        sync_embedding=True,  # a search typed next finds it
    )
    show(args, memory, ["memory_id", "memory_type", "tags", "content"])


def search(args: argparse.Namespace, engram: Engram) -> None:
    found = engram.memories.search(
        args.query,
        limit=args.limit,
        memory_types=args.type or None,
        tags=args.tag or None,
        search_mode=args.mode,
        session_id=args.session,
    )
    if args.json:
        show(args, found)
    else:
        print(table(found.results, ["score", "memory_id", "memory_type", "content"]))


def sessions_list(args: argparse.Namespace, engram: Engram) -> None:
    paginator = engram.sessions.list(
        agent_id=args.agent, active=True if args.active else None, limit=min(args.limit, 100)
    )
    rows = [s for _, s in zip(range(args.limit), paginator, strict=False)]
    columns = ["session_id", "status", "agent_id", "project_name", "message_count", "started_at"]
    show(args, rows, columns)


def sessions_show(args: argparse.Namespace, engram: Engram) -> None:
    show(args, engram.sessions.get(args.session_id))


def sessions_end(args: argparse.Namespace, engram: Engram) -> None:
    status = "failed" if args.failed else "completed"
    show(args, engram.sessions.end(args.session_id, summary=args.summary, status=status))


def context(args: argparse.Namespace, engram: Engram) -> None:
    block = engram.sessions.context(
        args.session_id,
        query=args.query,
        max_memories=args.max_memories,
        max_tokens=args.max_tokens,
    )
    if args.json:
        show(args, block)
    else:
        print(block.markdown)


def export(args: argparse.Namespace, engram: Engram) -> None:
    chunks = engram.export.stream(
        format=args.format, session_id=args.session, include_deleted=args.include_deleted or None
    )
    if args.output:
        with args.output.open("wb") as out:
            size = sum(out.write(chunk) for chunk in chunks)
        print(f"wrote {size} bytes to {args.output}", file=sys.stderr)
    else:
        for chunk in chunks:
            sys.stdout.buffer.write(chunk)
        sys.stdout.flush()


def keys_create(args: argparse.Namespace, engram: Engram) -> None:
    key = engram.api_keys.create(args.name, scopes=args.scope or None, agent_id=args.agent)
    show(args, key)
    if not args.json:
        print("The key is shown once; store it now.", file=sys.stderr)


def keys_list(args: argparse.Namespace, engram: Engram) -> None:
    keys = list(engram.api_keys.list())
    show(args, keys, ["id", "name", "prefix", "scopes", "agent_id", "created_at", "revoked_at"])


def keys_revoke(args: argparse.Namespace, engram: Engram) -> None:
    engram.api_keys.revoke(args.key_id)
    if args.json:
        print(json.dumps({"id": args.key_id, "revoked": True}))
    else:
        print(f"revoked {args.key_id}")


def _runner(command: Callable[[argparse.Namespace, Engram], None]):
    def run(args: argparse.Namespace) -> int:
        try:
            with client() as engram:
                command(args, engram)
        except APIStatusError as exc:
            request = f", request {exc.request_id}" if exc.request_id else ""
            print(f"error: {exc.detail} (HTTP {exc.status}{request})", file=sys.stderr)
            return 1
        except EngramError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        return 0

    return run


def _command(commands: Any, name: str, help: str, run: Callable[..., None]) -> Any:
    parser = commands.add_parser(name, help=help, description=help)
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(run=_runner(run))
    return parser


def add_commands(commands: Any) -> None:
    """Adds the user commands to an argparse sub-command set (ours or `engram`'s)."""
    p = _command(commands, "remember", "store a memory", remember)
    p.add_argument("content")
    p.add_argument("--type", help="fact, preference, decision, pattern, entity, episodic...")
    p.add_argument("--tag", action="append", help="a tag (repeatable)")
    p.add_argument("--importance", type=float, help="0 to 1")
    p.add_argument("--title")
    p.add_argument("--session", help="attach it to this session")

    p = _command(commands, "search", "search memories (hybrid by default)", search)
    p.add_argument("query")
    p.add_argument("--limit", type=int, default=10)
    p.add_argument("--type", action="append", help="only this memory type (repeatable)")
    p.add_argument("--tag", action="append", help="every tag must be present (repeatable)")
    p.add_argument("--mode", choices=("hybrid", "semantic", "keyword"), default="hybrid")
    p.add_argument("--session", help="only this session's memories")

    sessions = commands.add_parser("sessions", help="list, show or end sessions")
    verbs = sessions.add_subparsers(dest="sessions_command", required=True)
    p = _command(verbs, "list", "the newest sessions", sessions_list)
    p.add_argument("--agent", help="only this agent's")
    p.add_argument("--active", action="store_true", help="only open sessions")
    p.add_argument("--limit", type=int, default=20, help="how many (default 20)")
    p = _command(verbs, "show", "one session", sessions_show)
    p.add_argument("session_id")
    p = _command(verbs, "end", "end a session (queues its extraction)", sessions_end)
    p.add_argument("session_id")
    p.add_argument("--summary")
    p.add_argument("--failed", action="store_true", help="end it as failed")

    p = _command(commands, "context", "a session's context block (markdown)", context)
    p.add_argument("session_id")
    p.add_argument("--query", help="also memories relevant to this")
    p.add_argument("--max-memories", type=int)
    p.add_argument("--max-tokens", type=int)

    p = _command(commands, "export", "export the workspace's memories (admin)", export)
    p.add_argument("--format", choices=("json", "csv"), default="json")
    p.add_argument("--output", type=Path, help="write to this file (default: stdout)")
    p.add_argument("--session", help="only this session's memories")
    p.add_argument("--include-deleted", action="store_true")

    keys = commands.add_parser("keys", help="create, list or revoke API keys (admin)")
    verbs = keys.add_subparsers(dest="keys_command", required=True)
    p = _command(verbs, "create", "create a key (shown once)", keys_create)
    p.add_argument("name")
    p.add_argument("--scope", action="append", choices=("read", "write", "admin"))
    p.add_argument("--agent", help="bind the key to this agent id")
    _command(verbs, "list", "the workspace's keys (never the keys themselves)", keys_list)
    p = _command(verbs, "revoke", "revoke a key at once", keys_revoke)
    p.add_argument("key_id")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="engram-client", description=__doc__.split("\n")[0])
    parser.add_argument("--env-file", type=Path, help="read settings from this file first")
    add_commands(parser.add_subparsers(dest="command", required=True))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.env_file:
        if not args.env_file.is_file():
            print(f"error: no such env file {args.env_file}", file=sys.stderr)
            return 2
        load_env_file(args.env_file)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
