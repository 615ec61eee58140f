"""Ids, clock, keys, cursors, credentials and status rules: pure logic, no AWS."""

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engram import keys
from engram.auth import Principal, credential_from_headers
from engram.clock import FixedClock, iso, parse_iso
from engram.dynamo import decode_cursor, encode_cursor, from_dynamo, to_dynamo
from engram.errors import BadRequest, Forbidden, Unauthorized
from engram.ids import id_problem, is_valid_id, new_id
from engram.sessions.models import TRANSITIONS, sources_for


def test_new_ids_have_the_prefix_are_valid_unique_and_time_ordered():
    made = [new_id("sess") for _ in range(200)]
    assert all(i.startswith("sess_") and len(i) == 31 and is_valid_id(i) for i in made)
    assert len(set(made)) == 200
    assert [i[5:15] for i in made] == sorted(i[5:15] for i in made)


@pytest.mark.parametrize(
    "value, phrase",
    [
        ("", "empty"),
        ("x" * 256, "255"),
        ("a b", "letters"),
        ("é", "letters"),
        ("a/b", "letters"),
    ],
)
def test_id_problems_are_sentences(value, phrase):
    assert phrase in id_problem(value)


def test_good_ids_have_no_problem():
    assert id_problem("abc-DEF_1.2:3") is None and id_problem("x" * 255) is None


def test_iso_is_utc_with_millis_and_z_and_round_trips():
    moment = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    assert iso(moment) == "2026-01-02T03:04:05.678Z"
    assert parse_iso("2026-01-02T03:04:05.678Z") == moment.replace(microsecond=678000)
    assert parse_iso("2026-01-02T03:04:05").tzinfo is not None


def test_fixed_clock_moves_only_when_told():
    clock = FixedClock(datetime(2026, 1, 1, tzinfo=UTC))
    assert clock.now() == clock.now()
    clock.advance(minutes=5)
    assert iso(clock.now()) == "2026-01-01T00:05:00.000Z"


def test_keys_are_typed_prefixes():
    assert keys.session_key("s1") == {"PK": "SESSION#s1", "SK": "SESSION"}
    assert keys.workspace_key("w") == {"PK": "WS#w", "SK": "WS#w"}
    assert keys.sessions_by_agent("w", "a") == "WS#w#AGENT#a#SESSIONS"
    assert keys.session_sort("2026", "s") == "2026#s"


def test_cursor_round_trips_and_refuses_other_partitions():
    key = {"GSI1PK": "WS#w#SESSIONS", "GSI1SK": "t#s", "PK": "SESSION#s", "SK": "SESSION"}
    assert decode_cursor(encode_cursor(key), "GSI1PK", "WS#w#SESSIONS") == key
    with pytest.raises(BadRequest):
        decode_cursor(encode_cursor(key), "GSI1PK", "WS#other#SESSIONS")
    for garbage in ("%%%", "bm90IGpzb24", encode_cursor({"GSI1PK": "WS#w#SESSIONS", "n": 1})):
        with pytest.raises(BadRequest):
            decode_cursor(garbage, "GSI1PK", "WS#w#SESSIONS")


def test_dynamo_values_round_trip_floats_and_ints():
    value = {"a": 0.5, "b": [1, 2.25], "c": {"d": 3}}
    assert from_dynamo(to_dynamo(value)) == value


@pytest.mark.parametrize(
    "headers, expected",
    [
        ({"authorization": "Bearer ek_abc"}, "ek_abc"),
        ({"authorization": "bearer   ek_abc  "}, "ek_abc"),
        ({"authorization": "Token ek_abc"}, "ek_abc"),
        ({"x-api-key": "ek_abc"}, "ek_abc"),
    ],
)
def test_credentials_in_the_three_accepted_forms(headers, expected):
    assert credential_from_headers(headers) == expected


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"authorization": "Basic abc"},
        {"authorization": "Bearer "},
        {"authorization": "ek_abc"},
    ],
)
def test_anything_else_is_unauthorized(headers):
    with pytest.raises(Unauthorized):
        credential_from_headers(headers)


