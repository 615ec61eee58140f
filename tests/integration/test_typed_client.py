"""The typed DynamoDB client (engram.dynamo.typed_client) writes and reads attribute values in one
step each (engram.dynamo.direct_attribute_values): the same request bodies and the same parsed
answers as botocore's own serializer and parser, for every attribute type and for the values it
leaves to botocore; and a round trip through moto keeps every value."""

from __future__ import annotations

import json
from decimal import Decimal

import boto3
import pytest
from boto3.dynamodb.types import Binary
from botocore.exceptions import ClientError
from botocore.parsers import BaseJSONParser, create_parser
from botocore.serialize import create_serializer

from engram.dynamo import direct_attribute_values, plain, typed, typed_client

EVERY_KIND = {
    "s": {"S": "text é"},
    "empty": {"S": ""},
    "n": {"N": "-1.5E+3"},
    "b": {"B": "AAH/"},
    "ss": {"SS": ["a", "b"]},
    "ns": {"NS": ["1", "2.5"]},
    "bs": {"BS": ["AA==", "/w=="]},
    "m": {"M": {"x": {"L": [{"N": "1"}, {"NULL": True}, {"B": "AQ=="}, {"M": {}}]}}},
    "l": {"L": [{"BOOL": False}, {"SS": ["z"]}, {"L": []}]},
    "null": {"NULL": True},
    "bool": {"BOOL": True},
}
LEFT_TO_BOTOCORE = {
    "unknown": {"X": "1"},  # a member this botocore does not know
    "sparse": {"L": [None, {"S": "a"}]},
    "empty_member": {"M": {"e": {}}},
    "two": {"S": "x", "N": "1"},
    "nil": None,
    "null_member": {"S": None},
}


def _client():
    """As engram.aws.typed_client makes it: botocore's parameter validation off."""
    from botocore.config import Config

    return boto3.client(
        "dynamodb",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(parameter_validation=False),
    )


def _direct():
    client = _client()
    direct_attribute_values(client)
    return client


def _parse(parser, operation, body):
    model = _client().meta.service_model.operation_model(operation)
    response = {"status_code": 200, "headers": {}, "body": json.dumps(body).encode()}
    return parser.parse(response, model.output_shape)


def _answer(item):
    return {"Responses": {"t": [item]}, "UnprocessedKeys": {}}


@pytest.mark.parametrize(
    "item", [EVERY_KIND, LEFT_TO_BOTOCORE], ids=["every kind", "left to botocore"]
)
def test_answers_parse_as_botocore_parses_them(item):
    direct = _direct()._endpoint._response_parser_factory.create_parser("json")
    assert _parse(direct, "BatchGetItem", _answer(item)) == _parse(
        create_parser("json"), "BatchGetItem", _answer(item)
    )


@pytest.fixture
def walked(monkeypatch):
    """The shapes botocore's JSON parser walks as structures, in order."""
    names = []
    real = BaseJSONParser._handle_structure
    monkeypatch.setattr(
        BaseJSONParser,
        "_handle_structure",
        lambda self, shape, value: names.append(shape.name) or real(self, shape, value),
    )
    return names


def test_attribute_values_skip_botocores_member_by_member_walk(walked):
    """The step this saves: botocore looks up each of an attribute value's ten members in
    every value of an answer."""
    direct = _direct()._endpoint._response_parser_factory.create_parser("json")
    _parse(direct, "BatchGetItem", _answer(EVERY_KIND))
    assert "AttributeValue" not in walked
    _parse(create_parser("json"), "BatchGetItem", _answer(EVERY_KIND))
    assert "AttributeValue" in walked


def _request(serializer, values):
    model = _client().meta.service_model.operation_model("TransactWriteItems")
    params = {
        "TransactItems": [
            {"Put": {"TableName": "t", "Item": {"PK": {"S": "a"}, **values}}},
            {
                "Update": {
                    "TableName": "t",
                    "Key": {"PK": {"S": "b"}},
                    "UpdateExpression": "SET v = :v",
                    "ExpressionAttributeValues": {":v": next(iter(values.values()))},
                }
            },
        ]
    }
    return serializer.serialize_to_request(params, model)["body"]


