"""Reusable field types for request models: each refuses bad input with a sentence."""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import AfterValidator, Field

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
