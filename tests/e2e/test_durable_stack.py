"""The local stack keeps its data across restarts (`python -m engram_local` in a subprocess,
its data directory in the test's tmp_path): stopped and started again, the same key lists and
searches the memories; killed with SIGKILL in the middle of a burst of writes, every write it
acknowledged is there after the restart; damaged data stops the start with a sentence; --fresh
starts empty."""

from __future__ import annotations

import signal
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from engram_local.journal import DataDir
from tests.stack import Stack

pytestmark = pytest.mark.e2e

BURST_WRITERS = 4
BURST_MAX = 400  # writes the burst may send at most (it is stopped by the kill long before)
KILL_AFTER = 25  # acknowledged writes before the stack is killed


def started(path: Path, *args: str) -> tuple[Stack, dict[str, str]]:
    # a webhook to 127.0.0.1's discard port: kept, never delivered (nothing listens there)
    stack = Stack(path, {"WEBHOOK_ALLOW_PRIVATE": "true"}, args=args)
    try:
        return stack, stack.wait_ready()
    except BaseException:
        stack.kill()
        raise


def client(env: dict[str, str]) -> httpx.Client:
    return httpx.Client(
        base_url=env["ENGRAM_URL"],
        headers={"Authorization": f"Bearer {env['ENGRAM_API_KEY']}"},
        timeout=30,
    )


def remember(http: httpx.Client, content: str, **extra: object) -> str:
    response = http.post("/v1/memories", json={"content": content, **extra})
    assert response.status_code == 201, response.text
    return response.json()["memory_id"]


def listed_ids(http: httpx.Client) -> set[str]:
    response = http.get("/v1/memories", params={"limit": 100})
    assert response.status_code == 200, response.text
    return {m["memory_id"] for m in response.json()["data"]}


def found_ids(http: httpx.Client, query: str, mode: str) -> list[str]:
    response = http.post(
        "/v1/memories/search", json={"query": query, "search_mode": mode, "limit": 10}
    )
    assert response.status_code == 200, response.text
    return [hit["memory_id"] for hit in response.json()["results"]]


def test_a_restart_keeps_everything_and_fresh_starts_empty(tmp_path):
    first, env = started(tmp_path)
    try:
        with client(env) as http:
            kept = {
                remember(
                    http, "The deploy window is Tuesday at 14:00 UTC.", tags=["ops"]
                ): "deploy",
                remember(http, "Ada prefers tea over coffee in the morning."): "tea",
            }
            session = http.post("/v1/sessions", json={"agent_id": "agent-7"})
            assert session.status_code == 201, session.text
            hook = http.post(
                "/v1/webhooks",
                json={"url": "http://127.0.0.1:9/engram", "events": ["memory.stored"]},
            )
            assert hook.status_code == 201, hook.text
    finally:
        assert first.stop(signal.SIGINT) == 0, first.output()

    second, again = started(tmp_path)
    try:
        assert again["ENGRAM_API_KEY"] == env["ENGRAM_API_KEY"]
        assert "Traceback" not in second.output()
        with client(again) as http:
            assert listed_ids(http) == set(kept)
            for memory_id, word in kept.items():
                for mode in ("keyword", "semantic", "hybrid"):
                    assert memory_id in found_ids(http, word, mode), (mode, word)
            sessions = http.get("/v1/sessions", params={"agent_id": "agent-7"}).json()["data"]
            assert [s["session_id"] for s in sessions] == [session.json()["session_id"]]
            hooks = http.get("/v1/webhooks").json()["data"]
            assert [h["webhook_id"] for h in hooks] == [hook.json()["webhook_id"]]
            stored = http.get(f"/v1/memories/{next(iter(kept))}").json()
            assert stored["embedding_status"] == "ready"
    finally:
        assert second.stop(signal.SIGINT) == 0, second.output()

    fresh, empty = started(tmp_path, "--fresh")
    try:
        assert empty["ENGRAM_API_KEY"] != env["ENGRAM_API_KEY"]
        with client(empty) as http:
            assert listed_ids(http) == set()
        old = httpx.get(
            f"{empty['ENGRAM_URL']}/v1/memories",
            headers={"Authorization": f"Bearer {env['ENGRAM_API_KEY']}"},
            timeout=30,
        )
        assert old.status_code == 401
    finally:
        fresh.kill()


def test_sigkill_in_a_burst_of_writes_loses_no_acknowledged_write(tmp_path):
    stack, env = started(tmp_path)
    acknowledged: list[str] = []
    enough = threading.Event()
    lock = threading.Lock()

    def writer(n: int) -> None:
        with client(env) as http:
            for i in range(BURST_MAX // BURST_WRITERS):
                try:
                    response = http.post(
                        "/v1/memories", json={"content": f"Burst write {n}-{i} about invoices."}
                    )
                except httpx.HTTPError:
                    return  # the stack is gone: this write was never acknowledged
                if response.status_code != 201:
                    return
                with lock:
                    acknowledged.append(response.json()["memory_id"])
                    if len(acknowledged) >= KILL_AFTER:
                        enough.set()

    try:
        with ThreadPoolExecutor(BURST_WRITERS) as pool:
            for n in range(BURST_WRITERS):
                pool.submit(writer, n)
            assert enough.wait(120), stack.output()[-3000:]
            stack.process.send_signal(signal.SIGKILL)  # writers are still sending
            stack.process.wait(10)
    finally:
        stack.kill()
    assert len(acknowledged) >= KILL_AFTER

    again, env2 = started(tmp_path)
    try:
        assert env2["ENGRAM_API_KEY"] == env["ENGRAM_API_KEY"]
        with client(env2) as http:
            missing = [
                memory_id
                for memory_id in acknowledged
                if http.get(f"/v1/memories/{memory_id}").status_code != 200
            ]
            assert missing == [], f"{len(missing)} of {len(acknowledged)} acknowledged writes lost"
    finally:
        assert again.stop(signal.SIGINT) == 0, again.output()


def test_damaged_data_stops_the_start_with_a_sentence(tmp_path):
    data = DataDir(tmp_path / ".engram")
    data.lock()
    data.open_journal(1)
    data.append([{"k": "meta", "n": "note", "v": "first"}, {"k": "meta", "n": "note", "v": "2"}])
    data.close()
    journal = tmp_path / ".engram" / "journal-000001.log"
    lines = journal.read_bytes().split(b"\n")
    lines[0] = lines[0].replace(b"first", b"frist")  # a flipped byte: its checksum fails
    journal.write_bytes(b"\n".join(lines))

    stack = Stack(tmp_path)
    try:
        code = stack.process.wait(60)
    finally:
        stack.kill()
    output = stack.output()
    assert code != 0, output
    assert str(journal) in output and "line 1" in output and "--fresh" in output, output
    assert "Traceback" not in output and "Engram is ready" not in output
    assert journal.exists()  # nothing was erased or overwritten
