"""The query parameters every cursor-paged list takes (API.md, "Lists"): `limit`, 1 to 100,
the settings' default page size when absent, and the opaque `cursor` of the previous page."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from engram.config import get_settings

PageLimit = Annotated[int | None, Query(ge=1, le=100, description="Items per page (1-100).")]
Cursor = Annotated[
    str | None, Query(max_length=2048, description="`next_cursor` of the previous page.")
]


def page_size(limit: int | None) -> int:
    """The page size a request asked for, or the configured default."""
    return limit or get_settings().default_page_size
