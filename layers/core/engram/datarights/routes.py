"""HTTP routes of data rights (admin scope): export, forget a user and restore them. Wiring
only."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import JSONResponse, Response, StreamingResponse

from engram import wiring
from engram.auth import PrincipalDep
from engram.clock import iso
from engram.datarights.models import (
    ExportFilters,
    ExportFormat,
    ExportLink,
    ForgottenUser,
    RestoredUser,
)
from engram.datarights.service import DataRightsService
from engram.ids import ID_PATTERN
from engram.validation import IsoTime

router = APIRouter(tags=["data rights"])
UserId = Annotated[str, Path(max_length=255, pattern=ID_PATTERN)]
FilterId = Annotated[str | None, Query(max_length=255, pattern=ID_PATTERN)]
EXPORT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The memories, newest first.",
        "content": {
            "application/json": {
                "schema": {"type": "array", "items": {"$ref": "#/components/schemas/Memory"}}
            },
            "text/csv": {"schema": {"type": "string"}},
        },
    },
    303: {
        "description": "Too large to answer inline: fetch it from Location (presigned).",
        "model": ExportLink,
    },
}


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
    filters = ExportFilters(
        from_date=iso(from_date) if from_date else None,
        to_date=iso(to_date) if to_date else None,
        session_id=session_id,
        include_deleted=include_deleted,
    )
    result = svc.export(who.workspace_id, filters, fmt)
    if result.url:
        link = ExportLink(
            url=result.url, expires_at=result.expires_at, bytes=result.size, format=fmt
        )
        return JSONResponse(link.model_dump(), status_code=303, headers={"Location": result.url})
    return StreamingResponse(result.chunks, media_type=result.media_type)


@router.delete("/v1/users/{user_id}/memories")
def forget_user(user_id: UserId, who: PrincipalDep, svc: DataRightsDep) -> ForgottenUser:
    return svc.forget_user(who.workspace_id, user_id)


@router.post("/v1/users/{user_id}/restore")
def restore_user(user_id: UserId, who: PrincipalDep, svc: DataRightsDep) -> RestoredUser:
    """Brings back the user's soft-deleted sessions and memories still inside their window."""
    return svc.restore_user(who.workspace_id, user_id)
