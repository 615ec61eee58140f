"""The change feed in the table (engram.events on moto): events stored one item each or
bundled (several events of one workspace in one item, as the embed worker writes them) read
back the same, newest first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from engram import aws, keys
from engram.clock import FixedClock
from engram.events import EventFeed, bundled


def _feed(at: datetime) -> EventFeed:
    return EventFeed(aws.table(), FixedClock(at))


def test_bundled_items_hold_one_workspaces_events_and_read_back_like_single_ones(aws_env):
    start = datetime(2026, 12, 5, 4, 0, tzinfo=UTC)
    feed = _feed(start)
    first = feed.draft("memory.stored", "ws_a", [{"memory_id": "mem_0"}])
    aws.table().put_item(Item=first.items[0])
    later = _feed(start + timedelta(seconds=1))
    ready = later.draft("embedding.ready", "ws_a", [{"memory_id": f"mem_{i}"} for i in (1, 2, 3)])
    other = later.draft("embedding.ready", "ws_b", [{"memory_id": "mem_9"}])
    items = bundled([*ready.items, *other.items])
    assert len(items) == 2  # one item per workspace
    assert items[1] == other.items[0]  # a lone event keeps its own item
    assert [e["id"] for e in items[0]["events"]] == [e["id"] for e in ready.events]
    assert {k: items[0][k] for k in ("PK", "SK", "type")} == {
        k: ready.items[0][k] for k in ("PK", "SK", "type")
    }
    for item in items:
        aws.table().put_item(Item=item)
    assert feed.recent("ws_a") == [*reversed(ready.events), *first.events]  # newest first
    assert feed.recent("ws_a", limit=2) == list(reversed(ready.events))[:2]
    assert feed.recent("ws_b") == other.events
    stored = aws.table().query(
        KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={":pk": keys.events_partition("ws_a")},
    )["Items"]
    assert len(stored) == 2 and all(item["ttl"] > start.timestamp() for item in stored)
