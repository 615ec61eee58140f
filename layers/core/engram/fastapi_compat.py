"""A cold-start fix to FastAPI (pinned at 0.165.0), applied by the modules that declare
routes (`engram.auth`, `engram.health`) before they declare any.

For every parameter and response model of every route it declares, FastAPI asks whether
the annotation is a pydantic v1 model, and to answer it imports `pydantic.v1` (with
`pickle` and the rest of v1): 25-40 ms of each API function's INIT for a check that is
always false here. A v1 model class or instance can only exist once `pydantic.v1` has been
imported, so until then the answer is False without importing it; after, FastAPI's own
check runs. The answers are the same as FastAPI's.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

_V1 = "pydantic.v1"
_applied = False


def apply() -> None:
    global _applied
    if _applied:
        return
    from fastapi._compat import shared

    for name in ("is_pydantic_v1_model_class", "is_pydantic_v1_model_instance"):
        setattr(shared, name, _unless_v1_is_loaded(getattr(shared, name)))
    _applied = True


def _unless_v1_is_loaded(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    def without_import(value: Any) -> bool:
        return _V1 in sys.modules and check(value)

    return without_import
