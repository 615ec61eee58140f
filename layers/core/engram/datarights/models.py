from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, Field

ExportFormat = Literal["json", "csv"]
MEDIA_TYPES = {"json": "application/json", "csv": "text/csv; charset=utf-8"}


@dataclass(frozen=True)
class ExportFilters:
    from_date: str | None = None  # ISO, inclusive
    to_date: str | None = None  # ISO, inclusive
    session_id: str | None = None
    include_deleted: bool = False


@dataclass(frozen=True)
class Export:
    """Either the body (chunks, streamed) or, when too large, where to fetch it."""

    media_type: str
    chunks: Iterable[bytes] | None = None
    url: str | None = None
    expires_at: str | None = None
    size: int | None = None


class ExportLink(BaseModel):
    url: str
    expires_at: str
    bytes: int
    format: ExportFormat


class ForgottenUser(BaseModel):
    user_id: str
    forgotten: int = Field(description="Memories soft-deleted.")
    sessions: int = Field(description="Sessions soft-deleted.")


class RestoredUser(BaseModel):
    user_id: str
    restored: int = Field(description="Memories restored.")
    sessions: int = Field(description="Sessions restored.")
