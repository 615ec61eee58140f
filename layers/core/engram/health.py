"""GET /health: no auth, no I/O; answers whether the function is up and its version."""

from __future__ import annotations

from fastapi import APIRouter

from engram import __version__

router = APIRouter(tags=["health"])


@router.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok", "version": __version__}
