"""HTTP routes of data rights (admin scope): export, forget a user and restore them. Wiring
only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from engram import wiring
from engram.auth import PrincipalDep
from engram.datarights.answers import EXPORT_RESPONSES, export_response
from engram.datarights.models import (
    ExportFormat,
    ForgottenUser,
    RestoredUser,
)
from engram.datarights.service import DataRightsService
from engram.paging import FilterId, PathId
from engram.validation import IsoTime

router = APIRouter(tags=["data rights"])
UserId = PathId


def get_data_rights_service() -> DataRightsService:
    return wiring.data_rights_service()


DataRightsDep = Annotated[DataRightsService, Depends(get_data_rights_service)]


@router.get("/v1/export", response_class=Response, responses=EXPORT_RESPONSES)
def export(
    who: PrincipalDep,
    svc: DataRightsDep,
    fmt: Annotated[ExportFormat, Query(alias="format")] = "json",
    from_date: Annotated[IsoTime | None, Query()] = None,
    to_date: Annotated[IsoTime | None, Query()] = None,
    session_id: FilterId = None,
    include_deleted: bool = False,
) -> Response:
    return export_response(
        svc, who.workspace_id, fmt, from_date, to_date, session_id, include_deleted
    )


@router.delete("/v1/users/{user_id}/memories")
def forget_user(user_id: UserId, who: PrincipalDep, svc: DataRightsDep) -> ForgottenUser:
    return svc.forget_user(who.workspace_id, user_id)


@router.post("/v1/users/{user_id}/restore")
def restore_user(user_id: UserId, who: PrincipalDep, svc: DataRightsDep) -> RestoredUser:
    """Brings back the user's soft-deleted sessions and memories still inside their window."""
    return svc.restore_user(who.workspace_id, user_id)
