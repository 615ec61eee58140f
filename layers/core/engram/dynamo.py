"""Shared DynamoDB mechanics for repositories: error mapping, opaque cursors, filled
pages over a query with a filter, and typed items for transactions."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from engram.errors import BadRequest, Conflict

if TYPE_CHECKING:
    from pydantic import BaseModel

MAX_QUERY_PAGES = 50  # bounds the work one request can do filling a filtered page
TRANSACTION_LIMIT = 100  # actions in one TransactWriteItems


def error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return response.get("Error", {}).get("Code", "")


@contextmanager
def conflict_on_condition(detail: str) -> Iterator[None]:
    """A failed condition (or a cancelled transaction) becomes a 409 with `detail`."""
    try:
        yield
    except Exception as exc:
        if error_code(exc) in ("ConditionalCheckFailedException", "TransactionCanceledException"):
            raise Conflict(detail) from exc
        raise


def conditional_write(write: Callable[[], Any]) -> Any | None:
    """Runs a conditional write; its response, or None when the condition did not hold (the
    item changed meanwhile: a normal outcome for idempotent workers). Other errors raise."""
    try:
        return write()
    except Exception as exc:
        if error_code(exc) == "ConditionalCheckFailedException":
            return None
        raise


def put_all(table: Any, items: Iterable[dict[str, Any]]) -> None:
    """Items (plain values) 25 to a BatchWriteItem; boto3's batch writer resends the
    unprocessed ones."""
    with table.batch_writer() as batch:
        for item in items:
            batch.put_item(Item=item)


def delete_all(table: Any, items: Iterable[dict[str, Any]]) -> None:
    """Deletes these items (by their PK and SK), 25 to a BatchWriteItem."""
    with table.batch_writer() as batch:
        for item in items:
            batch.delete_item(Key={"PK": item["PK"], "SK": item["SK"]})


def expression(condition: Any, names: dict[str, str], values: dict[str, Any]) -> str:
    """A boto3 condition as the text a transaction item takes (a transaction does not build
    condition objects); its placeholders (#n0, :v0...) are added to `names` and `values`."""
    from boto3.dynamodb.conditions import ConditionExpressionBuilder

    built = ConditionExpressionBuilder().build_expression(condition)
    names.update(built.attribute_name_placeholders)
    values.update(built.attribute_value_placeholders)
    return built.condition_expression


def delete_expired(table: Any, item_key: dict[str, str], workspace_id: str, now: str) -> bool:
    """Deletes a soft-deleted item of this workspace whose restore window has passed; False
    if it was restored (or already purged) meanwhile."""
    return (
        conditional_write(
            lambda: table.delete_item(
                Key=item_key,
                ConditionExpression=attr("workspace_id").eq(workspace_id)
                & attr("deleted_at").exists()
                & attr("restorable_until").lt(now),
            )
        )
        is not None
    )


def encode_cursor(key: dict[str, Any]) -> str:
    raw = json.dumps(key, sort_keys=True, default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, partition_attr: str, partition_value: str) -> dict[str, Any]:
    """Refuses a cursor that was not made for this list (another filter or workspace)."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        key = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise BadRequest("The cursor is not valid; use next_cursor from a previous page.") from exc
    if not isinstance(key, dict) or key.get(partition_attr) != partition_value:
        raise BadRequest(
            "The cursor is not valid for this list; use next_cursor from the same query."
        )
    if not all(isinstance(v, str) for v in key.values()):
        raise BadRequest("The cursor is not valid; use next_cursor from a previous page.")
    return key


T = TypeVar("T")
R = TypeVar("R")
M = TypeVar("M", bound="BaseModel")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list: raw items from `query_page`, models from a repository."""

    items: list[T]
    next_cursor: str | None


def query_page(
    table: Any,
    *,
    index: str | None,
    key_attrs: tuple[str, ...],
    partition_attr: str,
    partition_value: str,
    limit: int,
    cursor: str | None = None,
    filter_expression: Any = None,
    newest_first: bool = True,
    offset: int = 0,
) -> Page[dict[str, Any]]:
    """One page of `limit` items of a partition matching the filter, after skipping `offset`
    of them (see read_page)."""
    from boto3.dynamodb.conditions import Key

    return read_page(
        table,
        Key(partition_attr).eq(partition_value),
        lambda rows: [(row, row) for row in rows],
        index=index,
        key_attrs=key_attrs,
        partition=(partition_attr, partition_value),
        limit=limit,
        cursor=cursor,
        filter_expression=filter_expression,
        newest_first=newest_first,
        offset=offset,
    )


def read_page(
    table: Any,
    key_condition: Any,
    read: Callable[[list[dict[str, Any]]], Iterable[tuple[dict[str, Any], R]]],
    *,
    index: str | None,
    key_attrs: tuple[str, ...],
    partition: tuple[str, str],
    limit: int,
    cursor: str | None,
    filter_expression: Any,
    newest_first: bool,
    offset: int,
) -> Page[R]:
    """One page of `limit` results after skipping `offset` of them. `read` turns each page of
    query rows into (row, result) pairs, leaving out the rows that are no result. The cursor
    is the key of the last row returned (not DynamoDB's LastEvaluatedKey), so filtered pages
    never skip rows; a cursor made for another partition (`(attribute, value)`) is refused."""
    kwargs: dict[str, Any] = {
        "KeyConditionExpression": key_condition,
        "ScanIndexForward": not newest_first,
        "Limit": min(max(limit + 1 + offset, 25), 1000),
    }
    if index:
        kwargs["IndexName"] = index
    if filter_expression is not None:
        kwargs["FilterExpression"] = filter_expression
    if cursor:
        kwargs["ExclusiveStartKey"] = decode_cursor(cursor, *partition)
    found: list[tuple[dict[str, Any], R]] = []
    last: dict[str, Any] | None = None
    for _ in range(MAX_QUERY_PAGES):
        response = table.query(**kwargs)
        found += read(response.get("Items", []))
        last = response.get("LastEvaluatedKey")
        if len(found) > offset + limit or not last:
            break
        kwargs["ExclusiveStartKey"] = last
    found = found[offset:]
    more, found = len(found) > limit, found[:limit]
    results = [result for _, result in found]
    if found and (more or last):
        return Page(results, encode_cursor({a: found[-1][0][a] for a in key_attrs}))
    # every row the scanned pages held was left out: resume where the scan stopped
    return Page(results, encode_cursor(last) if last else None)


def count_query(
    table: Any,
    *,
    index: str | None,
    partition_attr: str,
    partition_value: str,
    filter_expression: Any = None,
) -> int:
    from boto3.dynamodb.conditions import Key

    kwargs: dict[str, Any] = {
        "KeyConditionExpression": Key(partition_attr).eq(partition_value),
        "Select": "COUNT",
    }
    if index:
        kwargs["IndexName"] = index
    if filter_expression is not None:
        kwargs["FilterExpression"] = filter_expression
    total = 0
    for _ in range(MAX_QUERY_PAGES * 20):
        response = table.query(**kwargs)
        total += response.get("Count", 0)
        if not response.get("LastEvaluatedKey"):
            break
        kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]
    return total


