"""Webhook fan-out, called by EventFeed.publish_many for the events it stored: one delivery
record and one deliver-queue message per active webhook of the workspace subscribed to an
event's type. A workspace without webhooks costs one Query per publish_many call."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from engram.clock import iso
from engram.config import get_settings
from engram.ids import new_id
from engram.observability import logger
from engram.queues import Queues
from engram.webhooks.models import Delivery, DeliveryJob, WebhookRecord
from engram.webhooks.repository import WebhookRepository

TEST_EVENT = "webhook.test"


def targets(webhooks: list[WebhookRecord], event: dict[str, Any]) -> list[WebhookRecord]:
    """Subscribed active webhooks; a test event goes to the one webhook it names, on or off."""
    if event["type"] == TEST_EVENT:
        return [w for w in webhooks if w.webhook_id == event["data"].get("webhook_id")]
    return [w for w in webhooks if w.subscribes(event["type"])]


def fan_out(table: Any, queues: Callable[[], Queues], events: Sequence[dict[str, Any]],
            now: datetime) -> list[Delivery]:
    """Events of one workspace, in order."""
    if not events:
        return []
    repo = WebhookRepository(table)
    webhooks = repo.all(events[0]["workspace_id"])
    if not webhooks:
        return []
    expires = int((now + timedelta(days=get_settings().webhook_delivery_retention_days)).timestamp())
    sender = queues()
    return [_enqueue(repo, sender, webhook, event, now, expires)
            for event in events for webhook in targets(webhooks, event)]


def _enqueue(repo: WebhookRepository, sender: Queues, webhook: WebhookRecord,
             event: dict[str, Any], now: datetime, expires: int) -> Delivery:
    delivery = Delivery(delivery_id=new_id("dlv"), webhook_id=webhook.webhook_id,
                        event_id=event["id"], event_type=event["type"], created_at=iso(now))
    repo.add_delivery(webhook.workspace_id, delivery, expires)
    job = DeliveryJob(workspace_id=webhook.workspace_id, webhook_id=webhook.webhook_id,
                      delivery_id=delivery.delivery_id, event=event)
    try:
        sender.send("deliver", job.model_dump(mode="json"))
    except Exception as exc:
        # The event itself is stored and acknowledged; the lost send stays visible as failed.
        logger.exception("webhook enqueue failed", extra={"delivery_id": delivery.delivery_id})
        repo.update_delivery(webhook.workspace_id, webhook.webhook_id, delivery.delivery_id,
                             {"status": "failed", "error": f"Could not be queued: {exc}"[:300]})
        return delivery.model_copy(update={"status": "failed"})
    return delivery
