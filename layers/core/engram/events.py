"""The one place events are published. Every event is appended to the workspace's change
feed in the table (kept `event_retention_days`, by TTL), then handed to the subscribers the
composition root gives the feed (webhook fan-out: `engram.wiring.events`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from engram import keys
from engram.clock import Clock, iso
from engram.config import get_settings
from engram.dynamo import from_dynamo, put_all, to_dynamo
from engram.event_types import EVENT_TYPES, Draft, Subscriber
from engram.ids import new_id
from engram.observability import logger


class EventFeed:
    def __init__(self, table: Any, clock: Clock, subscribers: Sequence[Subscriber] = ()) -> None:
        self._table = table
        self._clock = clock
        self._subscribers = tuple(subscribers)

    def publish(self, event_type: str, workspace_id: str, data: dict[str, Any]) -> dict[str, Any]:
        return self.publish_many(event_type, workspace_id, [data])[0]

    def publish_many(
        self, event_type: str, workspace_id: str, datas: Sequence[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """Events of one type and workspace (a batch write stores many): written 25 to a
        BatchWriteItem, then announced to the subscribers."""
        draft = self.draft(event_type, workspace_id, datas)
        put_all(self._table, draft.items)
        return self.announce(draft)

    def draft(self, event_type: str, workspace_id: str, datas: Sequence[dict[str, Any]]) -> Draft:
        """The events and their items; nothing is written or sent yet."""
        if event_type not in EVENT_TYPES:
            raise ValueError(f"unknown event type {event_type!r}")
        now = self._clock.now()
        created_at = iso(now)
        expires = int((now + timedelta(days=get_settings().event_retention_days)).timestamp())
        events: list[dict[str, Any]] = [
            {
                "id": new_id("evt"),
                "type": event_type,
                "created_at": created_at,
                "workspace_id": workspace_id,
                "data": data,
            }
            for data in datas
        ]
        items = [
            to_dynamo(
                {
                    "PK": keys.events_partition(workspace_id),
                    "SK": keys.event_sort(created_at, event["id"]),
                    "type": "Event",
                    "ttl": expires,
                    "event": event,
                }
            )
            for event in events
        ]
        return Draft(events, items, now)

    def announce(self, draft: Draft) -> list[dict[str, Any]]:
        """Stored events go to the subscribers (the workspace's webhooks)."""
        events = draft.events
        if not events:
            return []
        logger.info(
            "events published",
            extra={
                "event_type": events[0]["type"],
                "count": len(events),
                "event_ids": [e["id"] for e in events],
            },
        )
        for subscriber in self._subscribers:
            subscriber(events, draft.at)
        return events

    def recent(self, workspace_id: str, limit: int = 100) -> list[dict[str, Any]]:
        """Newest first: what tests (and later a change feed route) read."""
        from boto3.dynamodb.conditions import Key

        response = self._table.query(
            KeyConditionExpression=Key("PK").eq(keys.events_partition(workspace_id)),
            ScanIndexForward=False,
            Limit=limit,
        )
        events = [
            event
            for item in response.get("Items", [])
            for event in reversed(item["events"] if "events" in item else [item["event"]])
        ]
        return [from_dynamo(event) for event in events[:limit]]


def bundled(items: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Feed items (from drafts) written together, as one item per workspace holding their
    events in order under `events` (a lone item stays as it is): fewer, larger writes for a
    caller storing many small events in one transaction (the embed worker, a vector and its
    `embedding.ready` each). The bundle keeps its first item's key; `recent` reads both."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        groups.setdefault(item["PK"], []).append(item)
    return [
        group[0]
        if len(group) == 1
        else {
            **{k: v for k, v in group[0].items() if k != "event"},
            "ttl": max(item["ttl"] for item in group),
            "events": [item["event"] for item in group],
        }
        for group in groups.values()
    ]
