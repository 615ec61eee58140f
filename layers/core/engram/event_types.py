"""What an event is: its types, the publishing port, and a draft of events not yet stored.
No storage and no delivery here (`engram.events` stores them; webhook fan-out subscribes to
what it publishes), so any module can name events without importing either."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

EVENT_TYPES = (
    "memory.stored",
    "memory.updated",
    "memory.deleted",
    "embedding.ready",
    "embedding.failed",
    "session.created",
    "session.ended",
    "session.summarized",
    "checkpoint.created",
    "webhook.test",
)
TEST_EVENT = "webhook.test"  # sent to the one webhook it names, subscribed or not


@dataclass(frozen=True)
class Draft:
    """Events made but not yet stored: `items` are their table items, for a caller that
    writes them in its own transaction (so the events exist exactly when its write does)."""

    events: list[dict[str, Any]]
    items: list[dict[str, Any]]
    at: datetime


class Publisher(Protocol):
    def publish(
        self, event_type: str, workspace_id: str, data: dict[str, Any]
    ) -> dict[str, Any]: ...

    def publish_many(
        self, event_type: str, workspace_id: str, datas: Sequence[dict[str, Any]]
    ) -> list[dict[str, Any]]: ...

    def draft(
        self, event_type: str, workspace_id: str, datas: Sequence[dict[str, Any]]
    ) -> Draft: ...

    def announce(self, draft: Draft) -> list[dict[str, Any]]: ...


class Subscriber(Protocol):
    def __call__(self, events: Sequence[dict[str, Any]], at: datetime) -> Any:
        """Stored events of one workspace, in order, published at `at`."""
        ...
