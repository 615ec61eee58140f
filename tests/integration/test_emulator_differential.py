"""The emulator's patch set (engram_local.moto_fixes) against moto as it is: the same request
sequence (DynamoDB put/get/query/scan/update/transact and their conditional failures, SQS
send/receive/delete/visibility) gets the same answers from patched and unpatched moto, in
process (`mock_aws`) and through the emulator's HTTP endpoint; the patches apply to the pinned
moto only, and are undone when the emulator that applied them stops."""

from __future__ import annotations

import re
import socket
import tomllib
import urllib.request
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from engram_local import moto_fixes
from engram_local.emulator import start_emulator

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
TABLE = "diff-table"
# Values moto makes up per run (ids, handles, clocks): compared by their order of appearance.
MADE_UP = {"MessageId", "ReceiptHandle", "SequenceNumber"}
CLOCKS = {
    "SentTimestamp",
    "ApproximateFirstReceiveTimestamp",
    "CreatedTimestamp",
    "LastModifiedTimestamp",
    "CreationDateTime",
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- the request sequence ---------------------------------------------------------------------


class Recorder:
    """Each call's answer, or its error's code and message; nothing moto made up."""

    def __init__(self) -> None:
        self.answers: list[Any] = []
        self._seen: dict[str, int] = {}

    def __call__(self, call: Any, **params: Any) -> Any:
        try:
            response = call(**params)
        except ClientError as error:
            answer = {
                "error": error.response["Error"].get("Code"),
                "message": error.response["Error"].get("Message"),
                "reasons": error.response.get("CancellationReasons"),
            }
            self.answers.append(self._plain(answer))
            return None
        self.answers.append(self._plain(response))
        return response

    def _plain(self, value: Any, key: str = "") -> Any:
        if isinstance(value, dict):
            return {
                k: self._plain(v, k) for k, v in sorted(value.items()) if k != "ResponseMetadata"
            }
        if isinstance(value, list):
            return [self._plain(v) for v in value]
        if key in CLOCKS:
            return "<clock>"
        if key in MADE_UP:
            return f"{key}#{self._seen.setdefault(f'{key}:{value}', len(self._seen))}"
        if key == "QueueUrl" or (isinstance(value, str) and value.startswith("http")):
            return value.rsplit("/", 1)[-1]  # the emulator's host or moto's, the same queue
        return value


def _dynamodb(db: Any, record: Recorder) -> None:
    db.create_table(
        TableName=TABLE,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": name, "AttributeType": "S"} for name in ("PK", "SK", "GPK", "GSK")
        ],
        KeySchema=[
            {"AttributeName": "PK", "KeyType": "HASH"},
            {"AttributeName": "SK", "KeyType": "RANGE"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "GSI",
                "KeySchema": [
                    {"AttributeName": "GPK", "KeyType": "HASH"},
                    {"AttributeName": "GSK", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )
    t = {"TableName": TABLE}
    for p in range(3):
        for s in range(4):
            record(
                db.put_item,
                **t,
                Item={
                    "PK": {"S": f"P#{p}"},
                    "SK": {"S": f"S#{s}"},
                    "GPK": {"S": f"G#{s % 2}"},
                    "GSK": {"S": f"{p}-{s}"},
                    "n": {"N": str(p * 10 + s)},
                    "b": {"B": bytes([p, s, 255])},
                    "flag": {"BOOL": s % 2 == 0},
                    "nothing": {"NULL": True},
                    "tags": {"SS": ["a", f"t{s}"]},
                    "nums": {"NS": ["1", str(s + 2)]},
                    "list": {"L": [{"S": "x"}, {"N": "1.50"}]},
                    "map": {"M": {"k": {"S": "v"}, "deep": {"M": {"n": {"N": "3"}}}}},
                },
            )
    key = {"PK": {"S": "P#1"}, "SK": {"S": "S#2"}}
    record(db.get_item, **t, Key=key)
    record(db.get_item, **t, Key={"PK": {"S": "P#9"}, "SK": {"S": "S#0"}})
    record(
        db.get_item,
        **t,
        Key=key,
        ProjectionExpression="n, #m.deep",
        ExpressionAttributeNames={"#m": "map"},
    )
    record(db.get_item, TableName="no-such-table", Key=key)
    # queries: the base table's partition, backwards, paged, filtered; the index
    page = record(
        db.query,
        **t,
        KeyConditionExpression="PK = :p AND begins_with(SK, :s)",
        ExpressionAttributeValues={":p": {"S": "P#2"}, ":s": {"S": "S#"}},
        ScanIndexForward=False,
        Limit=3,
    )
    record(
        db.query,
        **t,
        KeyConditionExpression="PK = :p",
        ExpressionAttributeValues={":p": {"S": "P#2"}},
        ScanIndexForward=False,
        Limit=3,
        ExclusiveStartKey=page["LastEvaluatedKey"],
    )
    record(
        db.query,
        **t,
        KeyConditionExpression="PK = :p AND SK BETWEEN :a AND :b",
        FilterExpression="n > :n OR contains(tags, :t)",
        ExpressionAttributeValues={
            ":p": {"S": "P#0"},
            ":a": {"S": "S#1"},
            ":b": {"S": "S#3"},
            ":n": {"N": "2"},
            ":t": {"S": "t1"},
        },
    )
    record(
        db.query,
        **t,
        IndexName="GSI",
        KeyConditionExpression="GPK = :g",
        ExpressionAttributeValues={":g": {"S": "G#1"}},
    )
    record(
        db.query,
        **t,
        IndexName="GSI",
        KeyConditionExpression="GPK = :g AND GSK > :k",
        ExpressionAttributeValues={":g": {"S": "G#0"}, ":k": {"S": "1"}},
        ScanIndexForward=False,
        Limit=2,
        Select="COUNT",
    )
    record(db.query, **t, KeyConditionExpression="PK = :p")  # a missing value: an error
    record(
        db.scan,
        **t,
        FilterExpression="flag = :f AND attribute_exists(#m.deep)",
        ExpressionAttributeNames={"#m": "map"},
        ExpressionAttributeValues={":f": {"BOOL": True}},
    )
    record(
        db.batch_get_item,
        RequestItems={TABLE: {"Keys": [key, {"PK": {"S": "P#0"}, "SK": {"S": "S#0"}}]}},
    )
    # updates: the direct path's shapes, moto's own, and their errors
    for params in (
        {
            "UpdateExpression": "SET n = :v, #s = :s REMOVE nothing ADD hits :one",
            "ExpressionAttributeNames": {"#s": "status"},
            "ExpressionAttributeValues": {
                ":v": {"N": "7"},
                ":s": {"S": "done"},
                ":one": {"N": "1"},
            },
            "ReturnValues": "ALL_NEW",
        },
        {
            "UpdateExpression": "ADD hits :one",
            "ExpressionAttributeValues": {":one": {"N": "2"}},
            "ReturnValues": "UPDATED_OLD",
        },
        {
            "UpdateExpression": "SET #l = list_append(#l, :x), #m.k = :v",
            "ExpressionAttributeNames": {"#l": "list", "#m": "map"},
            "ExpressionAttributeValues": {":x": {"L": [{"S": "y"}]}, ":v": {"S": "w"}},
            "ReturnValues": "UPDATED_NEW",
        },
        {
            "UpdateExpression": "SET n = :v",
            "ConditionExpression": "n = :old",
            "ExpressionAttributeValues": {":v": {"N": "1"}, ":old": {"N": "999"}},
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        },
        {
            "UpdateExpression": "SET n = :v",
            "ConditionExpression": "attribute_not_exists(PK)",
            "ExpressionAttributeValues": {":v": {"N": "1"}},
        },
        {"UpdateExpression": "SET size = :v", "ExpressionAttributeValues": {":v": {"N": "1"}}},
        {"UpdateExpression": "SET n = :v = :v", "ExpressionAttributeValues": {":v": {"N": "1"}}},
        {"UpdateExpression": "SET SK = :v", "ExpressionAttributeValues": {":v": {"S": "x"}}},
        {"UpdateExpression": "SET GPK = :v", "ExpressionAttributeValues": {":v": {"S": "G#9"}}},
        {
            "UpdateExpression": "ADD #s :one",
            "ExpressionAttributeNames": {"#s": "status"},
            "ExpressionAttributeValues": {":one": {"N": "1"}},
        },
        {"UpdateExpression": "SET n = :missing", "ExpressionAttributeValues": {":v": {"N": "1"}}},
        {"UpdateExpression": "SET n = :v, n = :v", "ExpressionAttributeValues": {":v": {"N": "1"}}},
        {
            "UpdateExpression": "SET e = :v",
            "ExpressionAttributeValues": {":v": {"S": ""}},
            "ReturnValues": "ALL_NEW",
        },
    ):
        record(db.update_item, **t, Key=key, **params)
    record(
        db.update_item,
        **t,
        Key={"PK": {"S": "P#7"}, "SK": {"S": "S#0"}},  # no such item: the update makes it
        UpdateExpression="SET n = :v REMOVE gone",
        ExpressionAttributeValues={":v": {"N": "5"}},
        ReturnValues="ALL_NEW",
    )
    record(db.get_item, **t, Key=key)
    record(
        db.put_item,
        **t,
        Item={**key, "n": {"N": "0"}},
        ConditionExpression="attribute_not_exists(PK)",
    )
    record(db.put_item, **t, Item={**key, "big": {"S": "x" * 410_000}})
    # transactions: one that commits, one cancelled (and rolled back), one malformed
    other = {"PK": {"S": "P#0"}, "SK": {"S": "S#1"}}
    gone = {"PK": {"S": "P#2"}, "SK": {"S": "S#3"}}
    record(
        db.transact_write_items,
        TransactItems=[
            {"Put": {**t, "Item": {"PK": {"S": "T#1"}, "SK": {"S": "A"}, "n": {"N": "1"}}}},
            {
                "Update": {
                    **t,
                    "Key": other,
                    "UpdateExpression": "SET n = n + :one, tags = :t",
                    "ExpressionAttributeValues": {":one": {"N": "1"}, ":t": {"SS": ["z"]}},
                }
            },
            {"Delete": {**t, "Key": gone}},
            {
                "ConditionCheck": {
                    **t,
                    "Key": key,
                    "ConditionExpression": "attribute_exists(PK)",
                }
            },
        ],
    )
    record(
        db.transact_write_items,
        TransactItems=[
            {"Put": {**t, "Item": {"PK": {"S": "T#2"}, "SK": {"S": "A"}}}},
            {
                "Update": {
                    **t,
                    "Key": other,
                    "UpdateExpression": "SET n = :v REMOVE tags",
                    "ExpressionAttributeValues": {":v": {"N": "100"}},
                }
            },
            {
                "Put": {
                    **t,
                    "Item": {**key, "n": {"N": "0"}},
                    "ConditionExpression": "attribute_not_exists(PK)",
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            },
        ],
    )
    record(
        db.transact_write_items,
        TransactItems=[
            {"Put": {**t, "Item": {"PK": {"S": "T#3"}, "SK": {"S": "A"}}}},
            {"Put": {**t, "Item": {"PK": {"M": {"S": {"S": "x"}}}, "SK": {"S": "A"}}}},
        ],
    )
    record(
        db.delete_item,
        **t,
        Key=other,
        ConditionExpression="n = :n",
        ExpressionAttributeValues={":n": {"N": "0"}},
    )
    record(
        db.delete_item,
        **t,
        Key=other,
        ConditionExpression="n = :n",
        ExpressionAttributeValues={":n": {"N": "2"}},
        ReturnValues="ALL_OLD",
    )
    record(db.scan, **t)  # everything as it ends


def _sqs(sqs: Any, record: Recorder) -> None:
    url = record(sqs.create_queue, QueueName="diff-queue", Attributes={"VisibilityTimeout": "30"})[
        "QueueUrl"
    ]
    for body in ("one", "two", "three"):
        record(
            sqs.send_message,
            QueueUrl=url,
            MessageBody=body,
            MessageAttributes={"kind": {"DataType": "String", "StringValue": body}},
        )
    record(
        sqs.send_message_batch,
        QueueUrl=url,
        Entries=[{"Id": f"e{i}", "MessageBody": f"batch {i}"} for i in range(3)],
    )
    everything = {"AttributeNames": ["All"]}
    record(sqs.get_queue_attributes, QueueUrl=url, **everything)
    first = record(
        sqs.receive_message,
        QueueUrl=url,
        MaxNumberOfMessages=4,
        MessageSystemAttributeNames=["All"],
        MessageAttributeNames=["All"],
    )
    record(sqs.receive_message, QueueUrl=url, MaxNumberOfMessages=10)
    record(sqs.receive_message, QueueUrl=url, MaxNumberOfMessages=10)  # all in flight
    record(sqs.get_queue_attributes, QueueUrl=url, **everything)
    handles = [m["ReceiptHandle"] for m in first["Messages"]]
    record(
        sqs.change_message_visibility, QueueUrl=url, ReceiptHandle=handles[0], VisibilityTimeout=0
    )
    record(sqs.delete_message, QueueUrl=url, ReceiptHandle=handles[1])
    record(sqs.delete_message, QueueUrl=url, ReceiptHandle="not-a-handle")
    record(
        sqs.change_message_visibility_batch,
        QueueUrl=url,
        Entries=[{"Id": "a", "ReceiptHandle": handles[2], "VisibilityTimeout": 0}],
    )
    record(
        sqs.receive_message,
        QueueUrl=url,
        MaxNumberOfMessages=10,
        MessageSystemAttributeNames=["ApproximateReceiveCount"],
    )
    record(sqs.get_queue_attributes, QueueUrl=url, **everything)
    fifo = record(
        sqs.create_queue,
        QueueName="diff.fifo",
        Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"},
    )["QueueUrl"]
    for body in ("a", "b", "a"):  # the second "a" is a duplicate
        record(sqs.send_message, QueueUrl=fifo, MessageBody=body, MessageGroupId="g")
    record(sqs.send_message, QueueUrl=fifo, MessageBody="c")  # no group: an error
    record(sqs.get_queue_attributes, QueueUrl=fifo, **everything)
    received = record(
        sqs.receive_message,
        QueueUrl=fifo,
        MaxNumberOfMessages=10,
        MessageSystemAttributeNames=["All"],
    )
    record(
        sqs.delete_message_batch,
        QueueUrl=fifo,
        Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
            for i, m in enumerate(received["Messages"])
        ],
    )
    record(sqs.get_queue_attributes, QueueUrl=fifo, **everything)
    record(sqs.get_queue_url, QueueName="no-such-queue")


def run_sequence(dynamodb: Any, sqs: Any) -> list[Any]:
    record = Recorder()
    _dynamodb(dynamodb, record)
    _sqs(sqs, record)
    return record.answers


# --- the worlds -------------------------------------------------------------------------------


def in_mock(patched: bool) -> list[Any]:
    from moto import mock_aws

    with moto_fixes.applied() if patched else nullcontext(False) as applied, mock_aws():
        assert applied is patched and bool(moto_fixes.targets()) is patched
        return run_sequence(
            boto3.client("dynamodb", region_name=REGION, **CREDENTIALS),
            boto3.client("sqs", region_name=REGION, **CREDENTIALS),
        )


def in_emulator(patched: bool) -> list[Any]:
    emulator = start_emulator(_free_port(), prefix="engram-diff", fixes=patched)
    try:
        assert bool(moto_fixes.targets()) is patched
        return run_sequence(emulator.client("dynamodb"), emulator.client("sqs"))
    finally:
        # moto's state is the process's: the next emulator starts from nothing, like this one
        reset = urllib.request.Request(f"{emulator.endpoint}/moto-api/reset", method="POST")
        urllib.request.urlopen(reset, timeout=10).close()
        emulator.stop()


def test_patched_and_unpatched_moto_answer_the_same_in_process():
    unpatched = in_mock(patched=False)
    assert len(unpatched) > 60
    assert sum("error" in a for a in unpatched if isinstance(a, dict)) >= 12  # failures too
    assert in_mock(patched=True) == unpatched


def test_patched_and_unpatched_emulators_answer_the_same():
    unpatched = in_emulator(patched=False)
    assert in_emulator(patched=True) == unpatched
    assert unpatched == in_mock(patched=False)  # and the server answers as the mock does


# --- the patch set's own rules ----------------------------------------------------------------


def test_the_pinned_moto_is_the_dev_extras():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    pins = [r for extra in pyproject["project"]["optional-dependencies"].values() for r in extra]
    moto = next(r for r in pins if re.match(r"moto\b", r))
    assert moto.endswith(f"=={moto_fixes.PINNED_MOTO}")


def test_another_moto_version_runs_unpatched_with_a_warning(monkeypatch):
    from moto.dynamodb.models import DynamoDBBackend

    original = DynamoDBBackend.update_item
    monkeypatch.setattr(moto_fixes.metadata, "version", lambda name: "9.9.9")
    with pytest.warns(RuntimeWarning, match=r"moto 9\.9\.9 .* moto 5\."):
        patched = moto_fixes.apply()
    assert patched is False
    assert moto_fixes.targets() == [] and DynamoDBBackend.update_item is original
    moto_fixes.undo()  # nothing to undo: harmless


def _ours(value: Any) -> bool:
    """Whether a moto attribute holds something the patch set made."""
    for inner in (value, getattr(value, "fget", None), getattr(value, "__func__", None)):
        if getattr(inner, "__module__", None) == moto_fixes.__name__:
            return True
    return hasattr(value, "cache_info") or isinstance(value, moto_fixes._TransactionBackup)


def test_undo_puts_back_every_attribute_the_fixes_replaced():
    with moto_fixes.applied():
        targets = moto_fixes.targets()
    assert len(targets) >= 11
    before = [vars(owner).get(name) for owner, name in targets]
    assert not any(map(_ours, before)), "a previous undo left a patch in moto"
    with moto_fixes.applied():
        with moto_fixes.applied():  # a second user shares the patches
            pass
        assert moto_fixes.targets() == targets  # still on for the first
        during = [vars(owner).get(name) for owner, name in targets]
        assert all(map(_ours, during))
    after = [vars(owner).get(name) for owner, name in targets]
    assert all(a is b for a, b in zip(after, before, strict=True))
    assert moto_fixes.targets() == []


def test_a_stopped_emulator_leaves_moto_unpatched_for_later_mock_aws_tests():
    from moto.dynamodb.models import DynamoDBBackend

    original = DynamoDBBackend.update_item
    emulator = start_emulator(_free_port(), prefix="engram-undo")
    assert DynamoDBBackend.update_item is not original and moto_fixes.targets()
    emulator.stop()
    assert DynamoDBBackend.update_item is original and moto_fixes.targets() == []


def test_value_sizes_are_motos_without_building_values(monkeypatch):
    """Fix 13 sizes values without building a typed value per member: the same sizes as
    moto's for every type, nested ones included."""
    from decimal import Decimal

    from moto.dynamodb.models.dynamo_type import DynamoType

    values = [
        {"S": "héllo"},
        {"N": "-12.50"},
        {"B": b"\x00\x01\xff"},
        {"B": "AAH/"},
        {"BOOL": False},
        {"NULL": True},
        {"SS": ["a", "bé"]},
        {"NS": ["1", "2.5"]},
        {"BS": [b"\x01", "AQI="]},
        {"L": [{"S": "x"}, {"N": "3"}, {"M": {"k": {"L": []}}}]},
        {"M": {"a": {"M": {"b": {"SS": ["c"]}}}, "é": {"N": str(Decimal("1e10"))}}},
        {"M": {}},
    ]
    unpatched = [DynamoType(v).size() for v in values]
    built = []
    with moto_fixes.applied():
        typed = [DynamoType(v) for v in values]
        real_init = DynamoType.__init__
        monkeypatch.setattr(
            DynamoType, "__init__", lambda self, v: built.append(v) or real_init(self, v)
        )
        assert [v.size() for v in typed] == unpatched
    assert built == []
