"""The durable emulator's appends (engram_local.persistence.Durability): a DynamoDB write takes
its journal ticket under the DynamoDB lock and is encoded and written after it, in ticket order;
so a write that finishes encoding first still waits for the tickets before it, an encoding that
fails passes its turn on, and a sync covers every ticket issued before it. Threads are ordered
by events (a waiter announces itself before it waits), never by sleeping."""

from __future__ import annotations

import threading

import pytest

from engram_local.journal import DataDir
from engram_local.persistence import Durability

TIMEOUT = 10.0


def meta(n: int) -> dict:
    return {"k": "meta", "n": f"name-{n}", "v": n}


@pytest.fixture
def durability(tmp_path):
    data = DataDir(tmp_path)
    data.lock()
    data.open_journal(1)
    kept = Durability(data)
    yield kept
    data.close()


def written(path) -> list:
    data = DataDir(path)
    data.lock()
    try:
        return [r["v"] for r in data.load().records]
    finally:
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
    assert written(tmp_path) == [1, 2]


def test_a_ticket_whose_encoding_fails_passes_its_turn(durability, tmp_path):
    first, second = durability._ticket(), durability._ticket()
    with pytest.raises(TypeError):
        durability._append_in_turn(first, [{"k": "meta", "n": "x", "v": {1, 2}}], False)
    after = in_thread(durability._append_in_turn, second, [meta(2)], True)
    after.join(TIMEOUT)
    assert not after.is_alive()  # it did not wait for the first
    durability.data.close()
    assert written(tmp_path) == [2]


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
    assert written(tmp_path) == [1, 2, 3]
