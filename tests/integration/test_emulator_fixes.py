"""The local emulator's speed fixes to moto (engram_local.moto_fixes) keep moto's behaviour:
through the emulator's real HTTP endpoint, a failed transaction still rolls back, results
still round-trip every attribute type, and SQS still deduplicates FIFO messages."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from botocore.exceptions import ClientError

from engram_local.emulator import start_emulator


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def emulator():
    running = start_emulator(_free_port(), prefix="engram-fixes")
    yield running
    running.stop()


@pytest.fixture
def table(emulator):
    import boto3

    name = emulator.resources.tables["Table"]
    return boto3.resource(
        "dynamodb",
        endpoint_url=emulator.endpoint,
        region_name=emulator.region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    ).Table(name)


def _item(table, pk, sk="A"):
    return table.get_item(Key={"PK": pk, "SK": sk}).get("Item")


def test_a_cancelled_transaction_leaves_every_item_as_it_was(table):
    client = table.meta.client
    table.put_item(Item={"PK": "T#1", "SK": "A", "n": 1, "tags": ["x"]})
    table.put_item(Item={"PK": "T#1", "SK": "B", "n": 5})
    with pytest.raises(ClientError, match="TransactionCanceled"):
        client.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": table.name,
                        "Key": {"PK": "T#1", "SK": "A"},
                        "UpdateExpression": "SET n = n + :one, tags = list_append(tags, :t)",
                        "ExpressionAttributeValues": {":one": 1, ":t": ["y"]},
                    }
                },
                {"Put": {"TableName": table.name, "Item": {"PK": "T#2", "SK": "A"}}},
                {
                    "Put": {
                        "TableName": table.name,
                        "Item": {"PK": "T#1", "SK": "B", "n": 6},
                        "ConditionExpression": "attribute_not_exists(PK)",
                    }
                },
            ]
        )
    assert _item(table, "T#1") == {"PK": "T#1", "SK": "A", "n": 1, "tags": ["x"]}
    assert _item(table, "T#1", "B")["n"] == 5 and _item(table, "T#2") is None
    client.transact_write_items(
        TransactItems=[
            {
                "Update": {
                    "TableName": table.name,
                    "Key": {"PK": "T#1", "SK": "A"},
                    "UpdateExpression": "SET n = n + :one",
                    "ExpressionAttributeValues": {":one": 1},
                }
            },
            {"Put": {"TableName": table.name, "Item": {"PK": "T#2", "SK": "A"}}},
        ]
    )
    assert _item(table, "T#1")["n"] == 2 and _item(table, "T#2") == {"PK": "T#2", "SK": "A"}


def test_a_transactions_backup_copies_values_only_before_moto_changes_them_in_place(
    table, monkeypatch
):
    """Fix 1 backs up the items a transaction names with their own attribute maps and shared
    values; moto's own UpdateItem (a nested SET, a set ADD: values changed in place) deepens
    its item's backup first. A cancelled transaction restores every item, nested values
    included (not so without deepening); one of direct updates only copies no value."""
    from moto.dynamodb.models.dynamo_type import Item

    client = table.meta.client
    table.put_item(Item={"PK": "W#1", "SK": "A", "n": 1, "m": {"a": {"b": 1}}, "ss": {"p"}})
    table.put_item(Item={"PK": "W#1", "SK": "B", "n": 5, "s": "kept"})
    deep = []
    real = Item.__deepcopy__
    monkeypatch.setattr(Item, "__deepcopy__", lambda self, memo: deep.append(1) or real(self, memo))

    def update(sk: str, expression: str, values: dict, condition: str | None = None) -> dict:
        op = {
            "TableName": table.name,
            "Key": {"PK": "W#1", "SK": sk},
            "UpdateExpression": expression,
            "ExpressionAttributeValues": values,
        }
        return {"Update": {**op, "ConditionExpression": condition} if condition else op}

    in_place = update(
        "A", "SET m.a.b = :two, m.c = :c ADD ss :q", {":two": 2, ":c": 3, ":q": {"q"}}
    )
    direct = update("B", "SET n = :six REMOVE s", {":six": 6})
    refused = update("B", "SET n = :seven", {":seven": 7, ":no": 0}, condition="n = :no")
    with pytest.raises(ClientError, match="TransactionCanceled"):
        client.transact_write_items(TransactItems=[in_place, refused])
    assert _item(table, "W#1") == {
        "PK": "W#1",
        "SK": "A",
        "n": 1,
        "m": {"a": {"b": 1}},
        "ss": {"p"},
    }
    deep.clear()
    with pytest.raises(ClientError, match="TransactionCanceled"):
        client.transact_write_items(
            TransactItems=[direct, update("A", "SET n = :two", {":two": 2, ":no": 0}, "n = :no")]
        )
    assert deep == []  # direct updates replace values: nothing copied deep
    assert _item(table, "W#1", "B") == {"PK": "W#1", "SK": "B", "n": 5, "s": "kept"}
    client.transact_write_items(TransactItems=[in_place, direct])
    assert _item(table, "W#1")["m"] == {"a": {"b": 2}, "c": 3}
    assert _item(table, "W#1")["ss"] == {"p", "q"}
    assert _item(table, "W#1", "B") == {"PK": "W#1", "SK": "B", "n": 6}


def test_a_transaction_with_a_malformed_key_is_refused_as_moto_refuses_it(table, emulator):
    """Fix 1 looks up the items a transaction names; a map or list where the key should be
    is no such item, and the transaction is refused (not a 500), writing nothing."""
    client = emulator.client("dynamodb")  # low-level: the values below are typed by hand
    good = {"PK": {"S": "K#1"}, "SK": {"S": "A"}}
    for bad in (
        {"PK": {"M": {"S": {"S": "x"}}}, "SK": {"S": "A"}},
        {"PK": {"L": [{"S": "x"}]}, "SK": {"S": "A"}},
        {"PK": {"S": "K#2"}, "SK": {"M": {}}},
    ):
        with pytest.raises(ClientError, match="TransactionCanceled"):
            client.transact_write_items(
                TransactItems=[
                    {"Put": {"TableName": table.name, "Item": good}},
                    {"Put": {"TableName": table.name, "Item": bad}},
                ]
            )
        assert _item(table, "K#1") is None and _item(table, "K#2") is None


def test_results_round_trip_every_attribute_type(table):
    from decimal import Decimal

    from boto3.dynamodb.types import Binary

    item = {
        "PK": "R#1",
        "SK": "A",
        "s": "text é",
        "n": Decimal("1.5"),
        "b": Binary(b"\x00\xffraw"),
        "flag": True,
        "nothing": None,
        "list": [1, "two", {"three": [3]}],
        "map": {"deep": {"deeper": "yes"}},
        "ss": {"a", "b"},
        "ns": {Decimal(1), Decimal(2)},
        "bs": {Binary(b"\x01"), Binary(b"\x02")},
        "empty": [],
        "emptymap": {},
    }
    table.put_item(Item=item)
    assert _item(table, "R#1") == item
    for i in range(3):
        table.put_item(Item={"PK": "R#2", "SK": f"{i}", "v": i})
    first = table.query(
        KeyConditionExpression="PK = :p", ExpressionAttributeValues={":p": "R#2"}, Limit=2
    )
    assert [x["v"] for x in first["Items"]] == [0, 1] and first["Count"] == 2
    rest = table.query(
        KeyConditionExpression="PK = :p",
        ExpressionAttributeValues={":p": "R#2"},
        ExclusiveStartKey=first["LastEvaluatedKey"],
    )
    assert [x["v"] for x in rest["Items"]] == [2] and "LastEvaluatedKey" not in rest
    got = table.meta.client.batch_get_item(
        RequestItems={table.name: {"Keys": [{"PK": "R#1", "SK": "A"}, {"PK": "R#9", "SK": "A"}]}}
    )  # a resource's client: plain values
    assert got["Responses"][table.name] == [item]
    assert (
        table.query(
            KeyConditionExpression="PK = :p",
            ExpressionAttributeValues={":p": "R#2"},
            Select="COUNT",
        )["Count"]
        == 3
    )


def test_read_results_are_written_in_one_walk(table, monkeypatch):
    """Fix 2: a read's result goes to the wire without moto's own conversion of it to plain
    dicts first (a second walk of every item), and reads back as it was written."""
    from moto.dynamodb import responses

    converted = []
    real = responses.dynamo_to_dict
    monkeypatch.setattr(
        responses, "dynamo_to_dict", lambda value: converted.append(1) or real(value)
    )
    item = {"PK": "R#1", "SK": "A", "b": b"\x00\xff", "bs": {b"\x01"}, "m": {"n": [1, None]}}
    table.put_item(Item=item)
    converted.clear()
    assert _item(table, "R#1") == item
    got = table.meta.client.batch_get_item(
        RequestItems={table.name: {"Keys": [{"PK": "R#1", "SK": "A"}], "ConsistentRead": True}}
    )
    assert got["Responses"][table.name] == [item]
    assert converted == []


def test_a_missing_table_is_still_a_client_error(table, emulator):
    import boto3

    client = boto3.client(
        "dynamodb",
        endpoint_url=emulator.endpoint,
        region_name=emulator.region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        client.get_item(TableName="no-such-table", Key={"PK": {"S": "x"}})


def test_sqs_counts_and_fifo_deduplication_still_work(emulator):
    sqs = emulator.client("sqs")
    plain = sqs.create_queue(QueueName="fixes-plain")["QueueUrl"]
    for i in range(3):
        sqs.send_message_batch(
            QueueUrl=plain, Entries=[{"Id": str(j), "MessageBody": f"{i}.{j}"} for j in range(10)]
        )
    counts = sqs.get_queue_attributes(QueueUrl=plain, AttributeNames=["All"])["Attributes"]
    assert counts["ApproximateNumberOfMessages"] == "30"
    assert "ContentBasedDeduplication" not in counts
    fifo = sqs.create_queue(
        QueueName="fixes.fifo",
        Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"},
    )["QueueUrl"]
    for _ in range(2):
        sqs.send_message(QueueUrl=fifo, MessageBody="same", MessageGroupId="g")
    attributes = sqs.get_queue_attributes(QueueUrl=fifo, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "1"
    assert attributes["ContentBasedDeduplication"] == "true"


def test_the_api_socket_gets_tcp_nodelay_on_accepted_connections():
    """asyncio sets TCP_NODELAY only on sockets whose `proto` is TCP; without it Nagle's
    algorithm and delayed ACKs add ~40 ms to each response on a kept-alive connection."""
    import asyncio

    from engram_local.server import _bind

    listener = _bind(_free_port(), "PORT")
    assert listener.proto == socket.IPPROTO_TCP

    async def serve_once() -> int:
        seen = []

        async def on_connect(reader, writer):
            sock = writer.get_extra_info("socket")
            seen.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(on_connect, sock=listener)
        _, writer = await asyncio.open_connection(*listener.getsockname())
        for _ in range(100):
            if seen:
                break
            await asyncio.sleep(0.01)
        writer.close()
        server.close()
        return seen[0]

    assert asyncio.run(asyncio.wait_for(serve_once(), 5)) != 0


def test_queries_read_their_partition_and_keep_moto_order(table):
    """Base-table and index queries, both directions, paginated, filtered: the items and
    their order are what DynamoDB (and moto unpatched) give."""
    for ws in ("Q#a", "Q#b"):
        for i in range(6):
            table.put_item(
                Item={
                    "PK": f"{ws}#{i}",
                    "SK": "M",
                    "GSI1PK": ws,
                    "GSI1SK": f"2026-01-0{i % 3 + 1}",
                    "n": i,
                }
            )
            table.put_item(Item={"PK": ws, "SK": f"item#{i}", "n": i})

    def page(**kwargs):
        return table.query(**kwargs)

    base = page(
        KeyConditionExpression="PK = :p AND begins_with(SK, :s)",
        ExpressionAttributeValues={":p": "Q#a", ":s": "item#"},
        ScanIndexForward=False,
    )
    assert [x["n"] for x in base["Items"]] == [5, 4, 3, 2, 1, 0]
    assert (
        page(KeyConditionExpression="PK = :p", ExpressionAttributeValues={":p": "Q#none"})["Items"]
        == []
    )
    seen, kwargs = (
        [],
        {
            "IndexName": "GSI1",
            "KeyConditionExpression": "GSI1PK = :p",
            "ExpressionAttributeValues": {":p": "Q#b", ":odd": 1},
            "FilterExpression": "n <> :odd",
            "Limit": 2,
        },
    )
    for _ in range(10):
        response = page(**kwargs)
        seen += [(x["GSI1SK"], x["PK"]) for x in response["Items"]]
        if "LastEvaluatedKey" not in response:
            break
        kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]
    # Sorted by the index's sort key, ties by the table's keys; n = 1 filtered out.
    assert seen == [
        ("2026-01-01", "Q#b#0"),
        ("2026-01-01", "Q#b#3"),
        ("2026-01-02", "Q#b#4"),
        ("2026-01-03", "Q#b#2"),
        ("2026-01-03", "Q#b#5"),
    ]


def test_update_expressions_still_validate_and_apply(table):
    """Every kind of UpdateItem action, and each validation error, as DynamoDB (and moto
    unpatched) answer them, with the update-expression walks sped up."""
    from decimal import Decimal

    key = {"PK": "U#1", "SK": "A"}
    table.put_item(
        Item={
            **key,
            "n": 1,
            "tags": ["x"],
            "m": {"a": {"b": 1}},
            "ss": {"p", "q"},
            "gone": "soon",
            "status": "pending",
        }
    )
    table.update_item(
        Key=key,
        ConditionExpression="#s = :pending AND attribute_not_exists(deleted_at)",
        UpdateExpression="SET n = n + :one, tags = list_append(tags, :more), m.a.c = :c, "
        "fresh = if_not_exists(fresh, :zero), #s = :ready "
        "REMOVE gone ADD hits :one DELETE ss :q",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={
            ":one": 1,
            ":more": ["y"],
            ":c": "deep",
            ":zero": 0,
            ":ready": "ready",
            ":pending": "pending",
            ":q": {"q"},
        },
    )
    assert _item(table, "U#1") == {
        **key,
        "n": 2,
        "tags": ["x", "y"],
        "m": {"a": {"b": 1, "c": "deep"}},
        "fresh": 0,
        "status": "ready",
        "hits": 1,
        "ss": {"p"},
    }
    failures = {
        "overlapping paths": ("SET m.a = :v, m.a.b = :v", {":v": 1}, "overlap"),
        "a key attribute": ("SET SK = :v", {":v": "B"}, "part of the key"),
        "a missing path": ("SET nope.deeper = :v", {":v": 1}, "document path"),
        "a type mismatch": ("SET n = n + :v", {":v": "text"}, "operand type"),
        "an unused value": ("SET n = :v", {":v": 1, ":extra": 2}, "unused"),
    }
    for what, (expression, values, message) in failures.items():
        with pytest.raises(ClientError, match=f"(?i){message}"):
            table.update_item(
                Key=key, UpdateExpression=expression, ExpressionAttributeValues=values
            )
        assert _item(table, "U#1")["n"] == Decimal(2), what
    with pytest.raises(ClientError, match="ConditionalCheckFailed"):
        table.update_item(
            Key=key,
            UpdateExpression="SET n = :v",
            ConditionExpression="n = :one",
            ExpressionAttributeValues={":v": 9, ":one": 1},
        )
    for _ in range(2):  # a malformed expression fails every time (parses are cached)
        with pytest.raises(ClientError, match=r"(?i)syntax error"):
            table.update_item(
                Key=key, UpdateExpression="SET n = = :v", ExpressionAttributeValues={":v": 1}
            )
    for i in range(3):  # the same expression, other values: each update gets its own
        table.update_item(
            Key=key, UpdateExpression="SET n = :v", ExpressionAttributeValues={":v": 10 + i}
        )
        assert _item(table, "U#1")["n"] == 10 + i


def test_simple_set_and_remove_updates_answer_as_moto_does(table):
    """Fix 8 applies SET name = :value, REMOVE name and ADD name :number directly; each
    failing case here is one it must leave to moto (and moto's answer is DynamoDB's)."""
    from decimal import Decimal

    client = table.meta.client
    key = {"PK": "S#1", "SK": "A"}
    table.put_item(
        Item={
            **key,
            "status": "pending",
            "GSI4PK": "P",
            "GSI4SK": "1",
            "n": 1,
            "content_hash": "h1",
            "note": "x",
        }
    )
    update = {
        "Key": key,
        "ConditionExpression": "content_hash = :c AND attribute_not_exists(deleted_at)",
        "UpdateExpression": "SET embedding = :v, #s = :ready, err = :none REMOVE GSI4PK, GSI4SK, absent",
        "ExpressionAttributeNames": {"#s": "status"},
        "ExpressionAttributeValues": {
            ":v": b"\x00\x01",
            ":ready": "ready",
            ":none": None,
            ":c": "h1",
        },
    }
    answer = table.update_item(**update, ReturnValues="ALL_NEW")["Attributes"]
    assert (
        answer
        == _item(table, "S#1")
        == {
            **key,
            "status": "ready",
            "n": 1,
            "content_hash": "h1",
            "note": "x",
            "embedding": b"\x00\x01",
            "err": None,
        }
    )
    assert not client.query(
        TableName=table.name,
        IndexName="GSI4",
        KeyConditionExpression="GSI4PK = :p",
        ExpressionAttributeValues={":p": {"S": "P"}},
    )["Items"]
    with pytest.raises(ClientError, match="ConditionalCheckFailed") as failed:
        table.update_item(
            **{
                **update,
                "ExpressionAttributeValues": {**update["ExpressionAttributeValues"], ":c": "h2"},
            },
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    assert failed.value.response["Item"]["status"] == {"S": "ready"}
    failures = {
        "an unknown value": ("SET n = :missing", {":v": 1}, "ExpressionAttributeValues"),
        "a key attribute": ("SET SK = :v", {":v": "B"}, "part of the key"),
        "a removed key attribute": ("REMOVE PK", None, "part of the key"),
        "a repeated attribute": ("SET n = :v REMOVE n", {":v": 2}, "overlap"),
        "an empty index key": ("SET GSI1PK = :v", {":v": ""}, "empty string"),
        "a reserved word": ("SET size = :v", {":v": 2}, "reserved keyword"),
        "a syntax error": ("SET n = :v,", {":v": 2}, "syntax error"),
    }
    for what, (expression, values, message) in failures.items():
        extra = {"ExpressionAttributeValues": values} if values else {}
        with pytest.raises(ClientError, match=f"(?i){message}"):
            table.update_item(Key=key, UpdateExpression=expression, **extra)
        assert _item(table, "S#1") == answer, what
    table.update_item(
        Key={"PK": "S#2", "SK": "A"},
        UpdateExpression="SET n = :v, e = :e",
        ExpressionAttributeValues={":v": 1, ":e": ""},
    )  # no item yet: moto creates it
    assert _item(table, "S#2") == {"PK": "S#2", "SK": "A", "n": 1, "e": ""}
    with pytest.raises(ClientError, match=r"(?i)size"):
        table.update_item(
            Key=key,
            UpdateExpression="SET big = :b",
            ExpressionAttributeValues={":b": "x" * 410_000},
        )
    assert _item(table, "S#1") == answer
    for value in (1, 2, Decimal("0.5")):  # ADD of a number: to nothing, then to a number
        table.update_item(
            Key=key, UpdateExpression="ADD hits :n", ExpressionAttributeValues={":n": value}
        )
    assert _item(table, "S#1")["hits"] == Decimal("3.5")
    with pytest.raises(ClientError, match=r"(?i)type"):  # a number added to a string
        table.update_item(
            Key=key, UpdateExpression="ADD note :n", ExpressionAttributeValues={":n": 1}
        )
    table.update_item(
        Key=key, UpdateExpression="ADD tags :t", ExpressionAttributeValues={":t": {"a"}}
    )
    assert _item(table, "S#1")["tags"] == {"a"} and _item(table, "S#1")["note"] == "x"


def test_clients_served_in_process_get_the_same_answers_without_the_socket():
    """Emulator.serve_in_process: the stack's own clients hand requests to the emulator's app
    directly. Shown with the HTTP server shut: those clients still work, others cannot."""
    import boto3
    from botocore.config import Config

    running = start_emulator(_free_port(), prefix="engram-inproc")
    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=running.region
    )
    running.serve_in_process(session)
    http_only = boto3.client(
        "dynamodb",
        endpoint_url=running.endpoint,
        region_name=running.region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 1}, connect_timeout=1),
    )
    running.stop()  # no socket from here on
    table = session.resource("dynamodb", endpoint_url=running.endpoint).Table(
        running.resources.tables["Table"]
    )
    table.put_item(Item={"PK": "P#1", "SK": "A", "raw": b"\x00\xff", "n": 3})
    assert table.get_item(Key={"PK": "P#1", "SK": "A"})["Item"]["raw"].value == b"\x00\xff"
    with pytest.raises(ClientError, match="ConditionalCheckFailed"):
        table.put_item(
            Item={"PK": "P#1", "SK": "A"}, ConditionExpression="attribute_not_exists(PK)"
        )
    sqs = session.client("sqs", endpoint_url=running.endpoint)
    url = running.resources.queue_urls["EmbedQueue"]
    sqs.send_message(
        QueueUrl=url,
        MessageBody='{"job": 1}',
        MessageAttributes={"kind": {"DataType": "String", "StringValue": "t"}},
    )
    (message,) = sqs.receive_message(
        QueueUrl=url, WaitTimeSeconds=1, MessageAttributeNames=["All"]
    )["Messages"]
    assert (
        message["Body"] == '{"job": 1}'
        and message["MessageAttributes"]["kind"]["StringValue"] == "t"
    )
    s3 = session.client("s3", endpoint_url=running.endpoint)
    bucket = running.resources.buckets["ExportBucket"]
    s3.put_object(Bucket=bucket, Key="a/b.json", Body=b'{"x": 1}')
    assert s3.get_object(Bucket=bucket, Key="a/b.json")["Body"].read() == b'{"x": 1}'
    with pytest.raises(Exception, match=r"(?i)connect"):
        http_only.list_tables()


def test_requests_served_in_process_are_not_signed_and_keep_their_region(monkeypatch):
    """In-process requests skip SigV4 (moto checks no signature); the fixed Authorization
    header they carry instead still tells moto the client's region, so the state is the
    same one that signed HTTP clients of that region see."""
    import boto3
    from botocore.auth import SigV4Auth

    signed: list[str] = []
    real_add_auth = SigV4Auth.add_auth
    monkeypatch.setattr(
        SigV4Auth,
        "add_auth",
        lambda self, request: signed.append(request.url) or real_add_auth(self, request),
    )
    running = start_emulator(_free_port(), region="eu-west-1", prefix="engram-unsigned")
    signed.clear()  # creating the template's resources went over HTTP, signed
    try:
        session = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name="eu-west-1"
        )
        running.serve_in_process(session)
        table_name = running.resources.tables["Table"]
        in_process = session.client("dynamodb", endpoint_url=running.endpoint)
        in_process.put_item(TableName=table_name, Item={"PK": {"S": "P#1"}, "SK": {"S": "A"}})
        assert signed == []
        over_http = running.client("dynamodb")
        item = over_http.get_item(TableName=table_name, Key={"PK": {"S": "P#1"}, "SK": {"S": "A"}})
        assert item["Item"]["PK"] == {"S": "P#1"} and signed  # that one was signed
        elsewhere = boto3.client(
            "dynamodb",
            endpoint_url=running.endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        assert table_name not in elsewhere.list_tables()["TableNames"]
    finally:
        running.stop()


@pytest.mark.parametrize(
    ("expression", "plan"),
    [
        ("SET a = :v, #b = :w REMOVE c, #d", ((("a", ":v"), ("#b", ":w")), ("c", "#d"), ())),
        ("set a=:v remove b", ((("a", ":v"),), ("b",), ())),
        ("REMOVE a", ((), ("a",), ())),
        ("ADD n :one", ((), (), (("n", ":one"),))),
        ("SET a = :v ADD n :one, #m :two", ((("a", ":v"),), (), (("n", ":one"), ("#m", ":two")))),
        ("SET a = :vREMOVE b", None),  # one placeholder, ":vREMOVE b" is no action
        ("REMOVE a SET b = :v", None),
        ("ADD n :one SET a = :v", None),
        ("SET a = a + :v", None),
        ("SET m.a = :v", None),
        ("SET a[0] = :v", None),
        ("SET a = if_not_exists(a, :v)", None),
        ("DELETE s :v", None),
        ("ADD n", None),
        ("SET a = :v,", None),
        ("", None),
    ],
)
def test_only_top_level_set_and_remove_actions_take_the_direct_path(expression, plan):
    from engram_local.moto_fixes import _simple_plan

    assert _simple_plan(expression) == plan


def test_a_simple_update_skips_motos_validation_and_another_does_not(table, monkeypatch):
    from moto.dynamodb.parsing.validators import UpdateExpressionValidator

    def refuse(self):
        raise AssertionError("moto's validator ran")

    key = {"PK": "D#1", "SK": "A"}
    table.put_item(Item={**key, "n": 1})
    monkeypatch.setattr(UpdateExpressionValidator, "validate", refuse)
    table.update_item(
        Key=key,
        UpdateExpression="SET n = :v REMOVE x ADD hits :one",
        ExpressionAttributeValues={":v": 2, ":one": 1},
    )
    assert _item(table, "D#1") == {**key, "n": 2, "hits": 1}
    with pytest.raises(ClientError):  # the emulator answers the AssertionError with a 500
        table.update_item(
            Key=key, UpdateExpression="SET n = n + :v", ExpressionAttributeValues={":v": 1}
        )


def test_conditions_and_filters_still_parse_each_call(table):
    """Fix 9 caches the lexed tokens of condition and filter expressions by their text."""
    key = {"PK": "C#1", "SK": "A"}
    table.put_item(Item={**key, "n": 1, "tag": "a"})
    condition = "n = :n AND (attribute_not_exists(gone) OR tag IN (:a, :b))"
    for n in (1, 2, 3):  # the same text, other values: each call its own answer
        table.update_item(
            Key=key,
            UpdateExpression="SET n = :next",
            ConditionExpression=condition,
            ExpressionAttributeValues={":n": n, ":next": n + 1, ":a": "a", ":b": "b"},
        )
    with pytest.raises(ClientError, match="ConditionalCheckFailed"):
        table.update_item(
            Key=key,
            UpdateExpression="SET n = :next",
            ConditionExpression=condition,
            ExpressionAttributeValues={":n": 1, ":next": 9, ":a": "a", ":b": "b"},
        )
    for _ in range(2):  # a malformed condition fails every time (moto, patched or not: a 500)
        with pytest.raises(ClientError):
            table.update_item(
                Key=key,
                UpdateExpression="SET n = :v",
                ConditionExpression="n = = :v",
                ExpressionAttributeValues={":v": 1},
            )
    found = [
        table.query(
            KeyConditionExpression="PK = :pk",
            FilterExpression="n >= :min",
            ExpressionAttributeValues={":pk": "C#1", ":min": low},
        )["Count"]
        for low in (4, 5)
    ]
    assert found == [1, 0] and _item(table, "C#1")["n"] == 4


def test_items_are_sized_once_and_refused_past_the_same_limit(table, monkeypatch):
    """Fix 11 builds each item with a running size total instead of moto's re-summing dict:
    an item of exactly moto's limit is stored, one byte more is refused (alone or in a
    transaction) and leaves what was there."""
    from moto.dynamodb.models.dynamo_type import LimitedSizeDict

    from engram_local.moto_fixes import ITEM_LIMIT

    def item(big: int) -> dict:
        # name bytes + value bytes: PK 2+3, SK 2+1, n 1+5 (digits), m 1+(1+2), big 3+big
        return {"PK": "L#1", "SK": "A", "n": 12345, "m": {"a": "xy"}, "big": "x" * big}

    monkeypatch.setattr(LimitedSizeDict, "__setitem__", lambda *a: pytest.fail("re-summed"))
    at_limit = ITEM_LIMIT - 21
    table.put_item(Item=item(at_limit))
    assert len(_item(table, "L#1")["big"]) == at_limit
    client = table.meta.client
    for put in (
        lambda: table.put_item(Item=item(at_limit + 1)),
        lambda: client.transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": table.name,
                        "Item": {"PK": "L#1", "SK": "A", "big": "x" * (ITEM_LIMIT - 10)},
                    }
                }
            ]
        ),
    ):
        with pytest.raises(ClientError, match="Item size has exceeded the maximum allowed size"):
            put()
        assert len(_item(table, "L#1")["big"]) == at_limit
    client.transact_write_items(
        TransactItems=[
            {
                "Put": {
                    "TableName": table.name,
                    "Item": {"PK": "L#1", "SK": "A", "big": "x" * (ITEM_LIMIT - 11)},
                }
            }
        ]
    )
    assert _item(table, "L#1") == {"PK": "L#1", "SK": "A", "big": "x" * (ITEM_LIMIT - 11)}


def test_the_server_finds_each_service_once_per_host(emulator, monkeypatch):
    """Fix 10: moto's dispatcher no longer lists moto's folder on every request; every
    service still answers, and an unknown host is still asked each time."""
    import os

    import boto3
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    listed = []
    real_listdir = os.listdir
    monkeypatch.setattr(os, "listdir", lambda path=".": listed.append(path) or real_listdir(path))
    options = {
        "endpoint_url": emulator.endpoint,
        "region_name": emulator.region,
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
    }
    for attempt in range(3):
        boto3.client("dynamodb", **options).list_tables()
        boto3.client("sqs", **options).list_queues()
        boto3.client("ssm", **options).describe_parameters()
        if attempt == 0:  # the first request per host looks it up
            listed.clear()
    assert not [p for p in listed if str(p).rstrip("/").endswith("moto")]
    from moto.core import responses

    assert responses.method_names_from_class.cache_info().hits >= 6  # the class's methods, once
    dispatcher = DomainDispatcherApplication.__new__(DomainDispatcherApplication)
    dispatcher.backend_url_patterns = []
    assert dispatcher.get_backend_for_host("nowhere.example") is None
    assert "nowhere.example" not in dispatcher.__dict__.get("_backend_for_host", {})


def _vector_update(table, pk: str, hash_: str, vector: bytes, gone: str = "deleted_at") -> dict:
    """One conditional vector update, as the embed worker writes them in a transaction."""
    return {
        "Update": {
            "TableName": table.name,
            "Key": {"PK": pk, "SK": "A"},
            "UpdateExpression": "SET embedding = :v, #s = :ready",
            "ConditionExpression": f"content_hash = :c AND attribute_not_exists({gone})",
            "ExpressionAttributeNames": {"#s": "status"},
            "ExpressionAttributeValues": {":v": vector, ":ready": "ready", ":c": hash_},
        }
    }


def test_a_condition_is_parsed_once_for_every_set_of_values(table, monkeypatch):
    """Fix 12 keeps a condition's parse by expression and names, binding each call's values:
    moto parsed each update's condition three times in a transaction (request validation, the
    transaction's check, the update's own), now once for all of them and the next ones."""
    from moto.dynamodb.comparisons import ConditionExpressionParser

    parsed = []
    walk = ConditionExpressionParser._parse_paths  # a step of every real parse
    monkeypatch.setattr(
        ConditionExpressionParser,
        "_parse_paths",
        lambda self, nodes: parsed.append(self.condition_expression) or walk(self, nodes),
    )
    for i in range(6):
        table.put_item(Item={"PK": f"P#{i}", "SK": "A", "content_hash": f"h{i}"})
    client = table.meta.client
    for batch in (range(3), range(3, 6)):
        client.transact_write_items(
            TransactItems=[
                _vector_update(table, f"P#{i}", f"h{i}", bytes([i]) * 8, gone="probe")
                for i in batch
            ]
        )
    assert len(parsed) == 1
    assert [_item(table, f"P#{i}")["status"] for i in range(6)] == ["ready"] * 6
    assert [_item(table, f"P#{i}")["embedding"].value for i in range(6)] == [
        bytes([i]) * 8 for i in range(6)
    ]


def test_a_kept_parse_answers_as_a_fresh_one(table):
    """Fix 12: the same condition with other values is judged on its own values; a parse kept
    from one request still tells moto's validation which names it used (an identical request
    again passes, an unused name is still refused); a bad condition fails every time."""
    client = table.meta.client
    table.put_item(Item={"PK": "K#1", "SK": "A", "content_hash": "h1"})
    stale = _vector_update(table, "K#1", "h0", b"\x01")
    current = _vector_update(table, "K#1", "h1", b"\x02")
    for _ in range(2):
        with pytest.raises(ClientError, match="ConditionalCheckFailed"):
            client.transact_write_items(TransactItems=[stale])
        client.transact_write_items(TransactItems=[current])  # kept the second time
        table.update_item(  # UpdateItem parses it too (its validation, then the update)
            Key={"PK": "K#1", "SK": "A"},
            UpdateExpression="SET n = :n",
            ConditionExpression="#h = :c",
            ExpressionAttributeNames={"#h": "content_hash"},
            ExpressionAttributeValues={":c": "h1", ":n": 1},
        )
    assert _item(table, "K#1")["embedding"].value == b"\x02"
    unused = _vector_update(table, "K#1", "h1", b"\x02")
    unused["Update"]["ExpressionAttributeNames"]["#x"] = "x"
    with pytest.raises(ClientError, match="unused"):
        client.transact_write_items(TransactItems=[unused])
    missing = _vector_update(table, "K#1", "h1", b"\x02")
    del missing["Update"]["ExpressionAttributeValues"][":c"]
    for _ in range(2):  # moto's own answer (a 500 from the emulator, patched or not)
        with pytest.raises(ClientError):
            client.transact_write_items(TransactItems=[missing])
    for low, high, holds in ((1, 3, True), (3, 5, False), (1, 1, True)):  # n is 1
        between = {
            "Key": {"PK": "K#1", "SK": "A"},
            "UpdateExpression": "SET m = :m",
            "ConditionExpression": "n BETWEEN :low AND :high",
            "ExpressionAttributeValues": {":low": low, ":high": high, ":m": low},
        }
        if holds:
            table.update_item(**between)
        else:
            with pytest.raises(ClientError, match="ConditionalCheckFailed"):
                table.update_item(**between)
    for _ in range(2):  # a NULL bound is refused while parsing (a BETWEEN is never kept)
        with pytest.raises(ClientError):
            table.update_item(
                **{**between, "ExpressionAttributeValues": {":low": None, ":high": 3, ":m": 0}}
            )
    bad = _vector_update(table, "K#1", "h1", b"\x02")
    bad["Update"]["ConditionExpression"] = "content_hash = = :c"
    for _ in range(2):
        with pytest.raises(ClientError):
            client.transact_write_items(TransactItems=[bad])
    assert _item(table, "K#1")["embedding"].value == b"\x02"


# Request bodies as botocore sends them, and some it would not (unknown and null members,
# members out of the model's order, a value of the wrong JSON kind).
_BODIES = {
    "TransactWriteItems": {
        "ClientRequestToken": "t1",
        "TransactItems": [
            {
                "Update": {
                    "TableName": "t",
                    "Key": {"PK": {"S": "A"}, "SK": {"B": "AAH/"}},
                    "UpdateExpression": "SET v = :v",
                    "ExpressionAttributeValues": {
                        ":v": {"B": "AAECAw=="},
                        ":s": {"BS": ["AA==", "/w=="]},
                        ":m": {"M": {"x": {"L": [{"N": "1"}, {"NULL": True}, {"B": "AQ=="}]}}},
                        ":u": {"X": "unknown"},
                        ":z": {"S": None},
                    },
                    "Unknown": {"S": "dropped"},
                    "ConditionExpression": None,
                }
            },
            {"Put": {"Item": {"PK": {"S": "B"}, "n": {"NS": ["1", "2"]}}, "TableName": "t"}},
        ],
    },
    "BatchGetItem": {
        "RequestItems": {"t": {"Keys": [{"PK": {"S": "A"}}], "ConsistentRead": True, "Extra": 1}},
        "ReturnConsumedCapacity": "TOTAL",
    },
    "Query": {
        "TableName": "t",
        "Limit": 5,
        "ExclusiveStartKey": {"PK": {"B": "AAE="}},
        "KeyConditions": {"PK": {"AttributeValueList": [{"S": "x"}], "ComparisonOperator": "EQ"}},
    },
    "RestoreTableToPointInTime": {
        "TargetTableName": "u",
        "RestoreDateTime": 1764892800.5,
        "SourceTableName": "t",
    },
    "ListTables": {"Limit": "7"},
}
_NOT_PLAIN = {
    "BatchGetItem": {"RequestItems": {"t": {"Keys": "PK"}}},
    "PutItem": {"TableName": "t", "Item": {"PK": None, "n": [{"S": "a"}]}},
    "Query": {"TableName": "t", "ExclusiveStartKey": []},
}


def _motos_own_parse(action: str, body: dict) -> Any:
    import json

    from moto.core.parse import JSONParser
    from moto.core.utils import get_service_model

    operation = get_service_model("dynamodb").operation_model(action)
    return JSONParser(operation).parse({"body": json.dumps(body).encode()})


@pytest.mark.parametrize("action", sorted(_BODIES))
def test_request_bodies_read_as_motos_own_parser_reads_them(action):
    """Fix 14 turns each operation's input shape into plain functions once: the same
    parameters as moto's model-driven parser (blobs decoded, numbers and timestamps converted,
    unknown and null members dropped, members in the model's order)."""
    import json

    from moto.core.parse import JSONParser
    from moto.core.utils import get_service_model

    from engram_local.moto_fixes import _shape_reader

    operation = get_service_model("dynamodb").operation_model(action)
    read = _shape_reader(operation.input_shape, {})
    parser = JSONParser(operation)
    fast = read(parser, parser._parse_body_as_json(json.dumps(_BODIES[action]).encode()))
    own = _motos_own_parse(action, _BODIES[action])
    assert fast == own
    assert json.dumps(fast, default=repr) == json.dumps(own, default=repr)  # and in its order


