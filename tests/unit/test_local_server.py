"""The local server's start-up: what exists before it serves is frozen out of the garbage
collector's full collections (they paused the whole stack for 129-180 ms)."""

from __future__ import annotations

import gc
import signal
import socket

import uvicorn

from engram.local import server


def test_the_server_freezes_its_start_up_objects_before_it_serves(monkeypatch):
    frozen_when_serving = []

    def run(self, sockets=None):
        frozen_when_serving.append(gc.get_freeze_count())

    monkeypatch.setattr(uvicorn.Server, "run", run)
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    gc.unfreeze()
    try:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            server._serve(server.Stop(), sock, "http://127.0.0.1:1", "ek_test", None)  # type: ignore[arg-type]
    finally:
        gc.unfreeze()
        for sig, handler in handlers.items():  # Stop() installs the stack's own
            signal.signal(sig, handler)
    assert len(frozen_when_serving) == 1 and frozen_when_serving[0] > 10_000