def test_requests_serialize_as_botocore_serializes_them():
    values = {
        "s": {"S": "text"},
        "n": {"N": "1"},
        "b": {"B": b"\x00\xff"},
        "b_text": {"B": "raw"},
        "ss": {"SS": {"x"}},
        "ns": {"NS": ["1", "2"]},
        "bs": {"BS": [b"\x01", b"\x02"]},
        "m": {"M": {"k": {"L": [{"B": b"\x03"}, {"NULL": True}, {"M": {}}]}}},
        "l": {"L": ({"BOOL": True}, {"N": "3"})},
        "two": {"S": "a", "N": "1"},  # botocore writes both; the direct path leaves it to it
    }
    direct = _direct()._serializer
    assert _request(direct, values) == _request(create_serializer("json", False), values)


def test_the_typed_client_round_trips_every_type(aws_env, walked):
    """Through moto, with the emulator's fixes off (moto as it is) as in every integration
    test: written by a transaction, read by a consistent batch read, read back as the
    resource layer reads them."""
    from engram import aws

    table = aws.table()
    item = {
        "PK": "TYPED#1",
        "SK": "A",
        "text": "é",
        "number": Decimal("-1.5"),
        "vector": b"\x00\x01\xff" * 100,
        "texts": {"a", "b"},
        "numbers": {Decimal(1), Decimal("2.5")},
        "blobs": {b"\x01", b"\x02"},
        "nested": {"list": [Decimal(1), None, b"\x03", {"deep": True}], "empty": {}},
        "nothing": None,
        "flag": False,
    }
    client = typed_client(table)
    client.transact_write_items(
        TransactItems=[{"Put": {"TableName": table.name, "Item": typed(item)}}]
    )
    got = client.batch_get_item(
        RequestItems={
            table.name: {"Keys": [typed({"PK": "TYPED#1", "SK": "A"})], "ConsistentRead": True}
        }
    )
    assert walked and "AttributeValue" not in walked  # the direct path, as the worker reads
    read = plain(got["Responses"][table.name][0])
    assert read == {
        **item,
        "vector": Binary(item["vector"]),
        "blobs": {Binary(b"\x01"), Binary(b"\x02")},
        "nested": {**item["nested"], "list": [Decimal(1), None, Binary(b"\x03"), {"deep": True}]},
    }
    assert read == table.get_item(Key={"PK": "TYPED#1", "SK": "A"})["Item"]
    with pytest.raises(ClientError):  # a malformed value is still the service's to refuse
        client.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": table.name, "Item": {"PK": {"M": {}}, "SK": {"S": "A"}}}}
            ]
        )


def test_typed_matches_boto3s_serializer():
    from boto3.dynamodb.types import TypeSerializer

    values = {
        "s": "x",
        "b": b"\x00",
        "t": True,
        "f": False,
        "none": None,
        "n": 3,
        "d": Decimal("1.5"),
        "set": {"a"},
        "map": {"k": [1, "v", None]},
        "binary": Binary(b"\x01"),
    }
    serialize = TypeSerializer().serialize
    assert typed(values) == {k: serialize(v) for k, v in values.items()}


def test_plain_matches_boto3s_deserializer():
    from boto3.dynamodb.types import TypeDeserializer

    values = {
        "s": {"S": "x"},
        "empty": {"S": ""},
        "n": {"N": "1.50"},
        "b": {"B": b"\x00"},
        "t": {"BOOL": True},
        "none": {"NULL": True},
        "ss": {"SS": ["a"]},
        "m": {"M": {"k": {"L": [{"S": "v"}, {"N": "2"}]}}},
    }
    deserialize = TypeDeserializer().deserialize
    assert plain(values) == {k: deserialize(v) for k, v in values.items()}
    with pytest.raises(TypeError):
        plain({"bad": {}})
