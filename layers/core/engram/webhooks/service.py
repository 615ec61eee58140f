"""The webhooks API's decisions: URL safety, subscriptions, secrets and their rotation."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from engram.clock import Clock, iso
from engram.config import Settings
from engram.errors import Conflict, ValidationFailed
from engram.event_types import TEST_EVENT, Publisher
from engram.ids import new_id
from engram.webhooks.guard import Resolver, UnsafeUrl, check_url
from engram.webhooks.models import (
    DeliveryList,
    QueuedTest,
    Webhook,
    WebhookCreate,
    WebhookList,
    WebhookRecord,
    WebhookUpdate,
    WebhookWithSecret,
)
from engram.webhooks.repository import WebhookRepository

SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_hex(32)


class WebhookService:
    def __init__(
        self,
        repo: WebhookRepository,
        events: Publisher,
        clock: Clock,
        settings: Settings,
        resolve: Resolver | None = None,
    ) -> None:
        self._repo = repo
        self._events = events
        self._clock = clock
        self._settings = settings
        self._resolve = resolve

    def create(self, workspace_id: str, body: WebhookCreate) -> WebhookWithSecret:
        url = self._safe_url(body.url)
        limit = self._settings.webhook_max_per_workspace
        if self._repo.count(workspace_id) >= limit:
            raise Conflict(f"This workspace already has {limit} webhooks, the most allowed.")
        webhook = WebhookRecord(
            webhook_id=new_id("wh"),
            workspace_id=workspace_id,
            url=url,
            events=body.events,
            active=body.active,
            secret=new_secret(),
            created_at=iso(self._clock.now()),
        )
        self._repo.create(webhook)
        return webhook.with_secret()

    def list(
        self, workspace_id: str, limit: int, cursor: str | None, offset: int = 0
    ) -> WebhookList:
        page = self._repo.page(workspace_id, limit, cursor, offset)
        return WebhookList(
            data=[w.public() for w in page.items],
            next_cursor=page.next_cursor,
            has_more=page.next_cursor is not None,
            count=self._repo.count(workspace_id),
        )

    def get(self, workspace_id: str, webhook_id: str) -> Webhook:
        return self._repo.get(workspace_id, webhook_id).public()

    def update(self, workspace_id: str, webhook_id: str, body: WebhookUpdate) -> Webhook:
        changes: dict[str, Any] = {
            k: v for k, v in body.model_dump(exclude_unset=True).items() if v is not None
        }
        if not changes:
            return self.get(workspace_id, webhook_id)
        if "url" in changes:
            changes["url"] = self._safe_url(changes["url"])
        if changes.get("active") is True:  # switching back on starts a clean slate
            changes.update(failure_count=0, disabled_reason=None)
        elif changes.get("active") is False:
            changes["disabled_reason"] = "Switched off through the API."
        changes["updated_at"] = iso(self._clock.now())
        return self._repo.update(workspace_id, webhook_id, changes).public()

    def delete(self, workspace_id: str, webhook_id: str) -> None:
        """Soft: the item stays (queued deliveries see it is gone) until its TTL."""
        now = self._clock.now()
        ttl = now + timedelta(days=self._settings.webhook_delivery_retention_days)
        self._repo.update(
            workspace_id,
            webhook_id,
            {
                "active": False,
                "deleted_at": iso(now),
                "updated_at": iso(now),
                "disabled_reason": "Deleted.",
                "ttl": int(ttl.timestamp()),
            },
        )

    def rotate_secret(self, workspace_id: str, webhook_id: str) -> WebhookWithSecret:
        current = self._repo.get(workspace_id, webhook_id)
        now = self._clock.now()
        grace = now + timedelta(hours=self._settings.webhook_secret_grace_hours)
        changes = {
            "secret": new_secret(),
            "previous_secret": current.secret,
            "previous_secret_expires_at": iso(grace),
            "secret_rotated_at": iso(now),
            "updated_at": iso(now),
        }
        return self._repo.update(workspace_id, webhook_id, changes).with_secret()

    def deliveries(
        self, workspace_id: str, webhook_id: str, limit: int, cursor: str | None, offset: int = 0
    ) -> DeliveryList:
        self._repo.get(workspace_id, webhook_id)  # 404 unless it is this workspace's
        page = self._repo.deliveries(workspace_id, webhook_id, limit, cursor, offset)
        return DeliveryList(
            data=page.items, next_cursor=page.next_cursor, has_more=page.next_cursor is not None
        )

    def send_test(self, workspace_id: str, webhook_id: str) -> QueuedTest:
        webhook = self._repo.get(workspace_id, webhook_id)
        event = self._events.publish(
            TEST_EVENT,
            workspace_id,
            {"webhook_id": webhook.webhook_id, "message": "A test delivery from Engram."},
        )
        return QueuedTest(webhook_id=webhook.webhook_id, event_id=event["id"])

    def _safe_url(self, url: str) -> str:
        try:
            check_url(url, self._settings.webhook_allow_private, self._resolve)
        except UnsafeUrl as exc:
            raise ValidationFailed(
                str(exc), [{"loc": ["body", "url"], "msg": str(exc), "type": "unsafe_url"}]
            ) from exc
        return url.strip()
