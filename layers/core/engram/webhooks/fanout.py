"""Webhook fan-out, subscribed to the event feed (`engram.wiring.events`) for the events it
stored: one delivery record and one deliver-queue message per active webhook of the workspace
subscribed to an event's type. A workspace without webhooks costs one Query per publish."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from engram.clock import iso
from engram.config import get_settings
from engram.event_types import TEST_EVENT
from engram.ids import new_id
from engram.observability import logger
from engram.queues import Queues
from engram.webhooks.models import Delivery, DeliveryJob, WebhookRecord
from engram.webhooks.repository import WebhookRepository


def targets(webhooks: list[WebhookRecord], event: dict[str, Any]) -> list[WebhookRecord]:
    """Subscribed active webhooks; a test event goes to the one webhook it names, on or off."""
    if event["type"] == TEST_EVENT:
        return [w for w in webhooks if w.webhook_id == event["data"].get("webhook_id")]
    return [w for w in webhooks if w.subscribes(event["type"])]


class WebhookFanOut:
    """An event feed subscriber. `queues` is a factory: the deliver queue's client is made
    only when some webhook wants an event."""

    def __init__(self, repo: WebhookRepository, queues: Callable[[], Queues]) -> None:
        self._repo = repo
        self._queues = queues

    def __call__(self, events: Sequence[dict[str, Any]], at: datetime) -> list[Delivery]:
        return fan_out(self._repo, self._queues, events, at)


def fan_out(
    repo: WebhookRepository,
    queues: Callable[[], Queues],
    events: Sequence[dict[str, Any]],
    now: datetime,
) -> list[Delivery]:
    """Events of one workspace, in order: their delivery records written 25 to a
    BatchWriteItem, their jobs sent 10 to a SendMessageBatch. A job that could not be queued
    leaves its delivery marked failed; the events themselves stand."""
    if not events:
        return []
    workspace_id = events[0]["workspace_id"]
    webhooks = repo.all(workspace_id)
    pairs = [(webhook, event) for event in events for webhook in targets(webhooks, event)]
    if not pairs:
        return []
    expires = int(
        (now + timedelta(days=get_settings().webhook_delivery_retention_days)).timestamp()
    )
    deliveries = [
        Delivery(
            delivery_id=new_id("dlv"),
            webhook_id=webhook.webhook_id,
            event_id=event["id"],
            event_type=event["type"],
            created_at=iso(now),
        )
        for webhook, event in pairs
    ]
    repo.add_deliveries(workspace_id, deliveries, expires)
    jobs = [
        DeliveryJob(
            workspace_id=webhook.workspace_id,
            webhook_id=webhook.webhook_id,
            delivery_id=delivery.delivery_id,
            event=event,
        ).model_dump(mode="json")
        for (webhook, event), delivery in zip(pairs, deliveries, strict=True)
    ]
    try:
        outcomes = queues().send_each("deliver", jobs)
    except Exception as exc:  # the deliver queue is not configured  # noqa: BLE001
        outcomes = [exc] * len(jobs)
    return [
        _settle(repo, workspace_id, delivery, outcome)
        for delivery, outcome in zip(deliveries, outcomes, strict=True)
    ]


def _settle(
    repo: WebhookRepository, workspace_id: str, delivery: Delivery, outcome: str | Exception
) -> Delivery:
    if not isinstance(outcome, Exception):
        return delivery
    # The event itself is stored and acknowledged; the lost send stays visible as failed.
    logger.error(
        "webhook enqueue failed", extra={"delivery_id": delivery.delivery_id, "error": str(outcome)}
    )
    repo.update_delivery(
        workspace_id,
        delivery.webhook_id,
        delivery.delivery_id,
        {"status": "failed", "error": f"Could not be queued: {outcome}"[:300]},
    )
    return delivery.model_copy(update={"status": "failed"})
