"""Start-up speed-ups for FastAPI functions, applied only when asked: `bootstrap()`, called
first by every Lambda handler and by the local app factory, before anything imports
fastapi, the route modules or our models. Importing any engram module changes no other
library; a process that never calls `bootstrap()` (a webhook receiver importing
`engram.webhooks.verify`, the CLI, a test) runs pydantic and FastAPI as they come.

What it does, for the pinned versions only (docs/benchmarks.md, "Cold start"):
- pydantic's `defer_build` for every model defined from then on: a model builds its
  validator and serializer on first use instead of when its class is created, and so do the
  TypeAdapters FastAPI makes for a route's body and response models. Without it a
  function's INIT builds the ~40 models of `fastapi.openapi.models` (only used to write
  /openapi.json) and the adapters of every route it declares, though a request uses one
  route: 45-75 ms of each API function's import. Pydantic has no global switch; models
  inherit BaseModel's `model_config`, so the setting goes there.
- `engram.fastapi_compat`: the three models `fastapi.openapi.models` rebuilds explicitly at
  import stay deferred too, FastAPI's pydantic-v1 checks answer without importing
  `pydantic.v1`, and each route field's adapter is built on first use.
- FastAPI builds deferred adapters from `Annotated[T, Field(alias=...)]` and silences
  UnsupportedFieldAttributeWarning while it does; deferred, the build runs outside its
  silencing, so the warning is silenced here (tests/unit/test_cold_start.py checks our own
  models do not rely on it).

The patches reach into FastAPI's and pydantic's internals, so they are applied only to the
versions they were written and tested against (`PINNED`, the versions pyproject.toml pins).
With any other version `bootstrap()` warns, says why, and leaves both libraries alone: the
function runs unpatched, only slower to start.
"""

from __future__ import annotations

import importlib.util
import re
import sys
import warnings
from pathlib import Path

PINNED = {"fastapi": "0.165.0", "pydantic": "2.13.5"}

_applied: dict[str, bool] = {}  # per part ("pydantic", "fastapi"): the first answer


class UnpinnedVersion(UserWarning):
    """A library is not at the version the start-up patches were written for."""


def installed_versions() -> dict[str, str | None]:
    """The installed versions, read without importing fastapi (importing it is what the
    patches must come before) and without importlib.metadata (tens of ms at INIT)."""
    from pydantic.version import VERSION

    return {"fastapi": _fastapi_version(), "pydantic": VERSION}


def _fastapi_version() -> str | None:
    module = sys.modules.get("fastapi")
    if module is not None:
        return getattr(module, "__version__", None)
    spec = importlib.util.find_spec("fastapi")
    if spec is None or spec.origin is None:
        return None
    found = re.search(r'^__version__ = "([^"]+)"', Path(spec.origin).read_text(), re.MULTILINE)
    return found.group(1) if found else None


def refusal(versions: dict[str, str | None], names: tuple[str, ...] = tuple(PINNED)) -> str | None:
    """Why the patches must not be applied to these versions, or None if they may."""
    wrong = [
        f"{name} {versions.get(name) or 'not installed'} (patched for {PINNED[name]})"
        for name in names
        if versions.get(name) != PINNED[name]
    ]
    if not wrong:
        return None
    return (
        "engram.bootstrap: not applying the cold-start patches to "
        + ", ".join(wrong)
        + "; running unpatched (correct, only slower to start). Pin the versions in "
        "pyproject.toml, or update engram/bootstrap.py and engram/fastapi_compat.py."
    )


def bootstrap(api: bool = True) -> bool:
    """Applies the speed-ups once per process and answers whether they are on. `api`:
    FastAPI's too (an API function); a worker, which never imports FastAPI, passes False.
    Call it before fastapi, the route modules or any model are imported."""
    parts = ("pydantic", "fastapi") if api else ("pydantic",)
    todo = [part for part in parts if part not in _applied]
    if todo:
        reason = refusal(installed_versions(), parts)
        if reason:
            warnings.warn(reason, UnpinnedVersion, stacklevel=2)
        for part in todo:
            _applied[part] = not reason and _apply(part)
    return all(_applied[part] for part in parts)


def _apply(part: str) -> bool:
    from engram import fastapi_compat

    if part == "fastapi":
        fastapi_compat.apply()
        return True
    from pydantic import BaseModel
    from pydantic.warnings import UnsupportedFieldAttributeWarning

    BaseModel.model_config["defer_build"] = True
    fastapi_compat.defer_openapi_models()  # pydantic's model_rebuild: fastapi is not imported
    warnings.filterwarnings("ignore", category=UnsupportedFieldAttributeWarning)
    return True
