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


def _config() -> Any:
    """No botocore parameter validation: the services validate every request anyway, and
    validating it here first was a few percent of a request's CPU."""
    from botocore.config import Config

    return Config(parameter_validation=False)


@cache
def client(service: str) -> Any:
    import boto3

    return boto3.client(service, config=_config(), **_kwargs())


@cache
def dynamodb_resource() -> Any:
    import boto3

    return boto3.resource("dynamodb", config=_config(), **_kwargs())


@cache
def table() -> Any:
    """The single table, as a boto3 Table resource."""
    return dynamodb_resource().Table(get_settings().table_name)


@cache
def typed_client(service: str, region: str, endpoint: str | None) -> Any:
    """A low-level client for hot paths that build their requests themselves: no botocore
    parameter validation (the service validates every request anyway), and for DynamoDB
    typed attribute values taken as they are (no resource-layer copy and transformation)."""
    import boto3

    return boto3.client(service, region_name=region, endpoint_url=endpoint, config=_config())


def clear_caches() -> None:
    for factory in (client, dynamodb_resource, table, typed_client):
        factory.cache_clear()
