"""The durable emulator's appends (engram_local.persistence.Durability): a DynamoDB write takes
its journal ticket under the DynamoDB lock and is encoded and written after it, in ticket order;
so a write that finishes encoding first still waits for the tickets before it, an encoding that
fails passes its turn on, and a sync covers every ticket issued before it. An API answer starts
once what the request wrote or may have read is on disk, and never waits for a write begun
after. Threads are ordered by events (a waiter announces itself before it waits), never by
sleeping."""

from __future__ import annotations

import asyncio
import threading

import pytest

from engram_local.persistence import Durability
from tests.unit.test_journal import meta, opened, values

TIMEOUT = 10.0


@pytest.fixture
def durability(tmp_path):
    data = opened(tmp_path)
    yield Durability(data)
    data.close()


def announce_waits(durability: Durability) -> threading.Event:
    """Set once some thread waits for its turn (or for a sync's tickets)."""
    waiting = threading.Event()
    wait = durability._turn.wait

    def announced(timeout: float | None = None) -> bool:
        waiting.set()
        return wait(TIMEOUT if timeout is None else timeout)

    durability._turn.wait = announced  # type: ignore[method-assign]
    return waiting


def in_thread(target, *args) -> threading.Thread:
    thread = threading.Thread(target=target, args=args, daemon=True)
    thread.start()
    return thread


def test_a_later_ticket_waits_for_the_earlier_ones(durability, tmp_path):
    first, second = durability._ticket(), durability._ticket()
    waiting = announce_waits(durability)
    later = in_thread(durability._append_in_turn, second, [meta(2)], False)
    assert waiting.wait(TIMEOUT)  # the second is ready first and waits
    durability._append_in_turn(first, [meta(1)], False)
    later.join(TIMEOUT)
    assert not later.is_alive()
    durability.data.close()
    assert values(tmp_path) == [1, 2]


def test_a_ticket_whose_encoding_fails_passes_its_turn(durability, tmp_path):
    first, second = durability._ticket(), durability._ticket()
    with pytest.raises(TypeError):
        durability._append_in_turn(first, [{"k": "meta", "n": "x", "v": {1, 2}}], False)
    after = in_thread(durability._append_in_turn, second, [meta(2)], True)
    after.join(TIMEOUT)
    assert not after.is_alive()  # it did not wait for the first
    durability.data.close()
    assert values(tmp_path) == [2]


def test_a_sync_waits_for_every_ticket_issued_before_it(durability):
    ticket = durability._ticket()  # issued under the DynamoDB lock, not yet written
    waiting = announce_waits(durability)
    synced = in_thread(durability.sync)
    assert waiting.wait(TIMEOUT)
    assert durability._synced == 0
    durability._append_in_turn(ticket, [meta(1)], False)
    synced.join(TIMEOUT)
    assert not synced.is_alive() and durability._synced == 1


def test_appends_with_sync_are_on_disk_in_order(durability, tmp_path):
    for n in range(1, 4):
        durability._append([meta(n)], sync=n == 3)
    assert durability._synced == 3
    durability.data.close()
    assert values(tmp_path) == [1, 2, 3]


# --- the API's answers (Durability.synced_answers) ------------------------------------------


def answer(durability: Durability, handler) -> list[tuple[str, int]]:
    """Runs one HTTP request through the synced ASGI wrapper around `handler` (called inside
    the request); returns each message sent with the tickets on disk at that moment."""
    sent: list[tuple[str, int]] = []

    async def app(scope, receive, send) -> None:
        handler()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    async def send(message) -> None:
        sent.append((message["type"], durability._synced))

    asyncio.run(durability.synced_answers(app)({"type": "http"}, None, send))
    return sent


def dynamodb_read(durability: Durability) -> None:
    """A GetItem through the emulator's wrapped WSGI app (what the stack's clients call)."""

    def wsgi(environ, start_response):
        start_response("200 OK", [])
        return [b"{}"]

    environ = {"HTTP_X_AMZ_TARGET": "DynamoDB_20120810.GetItem"}
    durability.wrap(wsgi)(environ, lambda status, headers: None)


def test_an_answer_starts_once_the_request_s_own_write_is_on_disk(durability):
    sent = answer(durability, lambda: durability._append([meta(1)], sync=False))
    assert sent[0] == ("http.response.start", 1)


def test_an_answer_that_wrote_and_read_nothing_syncs_nothing(durability):
    syncs = []
    durability.data.sync = lambda: syncs.append(1)  # type: ignore[method-assign]
    answer(durability, lambda: None)
    assert syncs == []


def test_an_answer_waits_for_a_write_it_may_have_read(durability):
    ticket = durability._ticket()  # a worker's write: changed under the lock, not yet written
    waiting = announce_waits(durability)
    done: list = []
    request = in_thread(lambda: done.append(answer(durability, lambda: dynamodb_read(durability))))
    assert waiting.wait(TIMEOUT)  # the answer waits for the ticket its read may show
    durability._append_in_turn(ticket, [meta(1)], False)
    request.join(TIMEOUT)
    assert done and done[0][0] == ("http.response.start", 1)


def test_an_answer_does_not_wait_for_a_write_begun_after_what_it_saw(durability):
    def write_then_a_worker_begins() -> None:
        durability._append([meta(1)], sync=False)
        durability._ticket()  # a worker's batch takes its ticket and is still encoding

    done: list = []
    request = in_thread(lambda: done.append(answer(durability, write_then_a_worker_begins)))
    request.join(TIMEOUT)
    assert not request.is_alive() and done[0][0] == ("http.response.start", 1)
