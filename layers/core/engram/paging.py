"""The request parameters routes share: an id in a path or a filter, and what every paged
list takes (API.md, "Lists"): `limit`, 1 to 100, the settings' default page size when
absent, the opaque `cursor` of the previous page, and `offset` (items to skip)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

from engram.config import get_settings
from engram.ids import ID_PATTERN

PathId = Annotated[str, Path(max_length=255, pattern=ID_PATTERN)]
FilterId = Annotated[str | None, Query(max_length=255, pattern=ID_PATTERN)]

MAX_OFFSET = 10_000  # an offset is read through; beyond this, page with the cursor

PageLimit = Annotated[int | None, Query(ge=1, le=100, description="Items per page (1-100).")]
Cursor = Annotated[
    str | None, Query(max_length=2048, description="`next_cursor` of the previous page.")
]


def page_size(limit: int | None) -> int:
    """The page size a request asked for, or the configured default."""
    return limit or get_settings().default_page_size


Offset = Annotated[
    int | None,
    Query(ge=0, le=MAX_OFFSET, description="Items to skip (after `cursor`, if given)."),
]
