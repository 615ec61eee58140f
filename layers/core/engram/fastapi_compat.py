"""Fixes to FastAPI (pinned at 0.165.0): three for cold start, one for the local server.
Nothing here runs on import: `engram.bootstrap` applies them, for the pinned versions only.

`defer_openapi_models()`, installed by `engram.bootstrap` before anything imports fastapi: `fastapi.openapi.models` ends with `Schema.model_rebuild()` and two more, which
build the validators of most of its ~40 models at import (40-55 ms of every API function's
INIT) though they are only used to write /openapi.json. Skipped, those models stay
deferred like every other (`defer_build`) and pydantic builds them on first use, resolving
their forward references from the module as the skipped call would have; /openapi.json is
byte-for-byte the same (tests/unit/test_cold_start.py).

`apply()`, called by `engram.bootstrap` before any route is declared. For every parameter and response model of every route it
declares, FastAPI asks whether the annotation is a pydantic v1 model, and to answer it
imports `pydantic.v1` (with `pickle` and the rest of v1): 25-40 ms of each API function's
INIT for a check that is always false here. A v1 model class or instance can only exist
once `pydantic.v1` has been imported, so until then the answer is False without importing
it; after, FastAPI's own check runs. The answers are the same as FastAPI's.

`apply()` also defers the TypeAdapter FastAPI builds for each field of a route when the
route is declared: a model's adapter was already deferred (`defer_build`), but a scalar
parameter's (`limit: int = Query(ge=1, le=100)`) was built at once: 12-19 per router
module, 2.5-5 ms of CPU, though a request uses one route's. Each is built on its first
use instead, by FastAPI's own code; /openapi.json, which uses them all, is the same
(tests/unit/test_cold_start.py).

`run_sync_on_event_loop()`, called by the local server only (local/engram_local/server.py),
when bootstrap() found the pinned FastAPI: see its docstring.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

_V1 = "pydantic.v1"
_OPENAPI_MODELS = "fastapi.openapi.models"
_applied = False


def defer_openapi_models() -> None:
    """Makes a bare `model_rebuild()` of a not-yet-built `fastapi.openapi.models` class a
    no-op. Every other call, including pydantic's own rebuild on first use (which passes
    arguments) and `force=True`, runs as before."""
    from pydantic import BaseModel

    rebuild = BaseModel.model_rebuild.__func__  # type: ignore[attr-defined]
    if hasattr(rebuild, "__wrapped__"):
        return

    def model_rebuild(cls: type[BaseModel], **kwargs: Any) -> bool | None:
        if not kwargs and cls.__module__ == _OPENAPI_MODELS and not cls.__pydantic_complete__:
            return None
        return rebuild(cls, **kwargs)

    model_rebuild.__wrapped__ = rebuild  # type: ignore[attr-defined]
    # a patch with a wider signature (it passes every keyword on)
    BaseModel.model_rebuild = classmethod(model_rebuild)  # type: ignore[method-assign, assignment]


def apply() -> None:
    global _applied
    if _applied:
        return
    from fastapi._compat import shared

    for name in ("is_pydantic_v1_model_class", "is_pydantic_v1_model_instance"):
        setattr(shared, name, _unless_v1_is_loaded(getattr(shared, name)))
    _defer_field_adapters()
    _applied = True


def _defer_field_adapters() -> None:
    """FastAPI's `ModelField.__post_init__` builds the field's TypeAdapter; here it runs on
    the first use of `_type_adapter` (validating a request, writing /openapi.json)."""
    from fastapi._compat.v2 import ModelField

    build = ModelField.__post_init__

    def type_adapter(field: ModelField) -> Any:
        build(field)  # FastAPI's own build, which stores the adapter on the instance
        return field.__dict__["_type_adapter"]

    adapter = functools.cached_property(type_adapter)
    adapter.__set_name__(ModelField, "_type_adapter")
    ModelField._type_adapter = adapter  # type: ignore[assignment]
    ModelField.__post_init__ = lambda self: None  # type: ignore[method-assign]


def run_sync_on_event_loop() -> None:
    """FastAPI hands every sync dependency, sync endpoint and its response validation to a
    worker thread, one at a time: a POST /v1/memories makes six such round trips. In the
    local stack the queue workers run in the same process, and while one holds the GIL
    each switch back can wait out Python's 5 ms switch interval. Here those calls run on
    the event loop's thread instead, so the server answers one request at a time, which
    costs the stack little: the emulator serialises every AWS call, and the GIL most of the
    rest. Measured (docs/benchmarks.md, "Sync calls on the event loop"), interleaved: POST
    p95 34-58 -> 16-22 ms, p99 45-116 -> 27-47 ms. Process-wide and for the local server only: the tests' TestClient keeps the
    threads, so concurrent requests there still interleave. `engram.idempotency` imports
    its own `run_in_threadpool` (it needs a worker thread) and is not affected."""
    import fastapi.dependencies.utils
    import fastapi.routing

    async def call(func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        return func(*args, **kwargs)

    fastapi.routing.run_in_threadpool = call  # type: ignore[assignment]
    fastapi.dependencies.utils.run_in_threadpool = call  # type: ignore[assignment]


def _unless_v1_is_loaded(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    def without_import(value: Any) -> bool:
        return _V1 in sys.modules and check(value)

    return without_import