def test_scopes_imply_lesser_scopes():
    admin = Principal("w", "k", frozenset({"admin"}))
    admin.require("read"), admin.require("write"), admin.require("admin")
    reader = Principal("w", "k", frozenset({"read"}))
    reader.require("read")
    with pytest.raises(Forbidden):
        reader.require("write")


def test_status_moves_follow_api_md():
    assert TRANSITIONS["created"] == {"active", "paused", "completed", "failed"}
    assert TRANSITIONS["active"] == {"paused", "completed", "failed"}
    assert TRANSITIONS["paused"] == {"active", "completed", "failed"}
    assert not TRANSITIONS["completed"] and not TRANSITIONS["failed"]
    assert sources_for("active") == ["active", "created", "paused"]
    assert sources_for("paused") == ["active", "created", "paused"]
    assert sources_for("completed") == ["active", "created", "paused"]
    assert sources_for("created") == ["created"]


def test_ids_made_in_one_millisecond_keep_their_order():
    made = [new_id("mem") for _ in range(1000)]
    assert made == sorted(made) and len(set(made)) == 1000


def test_send_many_batches_ten_at_a_time_in_order_and_raises_on_a_refused_message():
    import boto3
    from botocore.stub import Stubber

    from engram.queues import SqsQueues

    sqs = boto3.client(
        "sqs", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    queues = SqsQueues(sqs, {"embed": "https://sqs.example/embed"})
    bodies = [{"n": i} for i in range(12)]
    with Stubber(sqs) as stub:
        for chunk in (bodies[:10], bodies[10:]):
            entries = [
                {"Id": str(i), "MessageBody": f'{{"n": {b["n"]}}}'} for i, b in enumerate(chunk)
            ]
            successful = [
                {"Id": e["Id"], "MessageId": f"m{b['n']}", "MD5OfMessageBody": "x"}
                for e, b in reversed(list(zip(entries, chunk, strict=False)))
            ]  # any order back
            stub.add_response(
                "send_message_batch",
                {"Successful": successful, "Failed": []},
                {"QueueUrl": "https://sqs.example/embed", "Entries": entries},
            )
        assert queues.send_many("embed", bodies) == [f"m{i}" for i in range(12)]
        stub.add_response(
            "send_message_batch",
            {
                "Successful": [],
                "Failed": [
                    {
                        "Id": "0",
                        "SenderFault": False,
                        "Code": "InternalError",
                        "Message": "try later",
                    }
                ],
            },
        )
        with pytest.raises(
            RuntimeError, match="Not all 1 messages were queued on embed: InternalError"
        ):
            queues.send_many("embed", [{"n": 0}])
        stub.add_response(
            "send_message_batch",
            {
                "Successful": [{"Id": "1", "MessageId": "m1", "MD5OfMessageBody": "x"}],
                "Failed": [
                    {"Id": "0", "SenderFault": True, "Code": "Throttled", "Message": "slow down"}
                ],
            },
        )
        stub.add_client_error("send_message_batch", "AWS.SimpleQueueService.NonExistentQueue")
        each = queues.send_each("embed", bodies)  # every chunk tried, each body answered
        # 0 refused, 1 sent, 2-9 unanswered; the second call (10, 11) failed as a whole.
        assert [type(o).__name__ for o in each] == (
            ["RuntimeError", "str"] + ["RuntimeError"] * 8 + ["ClientError"] * 2
        )
        assert "Throttled: slow down" in str(each[0]) and each[1] == "m1"
        stub.assert_no_pending_responses()


_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.text(max_size=5)
    | st.integers(min_value=-(10**45), max_value=10**45)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from([10**38, 10**38 - 1, 10**40, 1e125, 1e126, 1e-130, 1e-131, 5e-324]),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=3), children, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=400, deadline=None, derandomize=True, database=None)
@given(st.dictionaries(st.text(max_size=4), _json_values, max_size=4))
def test_metadata_that_passes_validation_can_always_be_written(value):
    """The validator and boto3's serializer agree: what the API accepts never fails to store
    (a refused write after validation is a 500), and what it refuses has a sentence."""
    from boto3.dynamodb.types import TypeSerializer

    from engram.validation import _check_metadata

    try:
        _check_metadata(value)
    except ValueError as exc:
        assert str(exc)
        return
    TypeSerializer().serialize(to_dynamo(value))
