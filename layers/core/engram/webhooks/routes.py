"""HTTP routes of the webhooks API (admin scope): wiring only; the service decides."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from engram import wiring
from engram.auth import Principal, PrincipalDep
from engram.idempotency import IdempotentRoute
from engram.paging import Cursor, Offset, PageLimit, PathId, page_size
from engram.webhooks.models import (
    DeliveryList,
    QueuedTest,
    Webhook,
    WebhookCreate,
    WebhookList,
    WebhookUpdate,
    WebhookWithSecret,
)
from engram.webhooks.service import WebhookService

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"], route_class=IdempotentRoute)


def get_webhook_service() -> WebhookService:
    return wiring.webhook_service()


def admin(who: PrincipalDep) -> Principal:
    who.require("admin")
    return who


AdminDep = Annotated[Principal, Depends(admin)]
WebhookServiceDep = Annotated[WebhookService, Depends(get_webhook_service)]
WebhookId = PathId


@router.post("", status_code=201)
def create_webhook(body: WebhookCreate, who: AdminDep, svc: WebhookServiceDep) -> WebhookWithSecret:
    return svc.create(who.workspace_id, body)


@router.get("")
def list_webhooks(
    who: AdminDep,
    svc: WebhookServiceDep,
    limit: PageLimit = None,
    cursor: Cursor = None,
    offset: Offset = None,
) -> WebhookList:
    return svc.list(who.workspace_id, page_size(limit), cursor, offset or 0)


@router.get("/{webhook_id}")
def get_webhook(webhook_id: WebhookId, who: AdminDep, svc: WebhookServiceDep) -> Webhook:
    return svc.get(who.workspace_id, webhook_id)


@router.patch("/{webhook_id}")
def update_webhook(
    webhook_id: WebhookId, body: WebhookUpdate, who: AdminDep, svc: WebhookServiceDep
) -> Webhook:
    return svc.update(who.workspace_id, webhook_id, body)


@router.delete("/{webhook_id}", status_code=204)
def delete_webhook(webhook_id: WebhookId, who: AdminDep, svc: WebhookServiceDep) -> Response:
    svc.delete(who.workspace_id, webhook_id)
    return Response(status_code=204)


@router.post("/{webhook_id}/rotate-secret")
def rotate_secret(
    webhook_id: WebhookId, who: AdminDep, svc: WebhookServiceDep
) -> WebhookWithSecret:
    return svc.rotate_secret(who.workspace_id, webhook_id)


@router.get("/{webhook_id}/deliveries")
def list_deliveries(
    webhook_id: WebhookId,
    who: AdminDep,
    svc: WebhookServiceDep,
    limit: PageLimit = None,
    cursor: Cursor = None,
    offset: Offset = None,
) -> DeliveryList:
    return svc.deliveries(who.workspace_id, webhook_id, page_size(limit), cursor, offset or 0)


@router.post("/{webhook_id}/test", status_code=202)
def test_webhook(webhook_id: WebhookId, who: AdminDep, svc: WebhookServiceDep) -> QueuedTest:
    return svc.send_test(who.workspace_id, webhook_id)
