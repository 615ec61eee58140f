"""Reusable field types for request models: each refuses bad input with a sentence."""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, Field, ValidationError

from engram.config import get_settings
from engram.ids import id_problem


def _check_id(value: str) -> str:
    problem = id_problem(value, "The id")
    if problem:
        raise ValueError(problem)
    return value


def _check_metadata(value: dict[str, Any]) -> dict[str, Any]:
    limit = get_settings().max_metadata_bytes
    size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())
    if size > limit:
        raise ValueError(f"metadata is {size} bytes as JSON; the limit is {limit}")
    return value


EngramId = Annotated[str, AfterValidator(_check_id)]
Metadata = Annotated[dict[str, Any], AfterValidator(_check_metadata)]
ShortText = Annotated[str, Field(max_length=255)]


def parse_one_or_many(body: Any, one: type[BaseModel], many: type[BaseModel], key: str) -> BaseModel:
    """A body that is one item or {key: [items]}, validated as a whole before anything is
    written; errors read like FastAPI's own (422 with the field's path)."""
    from fastapi.exceptions import RequestValidationError

    model = many if isinstance(body, dict) and key in body else one
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]) from exc


def check_batch_size(items: list[Any], what: str) -> None:
    """Raises (for a model validator) when a batch holds more than the configured limit."""
    limit = get_settings().max_batch_items
    if len(items) > limit:
        raise ValueError(f"{len(items)} {what} given; a batch holds at most {limit}")
