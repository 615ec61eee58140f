"""The export's HTTP answer, shared by /v1 and the dialects that serve an export (a route
module imports no other route module): streamed inline, or a 303 to the spooled object."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi.responses import JSONResponse, Response, StreamingResponse

from engram.clock import iso
from engram.datarights.models import ExportFilters, ExportFormat, ExportLink
from engram.datarights.service import DataRightsService

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


def export_response(
    svc: DataRightsService,
    workspace_id: str,
    fmt: ExportFormat,
    from_date: datetime | None,
    to_date: datetime | None,
    session_id: str | None,
    include_deleted: bool,
) -> Response:
    filters = ExportFilters(
        from_date=iso(from_date) if from_date else None,
        to_date=iso(to_date) if to_date else None,
        session_id=session_id,
        include_deleted=include_deleted,
    )
    result = svc.export(workspace_id, filters, fmt)
    if result.url:
        link = ExportLink(
            url=result.url, expires_at=result.expires_at, bytes=result.size, format=fmt
        )
        return JSONResponse(link.model_dump(), status_code=303, headers={"Location": result.url})
    assert result.chunks is not None  # an export without a URL is answered inline
    return StreamingResponse(result.chunks, media_type=result.media_type)
