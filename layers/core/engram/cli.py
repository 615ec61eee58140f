"""`engram` command line. `engram admin create-workspace NAME` creates a workspace and
prints its first API key, against whatever the settings point at: the local stack when
AWS_ENDPOINT_URL and TABLE_NAME come from `.engram/dev.env`, real AWS otherwise.

Other distributions add commands through the `engram.cli` entry point group (a function
given the sub-command set): engram-sdk adds the user commands (remember, search,
sessions...), so one help page shows all. The server never imports them itself."""

from __future__ import annotations

import argparse
import json
import sys
from importlib.metadata import entry_points
from pathlib import Path


def _load_env_file(path: Path) -> None:
    import os

    for line in path.read_text().splitlines():
        name, sep, value = line.strip().partition("=")
        if sep and name and not name.startswith("#"):
            os.environ[name] = value


def _create_workspace(args: argparse.Namespace) -> int:
    from engram import wiring
    from engram.errors import DomainError

    service = wiring.workspace_service()
    try:
        workspace, key = service.create_workspace(args.name)
    except DomainError as exc:
        print(f"error: {exc.detail}", file=sys.stderr)
        return 2
    if args.json:
        print(
            json.dumps(
                {
                    "workspace_id": workspace.workspace_id,
                    "name": workspace.name,
                    "api_key": key.api_key,
                    "key_id": key.key.key_id,
                }
            )
        )
    else:
        print(f"workspace {workspace.workspace_id} ({workspace.name})")
        print(f"api key   {key.api_key}")
        print("The key is shown once; store it now.")
    return 0


class ProgressBar:
    """A plain stderr progress bar (no dependency): a bar when the total is known."""

    def __init__(self, total: int | None, stream=None, width: int = 30) -> None:
        import time

        # stderr is looked up now, not at import, so redirections (and pytest) see the bar
        self._total, self._stream, self._width = total, stream or sys.stderr, width
        self._start = time.monotonic()
        self._clock = time.monotonic

    def __call__(self, done: int) -> None:
        rate = done / max(self._clock() - self._start, 1e-6)
        if self._total:
            filled = int(self._width * min(done / self._total, 1.0))
            bar = "#" * filled + "-" * (self._width - filled)
            self._stream.write(f"\r[{bar}] {done}/{self._total} ({rate:.0f}/s)")
        else:
            self._stream.write(f"\r{done} memories ({rate:.0f}/s)")
        self._stream.flush()

    def close(self) -> None:
        self._stream.write("\n")


def _reindex(args: argparse.Namespace) -> int:
    from engram import wiring
    from engram.memories.maintenance_jobs import reindex

    total = wiring.memory_repository().count(args.workspace) if args.workspace else None
    bar = ProgressBar(total)
    done = reindex(args.workspace, bar)
    bar.close()
    print(f"reindexed {done} memories")
    return 0


def _backfill(args: argparse.Namespace) -> int:
    from engram import wiring

    done = wiring.memory_repository().rebuild_filter_items(args.workspace)
    print(f"filter entries and agent counters written for {done} memories")
    return 0


def _create_index(args: argparse.Namespace) -> int:
    from engram import wiring

    dimension = args.dimension or wiring.embedder().dimension
    wiring.search_index().ensure_index(dimension)
    print(f"search index ready ({dimension} dimensions)")
    return 0


def _smoke(args: argparse.Namespace) -> int:
    import os

    from engram.smoke import Http, Smoke, Target, target_from_stack

    url = args.url or os.environ.get("ENGRAM_URL")
    key = os.environ.get("ENGRAM_API_KEY")  # never an argument: it would show in `ps`
    if args.stack_name:
        try:
            target = target_from_stack(args.stack_name, args.region)
        except Exception as exc:  # noqa: BLE001 - any reason the stack cannot be read
            print(f"error: cannot read stack {args.stack_name}: {exc}", file=sys.stderr)
            return 2
    elif url and key:
        target = Target(url, key)
    else:
        print(
            "error: give URL= and KEY= (or ENGRAM_URL and ENGRAM_API_KEY), or STACK_NAME=",
            file=sys.stderr,
        )
        return 2
    print(f"smoke: {target.url}")
    smoke = Smoke(
        Http(target),
        sys.stdout,
        webhook_receiver=args.webhook_receiver or os.environ.get("WEBHOOK_RECEIVER") or None,
        wait_seconds=args.wait,
    )
    return 0 if smoke.run() else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="engram", description="Engram's command line.")
    parser.add_argument(
        "--env-file", type=Path, help="read settings from this file first (e.g. .engram/dev.env)"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    admin = commands.add_parser("admin", help="administrative commands").add_subparsers(
        dest="admin_command", required=True
    )
    create = admin.add_parser("create-workspace", help="create a workspace and print its first key")
    create.add_argument("name")
    create.add_argument("--json", action="store_true", help="print the result as JSON")
    create.set_defaults(run=_create_workspace)
    rebuild = admin.add_parser("reindex", help="rebuild the search index from DynamoDB")
    rebuild.add_argument("--workspace", help="only this workspace's memories")
    rebuild.set_defaults(run=_reindex)
    backfill = admin.add_parser(
        "backfill-filters",
        help="write list-filter entries and agent counters for memories stored before them",
    )
    backfill.add_argument("--workspace", help="only this workspace's memories")
    backfill.set_defaults(run=_backfill)
    index = admin.add_parser(
        "create-index", help="create the search index (the mapping ships in engram/adapters/)"
    )
    index.add_argument("--dimension", type=int, help="vector size (default: the embedder's)")
    index.set_defaults(run=_create_index)
    smoke = commands.add_parser(
        "smoke",
        help="a short end-to-end check of a running Engram (the key comes from ENGRAM_API_KEY)",
    )
    smoke.add_argument("--url", help="the API's base URL (default: ENGRAM_URL)")
    smoke.add_argument("--stack-name", help="read the URL and key from this stack's outputs")
    smoke.add_argument("--region", help="the stack's region (default: the AWS settings')")
    smoke.add_argument(
        "--webhook-receiver", help="an https URL that answers 2xx: adds a test delivery to it"
    )
    smoke.add_argument(
        "--wait", type=float, default=90.0, help="seconds each background step may take"
    )
    smoke.set_defaults(run=_smoke)
    for plugin in entry_points(group="engram.cli"):
        plugin.load()(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.env_file:
        if not args.env_file.is_file():
            print(f"error: no such env file {args.env_file}", file=sys.stderr)
            return 2
        _load_env_file(args.env_file)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
