"""Records of the local stack's data (engram_local.persistence): an item's record holds every
DynamoDB type (binary as base64, through JSON), and loading builds exactly the item moto builds
from the same attributes."""

from __future__ import annotations

import json

from boto3.dynamodb.types import TypeDeserializer
from moto.dynamodb.models.dynamo_type import DynamoType, Item

from engram_local.persistence import _attributes, _item, _token, python_value, to_record

ATTRIBUTES = {
    "PK": {"S": "MEMORY#m1"},
    "SK": {"S": "MEMORY"},
    "n": {"N": "12.5"},
    "raw": {"B": b"\x00\xff\x10"},
    "flag": {"BOOL": True},
    "none": {"NULL": True},
    "words": {"SS": ["a", "b"]},
    "numbers": {"NS": ["1", "2"]},
    "blobs": {"BS": [b"x", b"\x01"]},
    "list": {"L": [{"S": "x"}, {"B": b"\x02"}, {"M": {"deep": {"N": "3"}}}]},
    "map": {"M": {"inner": {"L": [{"NULL": True}]}, "bytes": {"B": b"\x03"}}},
}


def test_a_record_goes_through_json_and_loads_as_the_item_moto_makes():
    record = json.loads(json.dumps(to_record(ATTRIBUTES)))
    loaded = _item(record, "PK", "SK")
    made = Item(DynamoType(ATTRIBUTES["PK"]), DynamoType(ATTRIBUTES["SK"]), ATTRIBUTES)
    assert loaded == made
    assert loaded.to_json() == made.to_json()
    assert hash(loaded.hash_key) == hash(made.hash_key)
    assert to_record(loaded.to_json()["Attributes"]) == record == _attributes(made)


def test_a_key_token_names_the_item_whatever_its_other_attributes():
    first = to_record(ATTRIBUTES)
    second = {**first, "n": {"N": "99"}}
    other = {**first, "SK": {"S": "OTHER"}}
    assert _token(("PK", "SK"), first) == _token(("PK", "SK"), second)
    assert _token(("PK", "SK"), first) != _token(("PK", "SK"), other)
    assert _token(("PK", None), first) == _token(("PK", None), other)


def test_python_values_are_what_boto3_reads():
    made = Item(DynamoType(ATTRIBUTES["PK"]), DynamoType(ATTRIBUTES["SK"]), ATTRIBUTES)
    deserialize = TypeDeserializer().deserialize
    expected = {k: deserialize(v) for k, v in made.to_json()["Attributes"].items()}
    assert {k: python_value(v) for k, v in made.attrs.items()} == expected
