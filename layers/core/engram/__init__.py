"""Engram: a self-hosted memory API for AI agents."""

import warnings

from pydantic import BaseModel
from pydantic.warnings import UnsupportedFieldAttributeWarning

from engram import fastapi_compat

__version__ = "0.1.0"

# Cold start: every pydantic model defined from here on builds its validator and serializer
# on first use instead of when its class is created (pydantic's `defer_build`), and so do
# the TypeAdapters FastAPI makes for a route's body and response models. Without this, a
# FastAPI function's INIT builds the ~40 models of `fastapi.openapi.models` (only used to
# write /openapi.json) and the adapters of every route it declares, though a request uses
# one route: 45-75 ms of each API function's import, and INIT plus the first request is
# about as much cheaper (docs/benchmarks.md, "Cold start"). It is set here because this
# package is imported before fastapi in every function. Pydantic has no global config
# switch; models inherit BaseModel's `model_config`, so the setting goes there
# (tests/unit/test_cold_start.py checks that it still takes effect).
BaseModel.model_config["defer_build"] = True
# ... and the three models fastapi.openapi.models rebuilds explicitly at import stay
# deferred too (engram/fastapi_compat.py).
fastapi_compat.defer_openapi_models()
# FastAPI builds each such adapter from `Annotated[T, Field(alias=...)]` and silences this
# warning while it does; deferred, the build runs outside FastAPI's silencing, on the
# route's first request, so it is silenced here. Our own models are checked for it by
# tests/unit/test_cold_start.py.
warnings.filterwarnings("ignore", category=UnsupportedFieldAttributeWarning)