def to_dynamo(value: Any) -> Any:
    """Plain JSON values → what boto3's resource layer stores (floats as Decimal)."""
    if isinstance(value, float):
        # DynamoDB's smallest magnitude is 1e-130; anything under it is zero for every use.
        return Decimal(0) if abs(value) < 1e-128 else Decimal(str(value))
    if isinstance(value, dict):
        return {k: to_dynamo(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_dynamo(v) for v in value]
    return value


def from_dynamo(value: Any) -> Any:
    """Back to plain JSON values: Decimals become int or float."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: from_dynamo(v) for k, v in value.items()}
    if isinstance(value, list | set):
        return [from_dynamo(v) for v in value]
    return value


def to_model(model: type[M], item: dict[str, Any]) -> M:
    """A stored item as `model`: plain values, without the key and index attributes."""
    return model.model_validate(
        {k: v for k, v in from_dynamo(item).items() if k in model.model_fields}
    )


# Transactions go through the Table resource's own client (`table.meta.client`), which
# serialises plain values itself: pass `to_dynamo(item)`, not typed attribute values.
# A hot path may build typed values itself (`typed`) and send them with `typed_client`.


def typed_client(table: Any) -> Any:
    """A low-level client for `table`'s region and endpoint that takes typed attribute values
    as given and skips botocore's parameter validation (engram.aws.typed_client), writing
    and reading them in one step each (direct_attribute_values)."""
    from engram import aws

    meta = table.meta.client.meta
    client = aws.typed_client("dynamodb", meta.region_name, meta.endpoint_url)
    if not getattr(client, "_engram_direct_values", False):  # the client is kept (cached)
        direct_attribute_values(client)
        client._engram_direct_values = True
    return client


def direct_attribute_values(client: Any) -> None:
    """A DynamoDB low-level client writes and reads attribute values in one step each: botocore
    walks every attribute value of a request and an answer through its model, a structure of
    ten members looked up one by one, which was most of its time parsing the embed worker's
    batch read. The same values come out (blobs in base64 on the wire, bytes in an answer);
    anything else, and any value not of the usual kind (several members, a null, an unknown
    member), goes through botocore as before. Only this client's own serializer and parser
    change (the session's parser factory stays as it was)."""
    from botocore.parsers import JSONParser, ResponseParserFactory
    from botocore.serialize import JSONSerializer

    class Parser(JSONParser):
        def _handle_structure(self, shape: Any, value: Any) -> Any:
            if shape.name == "AttributeValue" and type(value) is dict and len(value) == 1:
                parsed = _read_attribute_value(self, shape, value)
                if parsed is not None:
                    return parsed
            return super()._handle_structure(shape, value)

        def _handle_map(self, shape: Any, value: Any) -> Any:
            member = shape.value
            if member.name != "AttributeValue" or type(value) is not dict:
                return super()._handle_map(shape, value)
            parsed = {}
            for name, item in value.items():  # an item's attributes: each value read directly
                read = (
                    _read_attribute_value(self, member, item)
                    if type(item) is dict and len(item) == 1
                    else None
                )
                parsed[name] = self._handle_structure(member, item) if read is None else read
            return parsed

    class Parsers(ResponseParserFactory):
        def create_parser(self, protocol_name: str) -> Any:
            if protocol_name == "json":
                return Parser(**self._defaults)
            return super().create_parser(protocol_name)

    class Serializer(JSONSerializer):
        def _serialize_type_structure(
            self, serialized: Any, value: Any, shape: Any, key: Any
        ) -> None:
            if (
                key is not None
                and shape.name == "AttributeValue"
                and type(value) is dict
                and len(value) == 1
            ):
                wire = _write_attribute_value(self, value)
                if wire is not None:
                    serialized[key] = wire
                    return
            super()._serialize_type_structure(serialized, value, shape, key)

        def _serialize_type_map(self, serialized: Any, value: Any, shape: Any, key: Any) -> None:
            member = shape.value
            if member.name != "AttributeValue":
                return super()._serialize_type_map(serialized, value, shape, key)
            written = serialized[key] = self.MAP_TYPE()
            for name, item in value.items():  # a key, an item, expression values: directly
                wire = _write_attribute_value(self, item)
                if wire is None:
                    self._serialize(written, item, member, name)
                else:
                    written[name] = wire
            return None

    endpoint, serializer = client._endpoint, client._serializer
    if type(serializer) is JSONSerializer:  # no validation wrapped around it
        direct = Serializer.__new__(Serializer)
        direct.__dict__.update(serializer.__dict__)
        client._serializer = direct
    if type(endpoint._response_parser_factory) is ResponseParserFactory:
        parsers = Parsers()
        parsers._defaults = dict(endpoint._response_parser_factory._defaults)
        endpoint._response_parser_factory = parsers  # the session's own stays as it was


_SAME = frozenset({"S", "N", "BOOL", "NULL"})  # members botocore reads and writes as they are
_LISTS = frozenset({"SS", "NS", "BS", "L"})


def _read_attribute_value(parser: Any, shape: Any, value: dict[str, Any]) -> Any:
    """What botocore's JSON parser makes of a one-member attribute value, or None to let it
    parse the value itself."""
    ((kind, inner),) = value.items()
    if inner is None:
        return None
    if kind in _SAME:
        return {kind: inner}
    if kind == "B":
        return {"B": parser._blob_parser(inner)}
    if kind == "M" and type(inner) is dict:
        return {"M": {k: parser._handle_structure(shape, v) for k, v in inner.items()}}
    if kind not in _LISTS or type(inner) is not list:
        return None
    if kind == "L":
        return {"L": [None if v is None else parser._handle_structure(shape, v) for v in inner]}
    if kind == "BS":
        return {"BS": [None if v is None else parser._blob_parser(v) for v in inner]}
    return {kind: inner[:]}


def _write_attribute_value(serializer: Any, value: dict[str, Any]) -> Any:
    """What botocore's JSON serializer makes of a one-member attribute value, or None to let
    it serialize the value itself."""
    if type(value) is not dict or len(value) != 1:
        return None
    ((kind, inner),) = value.items()
    if inner is None:
        return None
    if kind in _SAME:
        return {kind: inner}
    if kind == "B":
        return {"B": serializer._get_base64(inner)}
    if kind == "M" and isinstance(inner, dict):
        members = {k: _write_attribute_value(serializer, v) for k, v in inner.items()}
        return None if any(v is None for v in members.values()) else {"M": members}
    if kind not in _LISTS or not isinstance(inner, list | tuple | set):
        return None
    if kind == "L":
        items = [_write_attribute_value(serializer, v) for v in inner]
        return None if any(v is None for v in items) else {"L": items}
    if kind == "BS":
        return {"BS": [serializer._get_base64(v) for v in inner]}
    return {kind: list(inner)}


def typed(values: dict[str, Any]) -> dict[str, Any]:
    """Plain values (as the resource layer takes them) → typed attribute values, as boto3's
    TypeSerializer makes them (strings, binary, booleans and None directly)."""
    from boto3.dynamodb.types import TypeSerializer

    serialize = TypeSerializer().serialize
    return {
        name: {kind: value}
        if (kind := _SCALAR_TYPES.get(type(value))) is not None
        else {"NULL": True}
        if value is None
        else serialize(value)
        for name, value in values.items()
    }


_SCALAR_TYPES = {str: "S", bytes: "B", bool: "BOOL"}  # exact types: a subclass is serialized


_TYPED_PARTS = ("Item", "Key", "ExpressionAttributeValues")


def transact(table: Any, actions: Sequence[dict[str, Any]]) -> None:
    """TransactWriteItems of actions written with plain values and string expressions (as
    the resource layer takes them), sent typed through the low-level client: the resource
    layer's walk of the request model was a fifth of a POST's transaction here."""
    typed_client(table).transact_write_items(
        TransactItems=[
            {kind: {k: typed(v) if k in _TYPED_PARTS else v for k, v in body.items()}}
            for action in actions
            for kind, body in action.items()
        ]
    )


def get_item(table: Any, item_key: dict[str, Any], consistent: bool = True) -> dict | None:
    """One item (plain values) or None, read typed through the low-level client: every
    request reads its API key this way."""
    response = typed_client(table).get_item(
        TableName=table.name, Key=typed(item_key), ConsistentRead=consistent
    )
    return plain(response["Item"]) if "Item" in response else None


def partition_items(table: Any, partition: str, max_pages: int) -> list[dict[str, Any]]:
    """Every item (plain values) of a small partition of the table, oldest sort key first,
    in at most `max_pages` Query pages, read typed through the low-level client."""
    request: dict[str, Any] = {
        "TableName": table.name,
        "KeyConditionExpression": "PK = :pk",
        "ExpressionAttributeValues": {":pk": {"S": partition}},
    }
    client = typed_client(table)
    found: list[dict[str, Any]] = []
    for _ in range(max_pages):
        response = client.query(**request)
        found += map(plain, response.get("Items", []))
        if "LastEvaluatedKey" not in response:
            break
        request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
    return found


def plain(item: dict[str, Any]) -> dict[str, Any]:
    """Typed attribute values (a low-level client's answer) → plain values, as the resource
    layer reads them (numbers as Decimal, binary as Binary; strings, most of them, directly)."""
    from boto3.dynamodb.types import TypeDeserializer

    deserialize = TypeDeserializer().deserialize
    return {
        name: value["S"] if len(value) == 1 and "S" in value else deserialize(value)
        for name, value in item.items()
    }


def attr(name: str) -> Any:
    """boto3's condition builders, imported on first use: boto3 is heavy at cold start."""
    from boto3.dynamodb.conditions import Attr

    return Attr(name)


def key(name: str) -> Any:
    from boto3.dynamodb.conditions import Key

    return Key(name)
