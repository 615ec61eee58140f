"""The emulator with a data directory (engram_local.persistence): what it acknowledged is
there after a restart, through moto's own API: items (binary and nested values, counters,
deletes, batches, transactions; a refused transaction changes nothing), queued messages
(deleted ones stay deleted), the secrets' values; and after a compaction as before it."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from engram_local.emulator import Emulator, start_emulator
from engram_local.journal import SNAPSHOT, DataDir, journal_name
from engram_local.persistence import Durability

PREFIX = "engram-durable"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running(path: Path, compact_bytes: int = 1 << 30) -> Iterator[tuple[Emulator, Durability]]:
    """An emulator on `path`'s data; at the end its resources are removed from moto (whose
    state is global to the process), so the next one starts from the data alone."""
    data = DataDir(path)
    data.lock()
    durability = Durability(data, compact_bytes)
    emulator = start_emulator(_free_port(), prefix=PREFIX, durability=durability)
    try:
        yield emulator, durability
    finally:
        _forget(emulator)
        emulator.stop()
        data.close()


def _forget(emulator: Emulator) -> None:
    made = emulator.resources
    dynamodb, sqs = emulator.client("dynamodb"), emulator.client("sqs")
    secrets, s3 = emulator.client("secretsmanager"), emulator.client("s3")
    for name in made.tables.values():
        dynamodb.delete_table(TableName=name)
    for url in made.queue_urls.values():
        sqs.delete_queue(QueueUrl=url)
    for arn in made.secrets.values():
        secrets.delete_secret(SecretId=arn, ForceDeleteWithoutRecovery=True)
    for bucket in made.buckets.values():
        s3.delete_bucket(Bucket=bucket)


def _items(emulator: Emulator) -> dict[str, list[dict]]:
    dynamodb = emulator.client("dynamodb")
    return {
        name: sorted(
            dynamodb.scan(TableName=name)["Items"], key=lambda i: (i["PK"]["S"], i["SK"]["S"])
        )
        for name in emulator.resources.tables.values()
        if "Idempotency" not in name
    }


def _write_items(emulator: Emulator) -> None:
    dynamodb = emulator.client("dynamodb")
    table = emulator.resources.tables["Table"]
    nested = {"M": {"raw": {"B": b"\x00\xff"}, "list": {"L": [{"N": "1"}, {"BS": [b"a", b"b"]}]}}}
    dynamodb.put_item(
        TableName=table, Item={"PK": {"S": "A"}, "SK": {"S": "1"}, "v": {"B": b"\x01\x02"}}
    )
    dynamodb.put_item(TableName=table, Item={"PK": {"S": "A"}, "SK": {"S": "2"}, "m": nested})
    dynamodb.put_item(TableName=table, Item={"PK": {"S": "A"}, "SK": {"S": "gone"}})
    for _ in range(3):
        dynamodb.update_item(
            TableName=table,
            Key={"PK": {"S": "C"}, "SK": {"S": "count"}},
            UpdateExpression="ADD n :one",
            ExpressionAttributeValues={":one": {"N": "1"}},
        )
    dynamodb.delete_item(TableName=table, Key={"PK": {"S": "A"}, "SK": {"S": "gone"}})
    dynamodb.batch_write_item(
        RequestItems={
            table: [
                {"PutRequest": {"Item": {"PK": {"S": "B"}, "SK": {"S": str(i)}}}} for i in range(5)
            ]
            + [{"DeleteRequest": {"Key": {"PK": {"S": "A"}, "SK": {"S": "1"}}}}]
        }
    )
    dynamodb.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": table, "Item": {"PK": {"S": "T"}, "SK": {"S": "1"}}}},
            {
                "Update": {
                    "TableName": table,
                    "Key": {"PK": {"S": "C"}, "SK": {"S": "count"}},
                    "UpdateExpression": "SET label = :l",
                    "ExpressionAttributeValues": {":l": {"S": "three"}},
                }
            },
        ]
    )
    with pytest.raises(ClientError, match="TransactionCanceled"):
        dynamodb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": table, "Item": {"PK": {"S": "T"}, "SK": {"S": "never"}}}},
                {
                    "ConditionCheck": {
                        "TableName": table,
                        "Key": {"PK": {"S": "nobody"}, "SK": {"S": "x"}},
                        "ConditionExpression": "attribute_exists(PK)",
                    }
                },
            ]
        )


def test_items_come_back_as_they_were_acknowledged(tmp_path):
    with running(tmp_path) as (emulator, _):
        _write_items(emulator)
        before = _items(emulator)
    keys = {(i["PK"]["S"], i["SK"]["S"]) for i in before[f"{PREFIX}-Table"]}
    assert ("A", "gone") not in keys and ("A", "1") not in keys and ("T", "never") not in keys
    assert {("B", "4"), ("T", "1"), ("C", "count")} <= keys

    with running(tmp_path) as (emulator, _):
        assert _items(emulator) == before


def test_queued_messages_come_back_and_deleted_ones_do_not(tmp_path):
    with running(tmp_path) as (emulator, _):
        sqs = emulator.client("sqs")
        url = emulator.resources.queue_urls["EmbedQueue"]
        sqs.send_message(
            QueueUrl=url,
            MessageBody="one",
            MessageAttributes={"kind": {"DataType": "String", "StringValue": "memory"}},
        )
        sqs.send_message_batch(
            QueueUrl=url,
            Entries=[{"Id": "a", "MessageBody": "two"}, {"Id": "b", "MessageBody": "three"}],
        )
        received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
        done = next(m for m in received if m["Body"] == "two")
        sqs.delete_message(QueueUrl=url, ReceiptHandle=done["ReceiptHandle"])

    with running(tmp_path) as (emulator, _):
        sqs = emulator.client("sqs")
        url = emulator.resources.queue_urls["EmbedQueue"]
        back = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
        )["Messages"]  # in flight when it stopped: visible again at once
        assert sorted(m["Body"] for m in back) == ["one", "three"]
        one = next(m for m in back if m["Body"] == "one")
        assert one["MessageAttributes"]["kind"]["StringValue"] == "memory"


def test_secrets_keep_their_first_values(tmp_path):
    with running(tmp_path) as (emulator, _):
        secrets = emulator.client("secretsmanager")
        first = {
            arn: secrets.get_secret_value(SecretId=arn)["SecretString"]
            for arn in emulator.resources.secrets.values()
        }
    with running(tmp_path) as (emulator, _):
        secrets = emulator.client("secretsmanager")
        again = {
            logical: secrets.get_secret_value(SecretId=arn)["SecretString"]
            for logical, arn in emulator.resources.secrets.items()
        }
    assert sorted(again.values()) == sorted(first.values())


def test_after_a_compaction_the_snapshot_and_the_newer_journal_hold_everything(tmp_path):
    with running(tmp_path) as (emulator, durability):
        _write_items(emulator)
        durability.compact()
        generation = durability.data.generation
        assert (tmp_path / SNAPSHOT).exists()
        assert not (tmp_path / journal_name(generation - 1)).exists()
        dynamodb = emulator.client("dynamodb")
        table = emulator.resources.tables["Table"]
        dynamodb.put_item(TableName=table, Item={"PK": {"S": "after"}, "SK": {"S": "1"}})
        dynamodb.delete_item(TableName=table, Key={"PK": {"S": "B"}, "SK": {"S": "0"}})
        before = _items(emulator)

    with running(tmp_path) as (emulator, _):
        assert _items(emulator) == before


def test_a_grown_journal_is_compacted_in_the_background(tmp_path):
    with running(tmp_path, compact_bytes=1) as (emulator, durability):
        first = durability.data.generation
        dynamodb = emulator.client("dynamodb")
        table = emulator.resources.tables["Table"]
        for i in range(20):
            dynamodb.put_item(TableName=table, Item={"PK": {"S": "G"}, "SK": {"S": str(i)}})
        before = _items(emulator)
    assert durability.data.generation > first  # at least one compaction ran
    with running(tmp_path) as (emulator, _):
        assert _items(emulator) == before
