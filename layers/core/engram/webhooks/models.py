"""Webhooks and their deliveries: request bodies, the public objects, the stored record
(which alone carries the secrets) and the deliver-queue message."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from engram.event_types import EVENT_TYPES
from engram.validation import StrictBool

DeliveryStatus = Literal["pending", "retrying", "succeeded", "failed"]
MAX_ATTEMPTS = 8  # the DeliverQueue's maxReceiveCount: the 8th failure dead-letters


def _check_events(value: list[str]) -> list[str]:
    if not value:
        raise ValueError("events must name at least one event type")
    unknown = [name for name in value if name not in EVENT_TYPES]
    if unknown:
        raise ValueError(
            f"unknown event type '{unknown[0]}'; known types are " + ", ".join(EVENT_TYPES)
        )
    return list(dict.fromkeys(value))


EventList = Annotated[
    list[str],
    Field(
        max_length=len(EVENT_TYPES) * 2,
        # what _check_events enforces, stated in the schema
        json_schema_extra={"minItems": 1, "items": {"type": "string", "enum": list(EVENT_TYPES)}},
    ),
    AfterValidator(_check_events),
]
Url = Annotated[str, Field(min_length=1, max_length=2048)]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WebhookCreate(_Request):
    url: Url
    events: EventList
    active: StrictBool = True


class WebhookUpdate(_Request):
    url: Url | None = None
    events: EventList | None = None
    active: StrictBool | None = None


class Webhook(BaseModel):
    webhook_id: str
    workspace_id: str
    url: str
    events: list[str]
    active: bool = True
    disabled_reason: str | None = None
    failure_count: int = 0
    last_delivery_at: str | None = None
    last_delivery_status: int | None = None
    last_delivery_error: str | None = None
    secret_rotated_at: str | None = None
    created_at: str
    updated_at: str | None = None

    def subscribes(self, event_type: str) -> bool:
        return self.active and event_type in self.events


class WebhookWithSecret(Webhook):
    """Only the create and rotate-secret answers carry the secret."""

    secret: str


class WebhookRecord(Webhook):
    """What the table holds: the secrets (needed to sign) and the soft-delete mark."""

    secret: str
    previous_secret: str | None = None
    previous_secret_expires_at: str | None = None
    deleted_at: str | None = None

    def public(self) -> Webhook:
        return Webhook.model_validate(self.model_dump(include=set(Webhook.model_fields)))

    def with_secret(self) -> WebhookWithSecret:
        return WebhookWithSecret.model_validate(
            self.model_dump(include=set(WebhookWithSecret.model_fields))
        )


class WebhookList(BaseModel):
    data: list[Webhook]
    next_cursor: str | None = None
    has_more: bool = False
    count: int


class Delivery(BaseModel):
    delivery_id: str
    webhook_id: str
    event_id: str
    event_type: str
    status: DeliveryStatus = "pending"
    attempt: int = 0
    status_code: int | None = None
    duration_ms: int | None = None
    error: str | None = None
    created_at: str
    last_attempt_at: str | None = None
    next_attempt_at: str | None = None


class DeliveryList(BaseModel):
    data: list[Delivery]
    next_cursor: str | None
    has_more: bool


class QueuedTest(BaseModel):
    webhook_id: str
    event_id: str
    event_type: str = "webhook.test"
    queued: bool = True


class DeliveryJob(BaseModel):
    """The deliver-queue message: self-contained, so a retry sends the same payload."""

    kind: Literal["webhook.deliver"] = "webhook.deliver"
    workspace_id: str
    webhook_id: str
    delivery_id: str
    event: dict[str, Any]
