"""Reusable field types for request models: each refuses bad input with a sentence."""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    Field,
    PlainValidator,
    ValidationError,
    WithJsonSchema,
)

from engram.config import get_settings
from engram.ids import ID_PATTERN, id_problem


def _check_id(value: str) -> str:
    problem = id_problem(value, "The id")
    if problem:
        raise ValueError(problem)
    return value


def _storable(value: Any, depth: int = 0) -> str | None:
    """Why DynamoDB could not store `value` (numbers: 38 digits, 1e-130..1e126; 32 levels)."""
    if depth > 30:
        return "metadata is nested more than 30 levels deep"
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return None
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            return "metadata numbers must be finite"
        # boto3 stores an int with every digit, trailing zeros too (10**40 cannot be
        # written); a float is at most 17 significant digits, so only its range matters.
        digits = len(str(abs(value))) if isinstance(value, int) else 0
        if value and (digits > 38 or not 1e-130 <= abs(value) < 1e126):
            return "metadata numbers must have at most 38 digits and lie within 1e-130 to 1e125"
        return None
    if isinstance(value, dict) and "" in value:
        return "metadata keys must not be empty"
    children = value.values() if isinstance(value, dict) else value
    return next((p for p in (_storable(c, depth + 1) for c in children) if p), None)


def _check_metadata(value: dict[str, Any]) -> dict[str, Any]:
    problem = _storable(value)
    if problem:
        raise ValueError(problem)
    limit = get_settings().max_metadata_bytes
    size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())
    if size > limit:
        raise ValueError(f"metadata is {size} bytes as JSON; the limit is {limit}")
    return value


# A character that is not white space, as JSON Schema (ECMAScript) counts it: the schema and
# the check share one definition (Python's own \s also counts \x1c-\x1f and \x85).
NON_BLANK = r"[^\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]"
_NON_BLANK = re.compile(NON_BLANK)


def is_blank(text: str) -> bool:
    return _NON_BLANK.search(text) is None


def _iso_time(value: Any) -> datetime:
    """An ISO 8601 time (as the schema's `date-time`), naive read as UTC; pydantic's own
    datetime also takes unix numbers and "0.5", which the schema does not allow."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.upper())  # Python 3.11 reads Z itself
        except ValueError:
            raise ValueError("must be an ISO 8601 time, e.g. 2026-01-31T12:00:00Z") from None
    else:
        raise ValueError("must be an ISO 8601 time string, e.g. 2026-01-31T12:00:00Z")
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


IsoTime = Annotated[
    datetime,
    PlainValidator(_iso_time, json_schema_input_type=str),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


def _json_number(value: Any) -> Any:
    """JSON's own types: `true` is not 1 and "0.5" is not a number (pydantic's lax mode
    converts both); 1.0 is still an integer, as JSON Schema counts it."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be a number")
    return value


def _json_bool(value: Any) -> Any:
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


# After a number's bounds in its Annotated (`Annotated[float, Field(ge=0), JSON_NUMBER]`):
# placed before them, pydantic leaves the bounds out of the JSON schema.
JSON_NUMBER = BeforeValidator(_json_number)
UnitFloat = Annotated[float, Field(ge=0.0, le=1.0), JSON_NUMBER]  # a score or weight, 0 to 1
StrictBool = Annotated[bool, BeforeValidator(_json_bool)]


def _metadata_value(inner: dict[str, Any]) -> dict[str, Any]:
    """What _storable takes, as a JSON schema: numbers DynamoDB can hold (0, or 1e-130 to 1e38
    in size: ints of at most 38 digits), strings, booleans, null, and arrays and objects
    (non-empty keys) of `inner`."""
    return {
        "anyOf": [
            {"type": "string"},
            {"type": "boolean"},
            {"type": "null"},
            {"const": 0},
            {"type": "number", "minimum": 1e-130, "maximum": 1e38},
            {"type": "number", "minimum": -1e38, "maximum": -1e-130},
            {"type": "array", "items": inner},
            metadata_object(inner),
        ]
    }


def metadata_object(values: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "propertyNames": {"minLength": 1}, "additionalProperties": values}


# The OpenAPI document states the rule at every depth through a component that refers to
# itself (engram.openapi puts it in); a model's own schema, which has no components, states
# it one level down.
METADATA_REF = {"$ref": "#/components/schemas/MetadataValue"}
METADATA_COMPONENT = _metadata_value(METADATA_REF)
METADATA_MARK = "x-engram-metadata"


EngramId = Annotated[
    str, AfterValidator(_check_id), Field(json_schema_extra={"pattern": ID_PATTERN})
]
Metadata = Annotated[
    dict[str, Any],
    AfterValidator(_check_metadata),
    WithJsonSchema({**metadata_object(_metadata_value({})), METADATA_MARK: True}),
]
ShortText = Annotated[str, Field(max_length=255)]


One = TypeVar("One", bound=BaseModel)
Many = TypeVar("Many", bound=BaseModel)


def parse_one_or_many(body: Any, one: type[One], many: type[Many], key: str) -> One | Many:
    """A body that is one item or {key: [items]}, validated as a whole before anything is
    written; errors read like FastAPI's own (422 with the field's path)."""
    model: type[One | Many] = many if isinstance(body, dict) and key in body else one
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise as_request_error(exc, "body") from exc


def as_request_error(exc: ValidationError, where: str) -> Exception:
    """A model's validation error as FastAPI's own (`where`: body or query), so it gets the
    same 422 sentence as everything FastAPI validates itself."""
    from fastapi.exceptions import RequestValidationError

    return RequestValidationError([{**e, "loc": (where, *e["loc"])} for e in exc.errors()])


def check_batch_size(items: list[Any], what: str) -> None:
    """Raises (for a model validator) when a batch holds more than the configured limit."""
    limit = get_settings().max_batch_items
    if len(items) > limit:
        raise ValueError(f"{len(items)} {what} given; a batch holds at most {limit}")
