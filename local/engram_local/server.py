"""`make dev`: the emulator, the queue pump and the combined API in one process, so Ctrl-C
(SIGINT) or SIGTERM stops every part with nothing left behind. Data is kept in the data
directory (ENGRAM_DATA_DIR, default `.engram/`) and is there again at the next start:
`--fresh` (ENGRAM_FRESH=1) erases it first, `--in-memory` (ENGRAM_IN_MEMORY=1) keeps nothing."""

from __future__ import annotations

import gc
import os
import signal
import socket
import sys
import threading
import time
from contextlib import suppress
from pathlib import Path
from types import FrameType
from typing import Any

from engram_local.emulator import Emulator, start_emulator
from engram_local.journal import DataDir, DataError
from engram_local.persistence import COMPACT_BYTES, Durability
from engram_local.pump import QueuePump
from engram_local.resources import function_environment

HOST = "127.0.0.1"
DEV_ENV = Path(".engram") / "dev.env"
READY_TIMEOUT_SECONDS = 30.0
# Event loops serving the API socket, each on its own thread and each running FastAPI's
# sync calls inline (no thread hand-offs): a slow request holds only its own loop, so
# /health and the other requests are answered by the others meanwhile.
API_LOOPS = 4  # ENGRAM_API_LOOPS overrides it (1: the former one-request-at-a-time server)


class Stop:
    """Signal handling for the whole run. It must be installed before uvicorn starts: uvicorn
    re-raises a captured signal after its own shutdown, and this handler makes that a no-op
    instead of a KeyboardInterrupt or a kill by SIGTERM."""

    def __init__(self) -> None:
        self.requested = threading.Event()
        self.servers: list[Any] = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._handle)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.requested.set()
        for server in self.servers:
            server.should_exit = True


USAGE = """usage: python -m engram_local [--fresh | --in-memory]

  --fresh      erase the kept data (ENGRAM_DATA_DIR, default .engram/) and start empty
  --in-memory  keep nothing: no data directory is read or written
"""


def main(argv: list[str] | None = None) -> int:
    try:
        fresh, in_memory = _options(sys.argv[1:] if argv is None else argv)
    except ValueError as exc:
        print(f"engram: {exc}\n{USAGE}", file=sys.stderr)
        return 2
    stop = Stop()
    port, emulator_port = _port("PORT", 8000), _port("EMULATOR_PORT", 4566)
    try:
        api_socket = _bind(port, "PORT")
    except OSError as exc:
        return _fail(exc)
    durability = None
    try:
        if not in_memory:
            durability = _open_data(data_dir(), fresh)
        started = time.monotonic()
        emulator = start_emulator(emulator_port, HOST, _aws_defaults(), durability=durability)
        if durability is not None:
            print(
                f"data: {durability.loaded.items} items and {durability.loaded.messages} queued "
                f"messages loaded from {durability.data.path}/ "
                f"(emulator ready in {time.monotonic() - started:.1f} s, of which "
                f"{durability.loaded.snapshot_seconds:.1f} s writing a snapshot)",
                flush=True,
            )
    except (OSError, DataError) as exc:  # a busy port, an emulator that never answered, data
        api_socket.close()
        if durability is not None:
            durability.data.close()
        return _fail(exc)
    pump = None
    try:
        emulator.serve_in_process()  # the stack's own clients skip the loopback socket
        _configure_environment(emulator)
        api_key = dev_key(durability)
        if durability is not None:
            _rebuild_index(durability, emulator)
        pump = _start_pump(emulator)
        if not stop.requested.is_set():
            _serve(stop, api_socket, f"http://{HOST}:{port}", api_key, emulator, durability)
    finally:
        _shutdown(pump, emulator, api_socket, durability)
    return 0


def _options(args: list[str]) -> tuple[bool, bool]:
    """(fresh, in_memory) from the command line and ENGRAM_FRESH / ENGRAM_IN_MEMORY."""
    unknown = [a for a in args if a not in ("--fresh", "--in-memory")]
    if unknown:
        raise ValueError(f"unknown argument {unknown[0]!r}")
    fresh = "--fresh" in args or _flag("ENGRAM_FRESH")
    in_memory = "--in-memory" in args or _flag("ENGRAM_IN_MEMORY")
    return fresh, in_memory


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes")


def data_dir() -> Path:
    return Path(os.environ.get("ENGRAM_DATA_DIR") or ".engram")


def _open_data(path: Path, fresh: bool) -> Durability:
    data = DataDir(path)
    data.lock()
    if fresh:
        data.erase()
    limit = os.environ.get("ENGRAM_COMPACT_BYTES", "")
    return Durability(data, int(limit) if limit.isdigit() else COMPACT_BYTES)


