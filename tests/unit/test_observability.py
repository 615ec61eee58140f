"""Log context: a record's keys stay on its own lines, and no invocation inherits keys."""

import io
import json
import os
import subprocess
import sys
import threading
from types import SimpleNamespace

import pytest

from engram.observability import in_current_trace, lambda_entry, log_keys, logger


@pytest.fixture
def captured():
    """The logger's JSON lines: its handler writes to the stdout it found at import."""
    handler, level, stream = logger.registered_handler, logger.log_level, io.StringIO()
    previous = handler.setStream(stream)
    logger.setLevel("INFO")
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    handler.setStream(previous)
    logger.setLevel(level)


def _context(request_id: str) -> SimpleNamespace:
    return SimpleNamespace(
        function_name="f",
        function_version="1",
        memory_limit_in_mb=128,
        invoked_function_arn="arn:aws:lambda:us-east-1:1:function:f",
        aws_request_id=request_id,
        log_group_name="g",
        log_stream_name="s",
        get_remaining_time_in_millis=lambda: 1000,
    )


def test_a_records_keys_are_on_its_lines_only(captured):
    with log_keys(memory_id="mem_a", workspace_id="ws_a"):
        logger.info("inside")
    logger.info("after")
    inside, after = captured()
    assert inside["memory_id"] == "mem_a" and inside["workspace_id"] == "ws_a"
    assert "memory_id" not in after and "workspace_id" not in after


def test_a_records_keys_are_not_on_another_threads_lines(captured):
    entered, done = threading.Event(), threading.Event()

    def record() -> None:
        with log_keys(memory_id="mem_b"):
            entered.set()
            done.wait(5)

    worker = threading.Thread(target=record)
    worker.start()
    assert entered.wait(5)
    logger.info("the API's line")
    done.set()
    worker.join(5)
    (line,) = captured()
    assert "memory_id" not in line


def test_keys_appended_in_one_invocation_are_gone_in_the_next(captured, monkeypatch):
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")

    def handler(event: dict, context) -> None:
        logger.info("start")
        if event.get("append"):
            logger.append_keys(left_over="yes")

    entry = lambda_entry(handler)
    entry({"append": True}, _context("r1"))
    entry({}, _context("r2"))
    first, second = captured()
    assert first["function_request_id"] == "r1" and "left_over" not in first
    assert second["function_request_id"] == "r2" and "left_over" not in second


def test_a_line_logged_after_an_invocation_names_no_function(captured, monkeypatch):
    """The local stack's API logs in the process its workers run in."""
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    lambda_entry(lambda event, context: logger.info("inside"))({}, _context("r3"))
    logger.info("outside")
    inside, outside = captured()
    assert inside["function_name"] == "f" and inside["function_request_id"] == "r3"
    assert not {"function_name", "function_request_id", "cold_start"} & set(outside)


def _emf_records(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith('{"_aws"')]


def _counting_handler(times: int):
    from engram.observability import count

    def handler(event, context):
        for _ in range(times):
            count("Thing")
        count("Other")
        return "ok"

    return lambda_entry(handler)


def test_counts_are_one_metric_value_per_name_per_invocation(capsys, monkeypatch):
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    monkeypatch.delenv("POWERTOOLS_DEV", raising=False)
    handler = _counting_handler(150)
    assert handler({}, _context("req-1")) == "ok"
    (record,) = _emf_records(capsys.readouterr().out)
    assert record["Thing"] in (150.0, [150.0]) and record["Other"] in (1.0, [1.0])
    handler({}, _context("req-2"))  # a new invocation starts from zero
    (record,) = _emf_records(capsys.readouterr().out)
    assert record["Thing"] in (150.0, [150.0])


def test_disabled_metrics_print_nothing_however_many_counts(capsys, monkeypatch):
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    _counting_handler(150)({}, _context("req-3"))
    assert _emf_records(capsys.readouterr().out) == []


def test_an_invocation_that_counts_nothing_logs_no_warning():
    """In a fresh process, as in Lambda (pytest resets warning filters for each test)."""
    probe = (
        "from engram_local.pump import LambdaContext\n"
        "from engram.observability import lambda_entry\n"
        "ctx = LambdaContext('f', 'arn:aws:lambda:us-east-1:1:function:f', 128, 3)\n"
        "print(lambda_entry(lambda event, context: 'ok')({}, ctx))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("POWERTOOLS_METRICS")}
    env["POWERTOOLS_TRACE_DISABLED"] = "true"
    out = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    assert out.stdout.strip().endswith("ok")
    assert "No application metrics" not in out.stderr


def _entity_on_another_thread(fn):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(fn).result()


def test_another_thread_records_inside_the_invocations_trace_entity(lambda_trace):
    from aws_xray_sdk.core import xray_recorder

    # Without it, X-Ray's per-thread state gives the pool thread a segment of its own.
    assert _entity_on_another_thread(xray_recorder.get_trace_entity) is not lambda_trace
    traced = in_current_trace(xray_recorder.get_trace_entity)
    assert _entity_on_another_thread(traced) is lambda_trace
    assert xray_recorder.get_trace_entity() is lambda_trace  # the calling thread's is untouched


def test_without_a_lambda_trace_the_function_is_returned_as_is():
    def fn():
        return 1

    assert in_current_trace(fn) is fn
