"""Powertools logger, tracer and metrics, configured by POWERTOOLS_* environment variables.

The tracer loads the X-Ray SDK and patches botocore, which alone costs more than our whole
cold-start budget at import; so it is built on first use and every Lambda entry point is
decorated on its first invocation (`lambda_entry`), not when its module is imported."""

from __future__ import annotations

import sys
import threading
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any, TypeVar

from aws_lambda_powertools import Logger, Metrics

logger = Logger(service="engram")
metrics = Metrics(namespace="Engram", service="engram")
# What Powertools' inject_lambda_context (and a correlation id path) put on every line.
_INVOCATION_KEYS = (
    "cold_start",
    "function_name",
    "function_memory_size",
    "function_arn",
    "function_request_id",
    "correlation_id",
)
_tallies = threading.local()  # per thread: the local stack runs workers beside the API
T = TypeVar("T")


@cache
def get_tracer() -> Any:
    from aws_lambda_powertools import Tracer

    return Tracer(service="engram")


def lambda_entry(
    handler: Callable[[dict, Any], Any], correlation_id_path: str | None = None
) -> Callable[[dict, Any], Any]:
    """`handler` with Powertools' context logging, tracing and metrics flushing, put on
    when it is first called."""

    def counted(event: dict, context: Any) -> Any:
        _tallies.counts = Counter()  # counts made outside an invocation are not this one's
        try:
            return handler(event, context)
        finally:
            _add_counts()

    @cache
    def observed() -> Callable[[dict, Any], Any]:
        # Most invocations (every API request) count nothing: not worth a warning in each
        # one's log. Set here, in a Lambda process, not when this module is imported.
        warnings.filterwarnings("ignore", message="No application metrics to publish")
        traced = get_tracer().capture_lambda_handler(metrics.log_metrics(counted))
        # clear_state: an invocation's lines never carry keys left by the one before
        return logger.inject_lambda_context(
            traced, correlation_id_path=correlation_id_path, clear_state=True
        )

    def lambda_handler(event: dict, context: Any) -> Any:
        try:
            return observed()(event, context)
        finally:
            # The invocation's context keys end with it: in the local stack the API logs in
            # the same process as the workers, and its lines named the last worker's function.
            logger.remove_keys(_INVOCATION_KEYS)

    lambda_handler.__doc__ = handler.__doc__
    return lambda_handler


def count(name: str) -> None:
    """One more `name` (a Count metric) in this invocation; `lambda_entry` adds each name
    once, with its total, when the invocation ends. Not `metrics.add_metric(value=1)` per
    record: Powertools keeps every value, so a batch of 50 sent 50 values, and at 100 values
    it prints a record mid-invocation even with POWERTOOLS_METRICS_DISABLED set."""
    tally = getattr(_tallies, "counts", None)
    if tally is None:
        tally = _tallies.counts = Counter()
    tally[name] += 1


def _add_counts() -> None:
    tally = getattr(_tallies, "counts", None) or {}
    _tallies.counts = None
    for name, total in tally.items():
        metrics.add_metric(name=name, unit="Count", value=total)


@contextmanager
def log_keys(**keys: Any) -> Iterator[None]:
    """`keys` on this thread's log lines until the block ends (one SQS record's ids). Not
    `append_keys`: those outlived the record, so the next invocation's first lines named the
    last record of the one before, and in the local stack, whose workers share the API's
    process, the API's lines named it too."""
    logger.thread_safe_append_keys(**keys)
    try:
        yield
    finally:
        logger.thread_safe_remove_keys(list(keys))


def in_current_trace(fn: Callable[..., T]) -> Callable[..., T]:
    """`fn`, to run on another thread inside this thread's X-Ray trace entity. The X-Ray SDK
    keeps the entity per thread, so a pool thread's boto3 calls would otherwise not nest
    under the invocation's subsegment. `fn` itself unless a Lambda trace is being recorded
    (the tracer loads the SDK; this never does)."""
    sdk, core = sys.modules.get("aws_xray_sdk"), sys.modules.get("aws_xray_sdk.core")
    if sdk is None or core is None or not sdk.global_sdk_config.sdk_enabled():
        return fn
    from aws_xray_sdk.core.lambda_launcher import LambdaContext

    recorder = core.xray_recorder
    if not isinstance(recorder.context, LambdaContext):  # elsewhere, no entity is an error log
        return fn
    entity = recorder.get_trace_entity()

    def traced(*args: Any, **kwargs: Any) -> T:
        recorder.set_trace_entity(entity)
        try:
            return fn(*args, **kwargs)
        finally:
            recorder.clear_trace_entities()

    return traced


def __getattr__(name: str) -> Any:
    if name == "tracer":  # `from engram.observability import tracer` still works, lazily
        return get_tracer()
    raise AttributeError(name)
