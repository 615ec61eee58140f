"""Cached boto3 factories. boto3 is imported on first use, not at import time, so a
handler module loads fast; every client honours the emulator endpoint setting."""

from __future__ import annotations

from functools import cache
from typing import Any

from engram.config import get_settings


def _kwargs() -> dict[str, Any]:
    settings = get_settings()
    kwargs: dict[str, Any] = {"region_name": settings.aws_region}
    if settings.aws_endpoint_url:
        kwargs["endpoint_url"] = settings.aws_endpoint_url
    return kwargs


@cache
def client(service: str) -> Any:
    import boto3

    return boto3.client(service, **_kwargs())


@cache
def dynamodb_resource() -> Any:
    import boto3

    return boto3.resource("dynamodb", **_kwargs())


@cache
def table() -> Any:
    """The single table, as a boto3 Table resource."""
    return dynamodb_resource().Table(get_settings().table_name)


def clear_caches() -> None:
    for factory in (client, dynamodb_resource, table):
        factory.cache_clear()