@pytest.mark.parametrize("action", sorted(_NOT_PLAIN))
def test_a_body_not_of_its_shapes_kind_goes_to_motos_parser(action):
    import json

    from moto.core.parse import JSONParser
    from moto.core.utils import get_service_model

    from engram_local.moto_fixes import _NotPlain, _shape_reader

    operation = get_service_model("dynamodb").operation_model(action)
    parser = JSONParser(operation)
    with pytest.raises(_NotPlain):
        _shape_reader(operation.input_shape, {})(
            parser, parser._parse_body_as_json(json.dumps(_NOT_PLAIN[action]).encode())
        )


def test_requests_skip_motos_model_driven_parser(table, monkeypatch):
    """Fix 14: the embed worker's requests (a vector transaction, a consistent batch read)
    reach moto without its parser's per-value handler lookups, and answer as before; a key
    of a type no key has is still refused."""
    from moto.core.parse import RequestParser

    walked = []
    real = RequestParser._parse_shape
    monkeypatch.setattr(
        RequestParser,
        "_parse_shape",
        lambda self, shape, node: walked.append(shape.name) or real(self, shape, node),
    )
    client = table.meta.client
    for i in range(3):
        table.put_item(Item={"PK": f"Q#{i}", "SK": "A", "content_hash": f"h{i}"})
    walked.clear()
    client.transact_write_items(
        TransactItems=[_vector_update(table, f"Q#{i}", f"h{i}", bytes([i, 255])) for i in range(3)]
    )
    got = client.batch_get_item(
        RequestItems={
            table.name: {
                "Keys": [{"PK": f"Q#{i}", "SK": "A"} for i in range(3)],
                "ConsistentRead": True,
            }
        }
    )
    assert walked == []
    vectors = {i["PK"]: i["embedding"].value for i in got["Responses"][table.name]}
    assert vectors == {f"Q#{i}": bytes([i, 255]) for i in range(3)}
    with pytest.raises(ClientError):
        client.batch_get_item(RequestItems={table.name: {"Keys": [{"PK": {"M": {}}}]}})