def _fail(exc: OSError | DataError) -> int:
    print(f"engram: {exc}", file=sys.stderr)
    return 1


def _port(name: str, default: int) -> int:
    value = os.environ.get(name) or str(default)
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise SystemExit(f"engram: {name} must be a port number, not {value!r}.")
    return int(value)


def _aws_defaults() -> str:
    """Region and fake credentials unless the shell has some: every boto3 client made from
    here on (ours or a resource creator's) then works against the emulator. Returns the region."""
    region = os.environ.get("AWS_REGION") or "us-east-1"
    region = os.environ.setdefault("AWS_DEFAULT_REGION", region)
    os.environ.setdefault("AWS_REGION", region)
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    return region


def _bind(port: int, variable: str) -> socket.socket:
    """Binds the API port first, so a busy port fails before anything else starts. The
    protocol is named so that asyncio sets TCP_NODELAY on accepted connections (it checks
    `proto`): otherwise Nagle's algorithm and the client's delayed ACK add ~40 ms to every
    response on a kept-alive connection."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((HOST, port))
    except OSError as exc:
        sock.close()
        raise OSError(
            f"{HOST}:{port} is in use ({exc.strerror}); set {variable} to another port."
        ) from exc
    return sock


def _configure_environment(emulator: Emulator) -> None:
    """Points settings and every cached client at the emulator, as Lambda's env would."""
    os.environ["AWS_ENDPOINT_URL"] = emulator.endpoint
    os.environ["POWERTOOLS_TRACE_DISABLED"] = "true"  # no X-Ray daemon locally
    os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "Engram")
    os.environ.update(function_environment(emulator.resources))
    from engram import wiring

    wiring.reset()


def create_dev_key() -> str:
    from engram import wiring

    service = wiring.workspace_service()
    return service.create_workspace(wiring.settings().dev_workspace_name)[1].api_key


DEV_KEY = "dev_api_key"


def dev_key(durability: Durability | None) -> str:
    """The development workspace's key: the kept one while it still works, else a new
    workspace's (first start, or its key or workspace was deleted), kept from then on."""
    from engram import wiring
    from engram.errors import DomainError

    kept = durability.meta.get(DEV_KEY) if durability else None
    if kept:
        try:
            wiring.authenticator().verify(kept)
            return str(kept)
        except DomainError:
            print("engram: the kept development key no longer works; making a new one", flush=True)
    api_key = create_dev_key()
    if durability is not None:
        durability.set_meta(DEV_KEY, api_key)
    return api_key


def _rebuild_index(durability: Durability, emulator: Emulator) -> None:
    """The embedded index lives in memory: it is rebuilt from the table's memories, read
    from the emulator directly (moto's paged Scan is quadratic: 10k memories took 2 min),
    stored vectors reused (a memory without one is embedded now). An OpenSearch index keeps
    itself and is only healed where it holds fewer memories than the table."""
    from engram import wiring
    from engram.memories import maintenance_jobs
    from engram.memories.repository import live_stored

    started = time.monotonic()
    config = wiring.settings()
    if config.search_backend == "local" and not config.local_index_path:
        assert durability.state is not None
        items = durability.state.live_memory_items(
            emulator.resources.tables["Table"], durability.dynamodb_lock
        )
        pages = (live_stored(page) for page in items)
        done = wiring.maintenance().reindex(wiring.index_sync().sync_stored, pages=pages)
        what = "rebuilt"
    else:
        done, what = maintenance_jobs.heal_index(), "healed"
    took = time.monotonic() - started
    print(f"search index: {what} from the table, {done} memories in {took:.1f} s", flush=True)


def _start_pump(emulator: Emulator) -> QueuePump:
    pump = QueuePump(emulator.client("sqs"), emulator.resources)
    for line in pump.describe():
        print(f"queue pump: {line}", flush=True)
    pump.start()
    return pump


def _serve(
    stop: Stop,
    sock: socket.socket,
    url: str,
    api_key: str,
    emulator: Emulator,
    durability: Durability | None,
) -> None:
    from engram.bootstrap import bootstrap
    from engram.fastapi_compat import run_sync_on_event_loop
    from engram_local.app import build_app

    app = build_app()
    if durability is not None:
        app = durability.synced_answers(app)
    if bootstrap():  # FastAPI is the pinned version (engram.bootstrap)
        run_sync_on_event_loop()  # no thread hand-offs within a request (see there)

    def announce(first: Any) -> threading.Thread:
        announcer = threading.Thread(
            target=_announce_when_started,
            daemon=True,
            name="announce",
            args=(first, stop, url, api_key, emulator, durability),
        )
        announcer.start()
        return announcer

    loops = os.environ.get("ENGRAM_API_LOOPS", "")
    serve_api(
        app, sock, stop, int(loops) if loops.isdigit() and int(loops) > 0 else API_LOOPS, announce
    )


