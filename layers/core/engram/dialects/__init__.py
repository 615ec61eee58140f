"""Dialects: the APIs of the products Engram's seeds describe (`../shared/seeds/`), each
under a mount that names it (`/remembr`, `/memtrace`, `/neuroloom`, `/agent-sessions`), so
a team keeps the client it runs and changes only its base URL.

A dialect is a thin router package: it maps paths, field names, envelopes, ids, status
codes and error bodies onto Engram's services, taken from the same dependencies as the
/v1 routes (so scopes, agent-bound keys and workspaces behave exactly as there). It never
touches the table or the index itself and decides nothing a service decides."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import APIRouter

from engram.errors import NotOffered
from engram.http import ErrorShape
from engram.idempotency import IdempotentRoute

T = TypeVar("T")
MAX_OFFSET = 10_000
_PAGE = 100


class DialectRouter(APIRouter):
    """The routes of one product's API under `mount` + `base`; errors under the mount are
    answered in that product's shape (`engram.http.create_app` reads `mount_prefix` and
    `error_shape`; `engram.openapi` documents `error_schema`)."""

    def __init__(
        self,
        mount: str,
        base: str,
        tag: str,
        error_shape: ErrorShape | None = None,
        error_schema: tuple[str, dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(prefix=mount + base, tags=[tag], route_class=IdempotentRoute)
        self.mount_prefix = mount
        self.error_shape = error_shape
        self.error_schema = error_schema


def not_offered(product: str, what: str) -> NotOffered:
    return NotOffered(
        f"Engram does not offer {product}'s {what}; only the routes of its published API "
        "are served here."
    )


def offset_page(
    fetch: Callable[[int, str | None], Any], offset: int, limit: int
) -> tuple[list[Any], bool]:
    """`limit` items after the first `offset` of a cursor-paged service list (`fetch(limit,
    cursor)` returns an object with `data` and `next_cursor`), and whether more follow."""
    wanted = offset + limit
    items: list[Any] = []
    cursor: str | None = None
    while len(items) < wanted:
        page = fetch(min(_PAGE, wanted - len(items) + 1), cursor)
        items.extend(page.data)
        cursor = page.next_cursor
        if cursor is None:
            break
    return items[offset:wanted], len(items) > wanted or cursor is not None