def test_a_kept_update_parse_keeps_the_clauses_validation_looks_up(table):
    """Fix 7: the names a kept update expression uses are found once (moto walked the whole
    tree for every update of a transaction); each caller gets its own list, and a transaction
    naming a name its expression does not use is still refused."""
    from moto.dynamodb.parsing.ast_nodes import ExpressionAttributeName
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser

    tree = UpdateExpressionParser.make("SET #a = :a, #b = :b REMOVE #c")
    assert UpdateExpressionParser.make("SET #a = :a, #b = :b REMOVE #c") is tree
    first = tree.find_clauses([ExpressionAttributeName])
    names = [n.get_attribute_name_placeholder() for n in first]
    assert names == ["#a", "#b", "#c"]
    first.clear()
    children, tree.children = tree.children, None  # a second walk would find nothing now
    try:
        again = tree.find_clauses([ExpressionAttributeName])
    finally:
        tree.children = children
    assert [n.get_attribute_name_placeholder() for n in again] == names
    table.put_item(Item={"PK": "F#1", "SK": "A"})
    update = {
        "TableName": table.name,
        "Key": {"PK": {"S": "F#1"}, "SK": {"S": "A"}},
        "UpdateExpression": "SET #a = :a, #b = :b REMOVE #c",
        "ExpressionAttributeNames": {"#a": "a", "#b": "b", "#c": "c"},
        "ExpressionAttributeValues": {":a": {"N": "1"}, ":b": {"S": "x"}},
    }
    import boto3

    low = boto3.client(
        "dynamodb",
        endpoint_url=table.meta.client.meta.endpoint_url,
        region_name=table.meta.client.meta.region_name,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    for _ in range(2):
        low.transact_write_items(TransactItems=[{"Update": update}])
        unused = {
            **update,
            "ExpressionAttributeNames": {**update["ExpressionAttributeNames"], "#x": "x"},
        }
        with pytest.raises(ClientError, match="unused"):
            low.transact_write_items(TransactItems=[{"Update": unused}])
    assert _item(table, "F#1") == {"PK": "F#1", "SK": "A", "a": 1, "b": "x"}


def test_a_batch_read_sizes_each_item_once(table, monkeypatch):
    """Fix 13: moto sized every item of a BatchGetItem answer twice (its 16 MB limit)."""
    from engram_local import moto_fixes

    sized = []
    real = moto_fixes._attributes_size
    monkeypatch.setattr(
        moto_fixes, "_attributes_size", lambda attrs, skip=(): sized.append(1) or real(attrs, skip)
    )
    table.put_item(Item={"PK": "Z#1", "SK": "A", "text": "é", "n": 1, "b": b"\x00"})
    sized.clear()
    got = table.meta.client.batch_get_item(
        RequestItems={table.name: {"Keys": [{"PK": "Z#1", "SK": "A"}], "ConsistentRead": True}}
    )
    assert got["Responses"][table.name][0]["text"] == "é"
    assert len(sized) == 1


def test_an_items_size_is_motos(table):
    """Fix 13 sizes ASCII text in place; every kind of value adds up as moto's Item.size."""
    from moto.dynamodb.models.dynamo_type import DynamoType, Item
    from moto.dynamodb.models.utilities import bytesize

    from engram_local.moto_fixes import _attributes_size

    attrs = {
        "PK": {"S": "P#1"},
        "é": {"S": "ü and e"},
        "n": {"N": "12.5"},
        "b": {"B": b"\x00\x01"},
        "ss": {"SS": ["a", "é"]},
        "m": {"M": {"k": {"L": [{"S": "x"}, {"NULL": True}, {"BOOL": False}]}}},
    }
    item = Item(DynamoType({"S": "P#1"}), None, attrs)
    motos = sum(bytesize(k) + DynamoType(v).size() for k, v in attrs.items())
    assert _attributes_size(item.attrs) == item.size() == motos
    skipped = bytesize("m") + item.attrs["m"].size() + bytesize("é") + bytesize("ü and e")
    assert _attributes_size(item.attrs, skip={"m", "é"}) == motos - skipped


@pytest.mark.parametrize(
    "value", ["plain", "", "é and ü", "\U0001f600", b"\x00\xff", "\ud800", bytearray(b"a")]
)
def test_sizes_count_bytes_as_moto_does(value):
    from moto.dynamodb.models.utilities import bytesize

    from engram_local.moto_fixes import _bytesize

    try:
        expected: Any = bytesize(value)
    except Exception as error:  # noqa: BLE001 - moto's own error for it
        expected = type(error)
    try:
        got: Any = _bytesize(value)
    except Exception as error:  # noqa: BLE001
        got = type(error)
    assert got == expected


def test_a_transactions_update_binds_its_condition_once(table, monkeypatch):
    """Fix 12 keeps a binding for the request's values: moto checks a transaction's update
    condition three times (its validation, the transaction, the update itself)."""
    from engram_local import moto_fixes

    nodes = []  # each node bound (a binding recurses from the kept parse's root)
    real = moto_fixes._bind
    monkeypatch.setattr(moto_fixes, "_bind", lambda *args: nodes.append(args[0]) or real(*args))
    for i in range(3):
        table.put_item(Item={"PK": f"W#{i}", "SK": "A", "content_hash": f"h{i}"})
    client = table.meta.client
    client.transact_write_items(
        TransactItems=[_vector_update(table, f"W#{i}", f"h{i}", bytes([i])) for i in range(3)]
    )
    assert sum(node is nodes[0] for node in nodes) == 3  # from the root once per update
    stale = _vector_update(table, "W#0", "h-old", b"\x09")
    for _ in range(2):  # a new request's values are bound again, and judged on their own
        with pytest.raises(ClientError, match="ConditionalCheckFailed"):
            client.transact_write_items(TransactItems=[stale])
    assert [_item(table, f"W#{i}")["embedding"].value for i in range(3)] == [
        b"\x00",
        b"\x01",
        b"\x02",
    ]