def serve_api(
    app: Any,
    sock: socket.socket,
    stop: Stop,
    loops: int,
    started: Any = None,
) -> None:
    """Serves `app` on `sock` from `loops` event loops: the calling thread's (which owns the
    signals) and one thread each for the others. The kernel hands each new connection to
    one of them. Returns when the first loop's server stops; the others stop with it.
    `started(first_server)` may start a watcher and return its thread (joined at the end)."""
    import uvicorn

    servers = [
        uvicorn.Server(
            uvicorn.Config(
                app,
                log_level="info",
                timeout_graceful_shutdown=5,
                log_config=uvicorn.config.LOGGING_CONFIG if i == 0 else None,
            )
        )
        for i in range(loops)
    ]
    stop.servers = servers
    for server in servers:
        server.should_exit = stop.requested.is_set()  # a signal that came before the line above
    watcher = started(servers[0]) if started else None
    _freeze_startup_objects()
    # Each loop listens on its own descriptor of the one socket (a dup: the same queue of
    # connections), as each closes its own when it stops.
    others = [
        threading.Thread(
            target=server.run, kwargs={"sockets": [sock.dup()]}, daemon=True, name=f"api-loop-{i}"
        )
        for i, server in enumerate(servers[1:], start=1)
    ]
    for thread in others:
        thread.start()
    try:
        servers[0].run(sockets=[sock])
    finally:
        for server in servers:
            server.should_exit = True
        for thread in others:
            thread.join(10)
        if watcher is not None:
            watcher.join(READY_TIMEOUT_SECONDS)


def _freeze_startup_objects() -> None:
    """Everything made so far (the app, the emulator's tables, the pump's workers) lives as
    long as the stack: moved out of the collector's reach, a full collection no longer walks
    it. Measured (docs/benchmarks.md): full collections paused the whole process 129-180 ms
    during a POST benchmark, 29-41 ms after this; POST p99 158 -> 62-109 ms."""
    gc.collect()
    gc.freeze()


def _announce_when_started(
    server: Any,
    stop: Stop,
    url: str,
    api_key: str,
    emulator: Emulator,
    durability: Durability | None,
) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while not server.started:
        if server.should_exit or stop.requested.is_set() or time.monotonic() > deadline:
            return
        time.sleep(0.05)
    write_dev_env(DEV_ENV, url, api_key, emulator)
    _print_banner(url, api_key, emulator, durability)


def write_dev_env(path: Path, url: str, api_key: str, emulator: Emulator) -> None:
    """Lines for `set -a; . .engram/dev.env`, so the admin CLI and curl use this stack. The
    credentials are the emulator's fake ones, never whatever real ones the shell had."""
    values = {
        "ENGRAM_URL": url,
        "ENGRAM_API_KEY": api_key,
        "AWS_ENDPOINT_URL": emulator.endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": emulator.region,
        "AWS_REGION": emulator.region,
        **function_environment(emulator.resources),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    header = "# Written by `make dev`; valid while it runs.\n"
    path.write_text(header + "".join(f"{k}={v}\n" for k, v in values.items()))
    path.chmod(0o600)  # it holds an API key


def _print_banner(
    url: str, api_key: str, emulator: Emulator, durability: Durability | None
) -> None:
    kept = (
        f"{durability.data.path}/ (kept across restarts; --fresh starts empty)"
        if durability
        else "in memory only (--in-memory): gone when it stops"
    )
    lines = [
        "",
        f"  API          {url}",
        f"  OpenAPI docs {url}/docs",
        f"  API key      {api_key}",
        f"  Emulator     {emulator.endpoint} (moto)",
        f"  Data         {kept}",
        f"  Settings     {DEV_ENV} (set -a; . {DEV_ENV})",
        "",
        "Engram is ready",
    ]
    print("\n".join(lines), flush=True)


def _shutdown(
    pump: QueuePump | None, emulator: Emulator, sock: socket.socket, durability: Durability | None
) -> None:
    if pump is not None and not pump.stop(timeout=10):
        print("engram: a queue worker is still running; exiting anyway", file=sys.stderr)
    emulator.stop()
    if durability is not None:
        durability.data.close()  # every write is in the journal already
    with suppress(OSError):
        sock.close()
    print("Engram stopped", flush=True)
