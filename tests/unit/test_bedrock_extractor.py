"""BedrockExtractor on a real bedrock-runtime client with botocore's Stubber: the request
shape, parsing the forced tool call, strict validation with one retry, and errors."""

from __future__ import annotations

import copy

import boto3
import pytest
from botocore.stub import ANY, Stubber

from engram.adapters.bedrock_extractor import (
    EXTRACTION_SCHEMA,
    TOOL_NAME,
    BedrockExtractor,
    transcript,
)
from engram.extraction.extractor import Candidate, Episode, ExtractionError, Extractor

MODEL = "anthropic.claude-3-5-haiku-20241022-v1:0"
EPISODES = [
    Episode("mem_1", "user", "Let's go with Postgres 16 for the ledger.", "2025-03-04T09:00:00Z"),
    Episode("mem_2", "assistant", "Noted. I'll write the migration.", "2025-03-04T09:01:00Z"),
    Episode("mem_3", "user", "I prefer UUIDv7 primary keys.", "2025-03-04T09:02:00Z"),
]
GOOD = {
    "summary": "The user chose Postgres 16 for the ledger and asked for UUIDv7 keys.",
    "memories": [
        {
            "memory_type": "decision",
            "title": "Postgres 16 for the ledger",
            "content": "The team chose Postgres 16 for the ledger.",
            "importance_score": 0.9,
            "tags": ["database"],
            "source_ids": ["mem_1"],
        },
        {
            "memory_type": "preference",
            "title": "UUIDv7 primary keys",
            "content": "The user prefers UUIDv7 primary keys.",
            "importance_score": 0.8,
            "tags": [],
            "source_ids": ["mem_3", "mem_3"],
        },
    ],
}


@pytest.fixture
def stubbed():
    client = boto3.client("bedrock-runtime", region_name="us-east-1")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def tool_answer(tool_input, stop="tool_use") -> dict:
    return {
        "output": {
            "message": {
                "role": "assistant",
                "content": [
                    {"toolUse": {"toolUseId": "tooluse_1", "name": TOOL_NAME, "input": tool_input}},
                ],
            }
        },
        "stopReason": stop,
        "usage": {"inputTokens": 100, "outputTokens": 50, "totalTokens": 150},
        "metrics": {"latencyMs": 900},
    }


def text_answer(text: str) -> dict:
    return {
        "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
        "stopReason": "end_turn",
        "usage": {"inputTokens": 100, "outputTokens": 50, "totalTokens": 150},
        "metrics": {"latencyMs": 900},
    }


EXPECTED_REQUEST = {
    "modelId": MODEL,
    "system": ANY,
    "messages": ANY,
    "toolConfig": {
        "tools": [
            {
                "toolSpec": {
                    "name": TOOL_NAME,
                    "description": ANY,
                    "inputSchema": {"json": EXTRACTION_SCHEMA},
                }
            }
        ],
        "toolChoice": {"tool": {"name": TOOL_NAME}},
    },
    "inferenceConfig": ANY,
}


def test_good_tool_output_is_parsed(stubbed):
    client, stubber = stubbed
    stubber.add_response("converse", tool_answer(GOOD), EXPECTED_REQUEST)
    extractor = BedrockExtractor(MODEL, client=client)
    result = extractor.extract(EPISODES)
    assert isinstance(extractor, Extractor) and extractor.name == f"bedrock:{MODEL}"
    assert result.summary == GOOD["summary"]
    assert result.memories == (
        Candidate(
            "decision",
            "Postgres 16 for the ledger",
            "The team chose Postgres 16 for the ledger.",
            0.9,
            ("database",),
            ("mem_1",),
        ),
        Candidate(
            "preference",
            "UUIDv7 primary keys",
            "The user prefers UUIDv7 primary keys.",
            0.8,
            (),
            ("mem_3",),
        ),
    )


def test_request_carries_the_transcript_the_schema_and_the_client_summary(stubbed):
    client, stubber = stubbed
    captured = {}
    client.meta.events.register(
        "provide-client-params.bedrock-runtime.Converse",
        lambda params, **_: captured.update(copy.deepcopy(params)),
    )
    stubber.add_response("converse", tool_answer(GOOD), EXPECTED_REQUEST)
    BedrockExtractor(MODEL, client=client).extract(list(reversed(EPISODES)), "Ledger set-up.")
    assert captured["modelId"] == MODEL
    assert captured["toolConfig"]["toolChoice"] == {"tool": {"name": TOOL_NAME}}
    schema = captured["toolConfig"]["tools"][0]["toolSpec"]["inputSchema"]["json"]
    item = schema["properties"]["memories"]["items"]
    assert item["properties"]["memory_type"]["enum"] == [
        "decision",
        "preference",
        "pattern",
        "fact",
        "entity",
    ]
    assert set(item["required"]) >= {
        "memory_type",
        "title",
        "content",
        "importance_score",
        "tags",
        "source_ids",
    }
    assert captured["inferenceConfig"]["temperature"] == 0.0
    text = captured["messages"][0]["content"][0]["text"]
    assert "Ledger set-up." in text
    assert text.index("[mem_1] user") < text.index("[mem_2] assistant") < text.index("[mem_3]")
    assert "left out" not in text
    assert "record_extraction" in captured["system"][0]["text"]


