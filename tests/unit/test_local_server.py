"""The local server's start-up: what exists before it serves is frozen out of the garbage
collector's full collections (they paused the whole stack for 129-180 ms), and FastAPI's
sync calls run on the event loop's thread (each hand-off to a worker thread could wait for
the GIL behind the queue workers)."""

from __future__ import annotations

import gc
import signal
import socket
import threading

import fastapi.dependencies.utils
import fastapi.routing
import pytest
import uvicorn
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel

from engram.fastapi_compat import run_sync_on_event_loop
from engram_local import server


@pytest.fixture
def restored_threadpool(monkeypatch):
    """run_sync_on_event_loop() is process-wide; the rest of the suite keeps FastAPI's threads."""
    for module in (fastapi.routing, fastapi.dependencies.utils):
        monkeypatch.setattr(module, "run_in_threadpool", module.run_in_threadpool)


def _threads_used() -> dict[str, int]:
    """Which thread ran each part of a request to an app with sync and async parts."""
    seen: dict[str, int] = {}

    class Out(BaseModel):
        ok: bool

    def sync_dependency() -> None:
        seen["sync dependency"] = threading.get_ident()

    async def async_dependency() -> None:
        seen["event loop"] = threading.get_ident()

    app = FastAPI()

    @app.post(
        "/x", response_model=Out, dependencies=[Depends(sync_dependency), Depends(async_dependency)]
    )
    def endpoint() -> dict:
        seen["sync endpoint"] = threading.get_ident()
        return {"ok": True}

    with TestClient(app) as client:
        response = client.post("/x")
    assert response.status_code == 200 and response.json() == {"ok": True}
    return seen


def test_sync_dependencies_and_endpoints_run_on_the_event_loop_thread(restored_threadpool):
    before = _threads_used()
    assert before["sync endpoint"] != before["event loop"]  # FastAPI's own: a worker thread
    run_sync_on_event_loop()
    after = _threads_used()
    assert after["sync dependency"] == after["sync endpoint"] == after["event loop"]


def test_the_server_runs_sync_calls_on_the_loop_and_freezes_its_start_up_objects(
    monkeypatch, restored_threadpool
):
    frozen_when_serving, inline_when_serving = [], []

    def run(self, sockets=None):
        frozen_when_serving.append(gc.get_freeze_count())
        inline_when_serving.append(
            fastapi.routing.run_in_threadpool.__module__ == "engram.fastapi_compat"
        )

    monkeypatch.setattr(uvicorn.Server, "run", run)
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    gc.unfreeze()
    try:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            server._serve(server.Stop(), sock, "http://127.0.0.1:1", "ek_test", None, None)  # type: ignore[arg-type]
    finally:
        gc.unfreeze()
        for sig, handler in handlers.items():  # Stop() installs the stack's own
            signal.signal(sig, handler)
    assert len(frozen_when_serving) == server.API_LOOPS  # one run per event loop
    assert all(count > 10_000 for count in frozen_when_serving)
    assert inline_when_serving == [True] * server.API_LOOPS


def test_a_slow_request_holds_only_its_own_event_loop(restored_threadpool):
    """Two loops serve one socket: while a request blocks one of them (until the test lets
    it go), /health is answered by the other."""
    import httpx

    entered, release = threading.Event(), threading.Event()
    app = FastAPI()

    @app.get("/slow")
    def slow() -> dict:
        entered.set()
        release.wait(30)
        return {"slow": True}

    @app.get("/health")
    def health() -> dict:
        return {"ok": True}

    run_sync_on_event_loop()
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    stop = server.Stop()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    runner = threading.Thread(target=server.serve_api, args=(app, sock, stop, 2), daemon=True)
    runner.start()
    slow_answers: list[int] = []
    try:
        for _ in range(500):  # at most 10 s until both loops listen
            if len(stop.servers) == 2 and all(s.started for s in stop.servers):
                break
            threading.Event().wait(0.02)
        caller = threading.Thread(
            target=lambda: slow_answers.append(httpx.get(f"{url}/slow", timeout=30).status_code)
        )
        caller.start()
        assert entered.wait(10), "the slow request never started"
        assert httpx.get(f"{url}/health", timeout=5).json() == {"ok": True}
        assert not release.is_set() and slow_answers == []  # still held
        release.set()
        caller.join(10)
        assert slow_answers == [200]
    finally:
        release.set()
        for running in stop.servers:
            running.should_exit = True
        runner.join(15)
        sock.close()
        gc.unfreeze()
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
