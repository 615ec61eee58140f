"""The OpenAPI document says what the API really does: request models referenced by hand
(`openapi_extra` bodies) are added to the components, and every operation documents the
error body of API.md (FastAPI's own 422 schema is not what Engram answers)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from engram.validation import METADATA_COMPONENT, METADATA_MARK, METADATA_REF, metadata_object

_REF = re.compile(r'"#/components/schemas/([A-Za-z0-9_.\-]+)"')
ERROR_STATUSES = {
    "400": "Malformed request.",
    "401": "No or invalid credentials.",
    "403": "The credentials lack the scope.",
    "404": "Not found (or not yours).",
    "409": "Conflict.",
    "413": "Too large.",
    "422": "Validation failed.",
    "429": "Throttled.",
}
# A dialect's route that declares 501: the product's feature Engram does not offer.
NOT_OFFERED = "Not offered by Engram (the sentence says which feature)."
ERROR_SCHEMA = {
    "title": "Error",
    "type": "object",
    "required": ["detail", "code", "request_id"],
    "properties": {
        "detail": {"type": "string"},
        "code": {"type": "string"},
        "request_id": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object"}},
    },
}


def complete_openapi(app: FastAPI) -> Callable[[], dict[str, Any]]:
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = original()
            _add_missing_models(schema, app)
            _document_errors(schema, getattr(app.state, "error_schemas", ()))
            schema = _metadata_at_every_depth(schema)
            schema["components"]["schemas"]["MetadataValue"] = METADATA_COMPONENT
            app.openapi_schema = schema
        return app.openapi_schema

    return openapi


def _add_missing_models(schema: dict[str, Any], app: FastAPI) -> None:
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    missing = set(_REF.findall(json.dumps(schema))) - set(components)
    models = [m for m in _endpoint_models(app) if m.__name__ in missing]
    if not models:
        return
    _, defs = models_json_schema(
        [(m, "validation") for m in models], ref_template="#/components/schemas/{model}"
    )
    for name, definition in defs.get("$defs", {}).items():
        components.setdefault(name, definition)


def _endpoint_models(app: FastAPI) -> list[type[BaseModel]]:
    """Pydantic models visible to the route functions (what an openapi_extra may name)."""
    seen: dict[str, type[BaseModel]] = {}
    for route in _routes(app.router.routes):
        for value in getattr(route.endpoint, "__globals__", {}).values():
            if isinstance(value, type) and issubclass(value, BaseModel) and value is not BaseModel:
                seen.setdefault(value.__name__, value)
    return list(seen.values())


def _routes(routes: list[Any]) -> list[APIRoute]:
    found = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append(route)
        nested = getattr(getattr(route, "original_router", None), "routes", None)
        if nested:
            found.extend(_routes(nested))
    return found


def _metadata_at_every_depth(node: Any) -> Any:
    """Metadata's schema, wherever it is, refers to the MetadataValue component at every
    depth (a model's own schema has no components, so it names only one level)."""
    if isinstance(node, dict):
        if node.get(METADATA_MARK):
            return metadata_object(METADATA_REF)
        return {k: _metadata_at_every_depth(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_metadata_at_every_depth(v) for v in node]
    return node


def _document_errors(schema: dict[str, Any], dialects: tuple[tuple[str, str, dict], ...]) -> None:
    """Engram's error body on every operation; a dialect's own under its mount."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Error"] = ERROR_SCHEMA
    components.pop("HTTPValidationError", None)
    for _, name, body in dialects:
        components[name] = body
    for path, operations in schema.get("paths", {}).items():
        name = next(
            (n for mount, n, _ in dialects if path.startswith(mount + "/")),
            "Error",
        )
        ref = {"$ref": f"#/components/schemas/{name}"}
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            statuses = ERROR_STATUSES | ({"501": NOT_OFFERED} if "501" in responses else {})
            for status, description in statuses.items():
                responses[status] = {
                    "description": description,
                    "content": {"application/json": {"schema": ref}},
                }
    if "#/components/schemas/ValidationError" not in json.dumps(schema):
        components.pop("ValidationError", None)