def test_memories_citing_unknown_messages_are_dropped(stubbed):
    client, stubber = stubbed
    answer = copy.deepcopy(GOOD)
    answer["memories"][0]["source_ids"] = ["mem_made_up"]
    answer["memories"][1]["source_ids"] = ["mem_made_up", "mem_3"]
    stubber.add_response("converse", tool_answer(answer))
    result = BedrockExtractor(MODEL, client=client).extract(EPISODES)
    assert [(m.memory_type, m.source_ids) for m in result.memories] == [("preference", ("mem_3",))]


def broken(change) -> dict:
    answer = copy.deepcopy(GOOD)
    change(answer)
    return answer


MALFORMED = {
    "missing field": tool_answer(broken(lambda a: a["memories"][0].pop("content"))),
    "missing summary": tool_answer(broken(lambda a: a.pop("summary"))),
    "wrong type": tool_answer(broken(lambda a: a["memories"][0].update(importance_score="high"))),
    "out of range": tool_answer(broken(lambda a: a["memories"][0].update(importance_score=1.5))),
    "unknown type": tool_answer(broken(lambda a: a["memories"][0].update(memory_type="opinion"))),
    "long title": tool_answer(broken(lambda a: a["memories"][0].update(title="x" * 121))),
    "tags not strings": tool_answer(broken(lambda a: a["memories"][0].update(tags=[1, 2]))),
    "memories not a list": tool_answer(broken(lambda a: a.update(memories="none"))),
    "text instead of toolUse": text_answer('{"summary": "...", "memories": []}'),
    "cut off": tool_answer(GOOD, stop="max_tokens"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_output_is_retried_then_a_clear_error(stubbed, case):
    client, stubber = stubbed
    stubber.add_response("converse", MALFORMED[case])
    stubber.add_response("converse", MALFORMED[case])
    with pytest.raises(ExtractionError) as caught:
        BedrockExtractor(MODEL, client=client, max_attempts=2).extract(EPISODES)
    assert caught.value.retryable is False
    message = str(caught.value)
    assert MODEL in message and "malformed" in message and "2 time" in message


def test_a_malformed_answer_then_a_good_one_succeeds_and_the_retry_says_why(stubbed):
    client, stubber = stubbed
    captured = []
    client.meta.events.register(
        "provide-client-params.bedrock-runtime.Converse",
        lambda params, **_: captured.append(copy.deepcopy(params)),
    )
    stubber.add_response("converse", MALFORMED["unknown type"])
    stubber.add_response("converse", tool_answer(GOOD))
    result = BedrockExtractor(MODEL, client=client).extract(EPISODES)
    assert len(result.memories) == 2
    retry = captured[1]["messages"][0]["content"]
    assert len(retry) == 2 and "opinion" in retry[1]["text"]


def test_throttling_is_a_retryable_error(stubbed):
    client, stubber = stubbed
    stubber.add_client_error(
        "converse",
        service_error_code="ThrottlingException",
        service_message="Too many requests",
        http_status_code=429,
    )
    with pytest.raises(ExtractionError) as caught:
        BedrockExtractor(MODEL, client=client).extract(EPISODES)
    assert caught.value.retryable is True
    assert "ThrottlingException" in str(caught.value)


def test_a_refused_request_is_not_retryable(stubbed):
    client, stubber = stubbed
    stubber.add_client_error(
        "converse",
        service_error_code="AccessDeniedException",
        service_message="No access to the model",
        http_status_code=403,
    )
    with pytest.raises(ExtractionError) as caught:
        BedrockExtractor(MODEL, client=client).extract(EPISODES)
    assert caught.value.retryable is False


def test_no_episodes_makes_no_call(stubbed):
    client, _ = stubbed  # no response queued: a call would fail the test
    result = BedrockExtractor(MODEL, client=client).extract([], "Nothing happened.")
    assert result.summary == "Nothing happened." and result.memories == ()


def test_a_long_session_sends_its_newest_messages_and_says_so(stubbed):
    client, stubber = stubbed
    captured = {}
    client.meta.events.register(
        "provide-client-params.bedrock-runtime.Converse",
        lambda params, **_: captured.update(copy.deepcopy(params)),
    )
    many = [
        Episode(
            f"mem_{i:03d}",
            "user",
            f"Message number {i} " + "x" * 80,
            f"2025-03-04T09:{i // 60:02d}:{i % 60:02d}Z",
        )
        for i in range(100)
    ]
    stubber.add_response("converse", tool_answer({"summary": "Long.", "memories": []}))
    BedrockExtractor(MODEL, client=client, max_transcript_chars=2000).extract(many)
    text = captured["messages"][0]["content"][0]["text"]
    assert "[mem_099]" in text and "[mem_000]" not in text
    assert "oldest message(s) were left out" in text
    body = text.split("<transcript>\n", 1)[1].split("\n</transcript>", 1)[0]
    assert len(body) <= 2000


def test_transcript_cuts_a_single_huge_message_to_the_budget():
    lines, left_out = transcript([Episode("m", "user", "y" * 10_000, "2025-01-01T00:00:00Z")], 500)
    assert left_out == 0 and len(lines) == 1 and len(lines[0]) <= 500
