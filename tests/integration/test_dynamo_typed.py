"""engram.dynamo's typed helpers (transact, get_item, partition_items) write and read what
the resource layer would, through moto."""

from decimal import Decimal

import pytest
from boto3.dynamodb.types import Binary

from engram import aws, dynamo
from engram.errors import Conflict

ITEM = {
    "PK": "P#1",
    "SK": "A",
    "n": Decimal("2.5"),
    "whole": 7,
    "flag": True,
    "none": None,
    "raw": b"\x00\xff",
    "nested": {"list": [1, "two", {"three": Decimal("3.0")}], "empty": {}},
    "tags": {"a", "b"},
}


@pytest.fixture
def table(aws_env):
    return aws.table()


def test_a_typed_transaction_stores_what_the_resource_layer_reads_back(table):
    dynamo.transact(
        table,
        [
            {"Put": {"TableName": table.name, "Item": ITEM}},
            {
                "Update": {
                    "TableName": table.name,
                    "Key": {"PK": "P#1", "SK": "B"},
                    "UpdateExpression": "ADD hits :n",
                    "ExpressionAttributeValues": {":n": 3},
                }
            },
        ],
    )
    stored = table.get_item(Key={"PK": "P#1", "SK": "A"})["Item"]
    assert stored == {**ITEM, "whole": Decimal(7), "raw": Binary(b"\x00\xff")} | {
        "nested": {"list": [Decimal(1), "two", {"three": Decimal("3.0")}], "empty": {}}
    }
    assert table.get_item(Key={"PK": "P#1", "SK": "B"})["Item"]["hits"] == 3
    assert dynamo.get_item(table, {"PK": "P#1", "SK": "A"}) == stored


def test_a_failed_condition_cancels_the_whole_typed_transaction(table):
    table.put_item(Item={"PK": "P#1", "SK": "A"})
    with pytest.raises(Conflict), dynamo.conflict_on_condition("taken"):
        dynamo.transact(
            table,
            [
                {"Put": {"TableName": table.name, "Item": {"PK": "P#1", "SK": "C"}}},
                {
                    "Put": {
                        "TableName": table.name,
                        "Item": {"PK": "P#1", "SK": "A", "x": 1},
                        "ConditionExpression": "attribute_not_exists(PK)",
                    }
                },
            ],
        )
    assert dynamo.get_item(table, {"PK": "P#1", "SK": "C"}) is None
    assert dynamo.get_item(table, {"PK": "P#1", "SK": "A"}) == {"PK": "P#1", "SK": "A"}


def test_partition_items_reads_one_partition_in_sort_key_order(table):
    for sk in ("C", "A", "B"):
        table.put_item(Item={"PK": "P#1", "SK": sk, "n": Decimal("1.5")})
    table.put_item(Item={"PK": "P#2", "SK": "A"})
    found = dynamo.partition_items(table, "P#1", max_pages=2)
    assert [i["SK"] for i in found] == ["A", "B", "C"]
    assert found[0] == {"PK": "P#1", "SK": "A", "n": Decimal("1.5")}
    assert dynamo.partition_items(table, "P#3", max_pages=2) == []
