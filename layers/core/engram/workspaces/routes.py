"""HTTP routes of /v1/api-keys (admin scope) and /v1/workspaces (the caller's own workspace,
read scope): wiring only; the service decides."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from engram import wiring
from engram.auth import PrincipalDep
from engram.idempotency import IdempotentRoute
from engram.paging import Cursor, Offset, PageLimit, PathId, page_size
from engram.workspaces.models import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyList,
    Workspace,
    WorkspaceList,
)
from engram.workspaces.service import WorkspaceService

router = APIRouter(prefix="/v1/api-keys", tags=["api-keys"], route_class=IdempotentRoute)
workspaces_router = APIRouter(prefix="/v1/workspaces", tags=["workspaces"])


def get_workspace_service() -> WorkspaceService:
    return wiring.workspace_service()


WorkspaceServiceDep = Annotated[WorkspaceService, Depends(get_workspace_service)]
KeyId = PathId
WorkspaceId = PathId


@router.post("", status_code=201)
def create_api_key(
    body: ApiKeyCreate, who: PrincipalDep, svc: WorkspaceServiceDep
) -> ApiKeyCreated:
    return svc.create_key(who.workspace_id, who.user_id, body)


@router.get("")
def list_api_keys(
    who: PrincipalDep,
    svc: WorkspaceServiceDep,
    limit: PageLimit = None,
    cursor: Cursor = None,
    offset: Offset = None,
) -> ApiKeyList:
    return svc.list_keys(who.workspace_id, page_size(limit), cursor, offset or 0)


@router.delete("/{key_id}", status_code=204)
def revoke_api_key(key_id: KeyId, who: PrincipalDep, svc: WorkspaceServiceDep) -> Response:
    svc.revoke_key(who.workspace_id, key_id)
    return Response(status_code=204)


@workspaces_router.get("")
def list_workspaces(who: PrincipalDep, svc: WorkspaceServiceDep) -> WorkspaceList:
    """The workspaces the caller's key reaches: its own."""
    return svc.list_own(who.workspace_id)


@workspaces_router.get("/{workspace_id}")
def get_workspace(
    workspace_id: WorkspaceId, who: PrincipalDep, svc: WorkspaceServiceDep
) -> Workspace:
    return svc.own_workspace(who.workspace_id, workspace_id)
