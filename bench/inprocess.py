"""Engram in this process on moto, for the benchmarks that call its services directly.

`isolate()` runs before any engram import: credentials that reach no real account, a table
name of the benchmark's own, quiet Powertools (no metrics lines), and none of the caller's
settings that would point elsewhere. `moto_stack()` holds the template's resources in moto, with the settings
pointing at them and the emulator's patch set on (as the local stack runs it)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

# Settings from the caller's shell that would point a benchmark at other resources.
_DROP = (
    "AWS_ENDPOINT_URL",
    "AWS_PROFILE",
    "OPENSEARCH_ENDPOINT",
    "SEARCH_BACKEND",
    "EMBEDDER",
    "LOCAL_INDEX_PATH",
)


def isolate() -> None:
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_REGION="us-east-1",
        TABLE_NAME="engram-bench",
        ORT_DISABLE_TELEMETRY="1",
        POWERTOOLS_TRACE_DISABLED="true",
        POWERTOOLS_LOG_LEVEL="ERROR",
        POWERTOOLS_METRICS_NAMESPACE="EngramBench",
        POWERTOOLS_METRICS_DISABLED="true",  # no EMF lines between the tables
    )
    for name in _DROP:
        os.environ.pop(name, None)


@contextmanager
def moto_stack(settings: dict[str, str] | None = None) -> Iterator[None]:
    """A fresh moto with the template's tables and queues; `settings` go beside theirs."""
    import boto3
    from moto import mock_aws

    from engram import wiring
    from engram_local import moto_fixes
    from engram_local.resources import create_resources, function_environment

    moto_fixes.apply()
    with mock_aws():
        made = create_resources(
            boto3.client("dynamodb"), boto3.client("sqs"), prefix="engram-bench"
        )
        os.environ.update({**function_environment(made), **(settings or {})})
        wiring.reset()
        yield
