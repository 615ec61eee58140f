"""Powertools logger, tracer and metrics, configured by POWERTOOLS_* environment variables.

The tracer loads the X-Ray SDK and patches botocore, which alone costs more than our whole
cold-start budget at import; so it is built on first use and every Lambda entry point is
decorated on its first invocation (`lambda_entry`), not when its module is imported."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics

logger = Logger(service="engram")
metrics = Metrics(namespace="Engram", service="engram")


@cache
def get_tracer() -> Any:
    from aws_lambda_powertools import Tracer

    return Tracer(service="engram")


def lambda_entry(handler: Callable[[dict, Any], Any],
                 correlation_id_path: str | None = None) -> Callable[[dict, Any], Any]:
    """`handler` with Powertools' context logging, tracing and metrics flushing, put on
    when it is first called."""

    @cache
    def observed() -> Callable[[dict, Any], Any]:
        traced = get_tracer().capture_lambda_handler(metrics.log_metrics(handler))
        # clear_state: an invocation's lines never carry keys left by the one before
        return logger.inject_lambda_context(traced, correlation_id_path=correlation_id_path,
                                            clear_state=True)

    def lambda_handler(event: dict, context: Any) -> Any:
        return observed()(event, context)

    lambda_handler.__doc__ = handler.__doc__
    return lambda_handler


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


def __getattr__(name: str) -> Any:
    if name == "tracer":  # `from engram.observability import tracer` still works, lazily
        return get_tracer()
    raise AttributeError(name)
