"""The emulator's state kept in the data directory (ENGRAM_DATA_DIR): the template's tables,
its queues' messages and the stack's own settings (secret values, the development key).

moto keeps nothing on disk, and its request recorder fits no better (it records reads too,
never fsyncs, replays over HTTP and cannot replay SQS: receipt handles are random). So the
emulator's WSGI app is wrapped: after a DynamoDB write succeeds, and before its answer leaves,
the journal gets the *images* of the items it touched (read back from moto) and is fsync'd;
likewise each message sent and each message deleted (resolved to its id before the delete).
The images are read under the DynamoDB lock with a ticket that orders them; they are encoded
and appended after the lock is released, in ticket order (so a key's images reach the journal
in the order of its changes), and other requests do not wait for a worker batch's encoding.
A request over the emulator's socket (another process: the admin CLI) is answered once its
records are on disk (fdatasync). The stack's own in-process requests only write them (a crash
of the process cannot lose them then) and the API syncs once before it answers a request
(`synced_answers`), and before every SQS delete, so no worker's progress gets ahead of the disk.
Receives are not journaled: after a crash, messages in flight are visible again at once and
their receive counts start over (SQS promises at-least-once delivery; the workers are
idempotent). Compaction dumps the state into the snapshot once the journal has grown past
COMPACT_BYTES, without holding requests up longer than the DynamoDB part of the dump takes.

At start, `load()` folds the snapshot and the journals into the final image of each item and
message and installs those in moto directly (no request parsing), then compacts if the
journals held anything (so the next start reads one file)."""

from __future__ import annotations

import base64
import contextvars
import io
import json
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from functools import cache
from typing import Any

from engram_local.journal import DataDir, DataError, encode, recover_hint
from engram_local.resources import LocalResources

logger = logging.getLogger("engram_local.persistence")

COMPACT_BYTES = 64 * 1024 * 1024  # journal size that starts a compaction (ENGRAM_COMPACT_BYTES)
DYNAMODB_WRITES = frozenset(
    {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
)
# Writes whose items cannot be told from the request: every item of the tables is journaled
# after them (rare: Engram never sends them; a developer's own experiments might).
DYNAMODB_OPAQUE = frozenset({"ExecuteStatement", "BatchExecuteStatement", "ExecuteTransaction"})
SQS_SENDS = frozenset({"SendMessage", "SendMessageBatch"})
SQS_DELETES = frozenset({"DeleteMessage", "DeleteMessageBatch", "PurgeQueue"})
DEFER_SYNC = "engram.defer_sync"  # set in the environ of the stack's own in-process requests

Record = dict[str, Any]

# The highest journal ticket an API request has seen, in a box its ASGI wrapper sets: the
# tickets issued when each of its emulator requests ran (what it may have read) and its own.
_seen: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar(
    "engram_journal_seen", default=None
)


def _saw(ticket: int) -> None:
    box = _seen.get()
    if box is not None and ticket > box[0]:
        box[0] = ticket


@dataclass(frozen=True)
class LoadReport:
    items: int
    messages: int
    snapshot_seconds: float = 0.0  # writing the snapshot at start (after a journal's replay)


# --- DynamoDB JSON with bytes <-> JSON-safe records -------------------------------------------


def to_record(value: dict[str, Any]) -> dict[str, Any]:
    """An attribute map as moto holds it (binary as bytes) in JSON terms (binary as base64);
    `_dynamo` reads it back."""
    return {name: _typed_out(typed) for name, typed in value.items()}


def _typed_out(typed: dict[str, Any]) -> dict[str, Any]:
    ((kind, value),) = typed.items()
    if kind == "B":
        return {"B": base64.b64encode(value).decode() if isinstance(value, bytes) else value}
    if kind == "BS":
        return {"BS": [base64.b64encode(v).decode() if isinstance(v, bytes) else v for v in value]}
    if kind == "M":
        return {"M": to_record(value)}
    if kind == "L":
        return {"L": [_typed_out(v) for v in value]}
    return typed


# --- moto's state as records ------------------------------------------------------------------


class MotoState:
    """The template's tables and queues inside moto, read and written as records."""

    def __init__(self, resources: LocalResources, region: str) -> None:
        from moto.dynamodb.models import dynamodb_backends
        from moto.sqs.models import sqs_backends

        arn = next(iter(resources.queue_arns.values()))
        account = arn.split(":")[4]
        self._dynamodb = dynamodb_backends[account][region]
        self._table_names = frozenset(resources.tables.values())
        sqs = sqs_backends[account][region]
        self.queues = {
            url.rsplit("/", 1)[1]: sqs.get_queue(url.rsplit("/", 1)[1])
            for url in resources.queue_urls.values()
        }

    # DynamoDB

    @property
    def tables(self) -> dict[str, Any]:
        """The template's tables, looked up each time: a refused transaction puts back
        moto's tables as they were, as other objects."""
        return {n: t for n, t in self._dynamodb.tables.items() if n in self._table_names}

    def images(self, touched: Iterable[tuple[str, dict[str, Any]]]) -> list[Record]:
        """The current image of each touched item (table name, key attributes), or its absence.
        The caller holds the DynamoDB lock: the records share nothing mutable with moto, so
        they can be encoded after it is released."""
        records = []
        tables = self.tables
        for table_name, key in touched:
            table = tables.get(table_name)
            if table is None:
                continue  # not a table of the template: not kept
            range_attr = table.range_key_attr
            item = table.get_item(
                _key_value(key[table.hash_key_attr]),
                _key_value(key[range_attr]) if range_attr else None,
            )
            if item is None:
                records.append({"k": "gone", "t": table_name, "key": to_record(key)})
            else:
                records.append({"k": "item", "t": table_name, "i": _attributes(item)})
        return records

    def live_memory_items(self, table_name: str, lock: threading.Lock) -> Iterator[list[Any]]:
        """The table's memory items as boto3 would read them (Python values), 500 a page;
        moto's items are listed under `lock`, converted outside it."""
        with lock:
            items = [i for i in _items(self.tables[table_name]) if _is_memory(i)]
        for start in range(0, len(items), 500):
            yield [
                {name: python_value(typed) for name, typed in item.attrs.items()}
                for item in items[start : start + 500]
            ]

    def table_records(self) -> list[Record]:
        """Every item of every table (the caller holds the DynamoDB lock)."""
        return [
            {"k": "item", "t": name, "i": _attributes(item)}
            for name, table in self.tables.items()
            for item in _items(table)
        ]

    # SQS

    def message_records(self, queue_name: str, message_ids: Iterable[str]) -> list[Record]:
        queue = self.queues.get(queue_name)
        if queue is None:
            return []
        wanted, found = set(message_ids), []
        for message in reversed(list(queue._messages)):  # just sent: at the end
            if message.id in wanted:
                found.append({"k": "msg", "q": queue_name, "m": _message(message)})
                wanted.discard(message.id)
                if not wanted:
                    break
        return found[::-1]

    def message_ids(self, queue_name: str, receipt_handles: Iterable[str] | None) -> list[str]:
        """The ids of the messages these receipt handles name (None: every message)."""
        queue = self.queues.get(queue_name)
        if queue is None:
            return []
        messages = list(queue._messages)
        if receipt_handles is None:
            return [m.id for m in messages]
        handles = set(receipt_handles)
        return [m.id for m in messages if handles.intersection(m.all_receipt_handles)]

    def queue_records(self) -> list[Record]:
        return [
            {"k": "msg", "q": name, "m": _message(m)}
            for name, queue in self.queues.items()
            for m in list(queue._messages)
        ]

    # loading

    def install(self, records: Iterable[Record], meta: dict[str, Any]) -> LoadReport:
        """Folds records into final images and puts those into the (empty) tables and queues;
        settings records go into `meta`."""
        keys = {n: (t.hash_key_attr, t.range_key_attr) for n, t in self.tables.items()}
        items: dict[str, dict[tuple[Any, ...], dict[str, Any] | None]] = defaultdict(dict)
        messages: dict[str, dict[str, dict[str, Any] | None]] = defaultdict(dict)
        for record in records:
            kind = record.get("k")
            if kind == "item":
                table = self._table(record)
                items[table][_token(keys[table], record["i"])] = record["i"]
            elif kind == "gone":
                table = self._table(record)
                items[table][_token(keys[table], record["key"])] = None
            elif kind == "msg":
                messages[self._queue(record)][record["m"]["id"]] = record["m"]
            elif kind == "ack":
                messages[self._queue(record)][record["id"]] = None
            elif kind == "meta":
                meta[record["n"]] = record["v"]
            else:
                raise DataError(
                    f"The data holds a record of an unknown kind {kind!r} (written by a newer "
                    "Engram?); Engram did not start."
                )
        return LoadReport(self._put_items(items), self._put_messages(messages))

    def _table(self, record: Record) -> str:
        if record["t"] not in self._table_names:
            raise DataError(
                f"The data holds items of the table {record['t']}, which the template no "
                "longer declares; Engram did not start."
            )
        return str(record["t"])

    def _queue(self, record: Record) -> str:
        if record["q"] not in self.queues:
            raise DataError(
                f"The data holds messages of the queue {record['q']}, which the template no "
                "longer declares; Engram did not start."
            )
        return str(record["q"])

    def _put_items(self, items: dict[str, dict[tuple[Any, ...], dict[str, Any] | None]]) -> int:
        count = 0
        for table_name, images in items.items():
            table = self.tables[table_name]
            hash_attr, range_attr = table.hash_key_attr, table.range_key_attr
            for attributes in images.values():
                if attributes is None:
                    continue
                item = _item(attributes, hash_attr, range_attr)
                if range_attr is None:
                    table.items[item.hash_key] = item
                else:
                    table.items[item.hash_key][item.range_key] = item
                count += 1
        return count

    def _put_messages(self, messages: dict[str, dict[str, dict[str, Any] | None]]) -> int:
        from moto.sqs.models import Message

        count = 0
        for queue_name, images in messages.items():
            queue = self.queues[queue_name]
            for image in images.values():
                if image is None:
                    continue
                message = Message(image["id"], image["body"], image.get("sys") or {})
                message.message_attributes = image.get("attrs") or {}
                message.sent_timestamp = image.get("sent")
                message.delayed_until = image.get("delay", 0.0)
                message.approximate_receive_count = image.get("count", 0)
                message.group_id, message.deduplication_id = image.get("group"), image.get("dedup")
                message.sequence_number = image.get("seq")
                queue._messages.append(message)
                count += 1
        return count


def _token(key_names: tuple[str, str | None], attributes: dict[str, Any]) -> tuple[Any, ...]:
    """An item's key in a record, as a hashable value (its typed key attributes)."""
    hash_attr, range_attr = key_names
    token = next(iter(attributes[hash_attr].items()))
    return (token, next(iter(attributes[range_attr].items()))) if range_attr else (token,)


def _item(attributes: dict[str, Any], hash_attr: str, range_attr: str | None) -> Any:
    """moto's Item of a record's attributes, built directly: loading skips what moto's
    constructors repeat for every write (type dispatch, the 400 KB size walk), as the
    items were checked when they were written. 2-3x faster at start."""
    from moto.dynamodb.models.dynamo_type import Item, LimitedSizeDict

    attrs = LimitedSizeDict.__new__(LimitedSizeDict)
    dict.__init__(attrs, {name: _dynamo(typed) for name, typed in attributes.items()})
    item: Any = Item.__new__(Item)
    item.attrs = attrs
    item.hash_key = attrs[hash_attr]
    item.range_key = attrs[range_attr] if range_attr else None
    return item


def _dynamo(typed: dict[str, Any]) -> Any:
    """moto's DynamoType of one record value (binary from base64), as DynamoType() makes it."""
    ((kind, value),) = typed.items()
    if kind == "B":
        value = base64.b64decode(value)
    elif kind == "BS":
        value = [base64.b64decode(v) for v in value]
    elif kind == "L":
        value = [_dynamo(v) for v in value]
    elif kind == "M":
        value = {k: _dynamo(v) for k, v in value.items()}
    made = _new_dynamo_type()
    made.type, made.value = kind, value
    return made


def _key_value(typed: dict[str, Any]) -> Any:
    """moto's DynamoType of a key attribute as a request carries it (binary as moto's own
    constructor keeps it)."""
    if "S" in typed or "N" in typed:
        return _dynamo(typed)
    return _dynamo_type_class()(typed)


@cache
def _dynamo_type_class() -> Any:
    from moto.dynamodb.models.dynamo_type import DynamoType

    return DynamoType


def _new_dynamo_type() -> Any:
    cls = _dynamo_type_class()
    return cls.__new__(cls)


def _items(table: Any) -> Iterator[Any]:
    for entry in table.items.values():
        if table.range_key_attr:
            yield from entry.values()
        else:
            yield entry


def python_value(typed: Any) -> Any:
    """What boto3's TypeDeserializer makes of a moto value, in one walk (no to_json first)."""
    from boto3.dynamodb.types import DYNAMODB_CONTEXT, Binary

    kind, value = typed.type, typed.value
    if kind == "S" or kind == "BOOL":
        return value
    if kind == "N":
        return DYNAMODB_CONTEXT.create_decimal(value)
    if kind == "B":
        return Binary(value)
    if kind == "NULL":
        return None
    if kind == "L":
        return [python_value(v) for v in value]
    if kind == "M":
        return {k: python_value(v) for k, v in value.items()}
    if kind == "SS":
        return set(value)
    if kind == "NS":
        return {DYNAMODB_CONTEXT.create_decimal(v) for v in value}
    if kind == "BS":
        return {Binary(v) for v in value}
    raise ValueError(f"unknown DynamoDB type {kind!r}")


def _is_memory(item: Any) -> bool:
    kind = item.attrs.get("type")
    return kind is not None and kind.value == "Memory" and "deleted_at" not in item.attrs


def _attributes(item: Any) -> dict[str, Any]:
    """An item's record (what to_record(item.to_json()) gives, in one walk)."""
    return {name: _record_value(typed) for name, typed in item.attrs.items()}


def _record_value(typed: Any) -> dict[str, Any]:
    """A copy: containers are new, leaves immutable (str, bool, None)."""
    kind, value = typed.type, typed.value
    if kind == "S" or kind == "N" or kind == "BOOL" or kind == "NULL":
        return {kind: value}
    if kind == "B":
        return {"B": base64.b64encode(value).decode() if isinstance(value, bytes) else value}
    if kind == "BS":
        return {"BS": [base64.b64encode(v).decode() if isinstance(v, bytes) else v for v in value]}
    if kind == "L":
        return {"L": [_record_value(v) for v in value]}
    if kind == "M":
        return {"M": {k: _record_value(v) for k, v in value.items()}}
    return {kind: list(value)}  # SS, NS


def _message(message: Any) -> dict[str, Any]:
    image = {"id": message.id, "body": message.body, "sent": message.sent_timestamp}
    optional = {
        "attrs": message.message_attributes,
        "sys": message.system_attributes,
        "delay": message.delayed_until,
        "count": message.approximate_receive_count,
        "group": message.group_id,
        "dedup": message.deduplication_id,
        "seq": message.sequence_number,
    }
    image.update({k: v for k, v in optional.items() if v})
    return image


# --- the durable emulator ---------------------------------------------------------------------


class Durability:
    """Journals the emulator's writes (see the module docstring) and compacts the journal."""

    def __init__(self, data: DataDir, compact_bytes: int = COMPACT_BYTES) -> None:
        self.data = data
        self.meta: dict[str, Any] = {}
        self.state: MotoState | None = None
        self.loaded = LoadReport(0, 0)
        self.dynamodb_lock = threading.Lock()  # moto's DynamoDB is not thread-safe
        self._sync_lock = threading.Lock()  # fdatasync, and the journal switch
        # Appends take tickets in the order of their changes (a DynamoDB write's under the
        # DynamoDB lock) and are written in ticket order, each encoded outside every lock:
        # tickets issued, written to the journal, and known to be on disk. `_turn` also
        # guards the journal's writes and its switch.
        self._turn = threading.Condition()
        self._issued = self._written = self._synced = 0
        self._compact_bytes = compact_bytes
        self._compacting = threading.Lock()

    # start

    def load(self, state: MotoState) -> LoadReport:
        """Reads the data directory into moto (raises DataError), then compacts and opens a
        journal: from here on every write is kept."""
        loaded = self.data.load()
        try:
            with self.dynamodb_lock:
                report = state.install(loaded.records, self.meta)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise DataError(
                f"The data in {self.data.path} holds a record this Engram cannot read "
                f"({type(exc).__name__}: {exc}); Engram did not start. {recover_hint(self.data.path)}"
            ) from None
        self.state = state
        self.data.open_journal(loaded.next_generation)
        if loaded.journal_bytes:  # the next start reads one snapshot and no journal
            started = time.monotonic()
            self.compact()
            report = replace(report, snapshot_seconds=time.monotonic() - started)
        self.loaded = report
        return report

    def set_meta(self, name: str, value: Any) -> None:
        """A setting of the stack itself (a secret's value, the development key), kept."""
        self.meta[name] = value
        self._append([{"k": "meta", "n": name, "v": value}], sync=True)

    # journaling

    def wrap(self, app: Callable[..., Any]) -> Callable[..., Any]:
        """The emulator's WSGI app, serialising DynamoDB requests and journaling writes."""

        def wsgi(environ: dict[str, Any], start_response: Any) -> Any:
            service, _, action = environ.get("HTTP_X_AMZ_TARGET", "").partition(".")
            if service.startswith("DynamoDB"):
                with self.dynamodb_lock:
                    chunks, journaled = self._dynamodb(app, action, environ, start_response)
                    _saw(self._issued)  # what it read may stem from writes still unwritten
                if journaled is not None:  # the images are encoded and written after the lock
                    self._append_in_turn(*journaled, sync=not environ.get(DEFER_SYNC))
                return chunks
            if service == "AmazonSQS" and (action in SQS_SENDS or action in SQS_DELETES):
                return self._sqs(app, action, environ, start_response)
            return app(environ, start_response)

        return wsgi

    def _dynamodb(
        self, app: Any, action: str, environ: dict[str, Any], start_response: Any
    ) -> tuple[Any, tuple[int, list[Record]] | None]:
        """Runs the request (the caller holds the DynamoDB lock); for a successful write,
        also its journal ticket and the images of what it changed, read now."""
        if self.state is None or (action not in DYNAMODB_WRITES and action not in DYNAMODB_OPAQUE):
            return list(app(environ, start_response)), None
        body = _request_json(environ)
        status, chunks = _call(app, environ, start_response)
        if status != 200:
            return chunks, None
        if action in DYNAMODB_OPAQUE:  # every item, as its changes are not known
            records = self.state.table_records()
        else:
            records = self.state.images(_touched(action, body, self.state))
        return chunks, (self._ticket(), records)

    def _sqs(self, app: Any, action: str, environ: dict[str, Any], start_response: Any) -> Any:
        state = self.state
        if state is None:
            return app(environ, start_response)
        body = _request_json(environ)
        queue = str(body.get("QueueUrl", "")).rsplit("/", 1)[-1]
        if action == "SendMessage" or action == "SendMessageBatch":
            status, chunks = _call(app, environ, start_response)
            if status == 200:
                answer = json.loads(b"".join(chunks) or b"{}")
                ids = [answer["MessageId"]] if "MessageId" in answer else []
                ids += [entry["MessageId"] for entry in answer.get("Successful", [])]
                self._append(state.message_records(queue, ids), not environ.get(DEFER_SYNC))
            return chunks
        if action == "PurgeQueue":
            handles = None
        elif action == "DeleteMessage":
            handles = [str(body.get("ReceiptHandle"))]
        else:
            handles = [str(e.get("ReceiptHandle")) for e in body.get("Entries", [])]
        ids = state.message_ids(queue, handles)
        status, chunks = _call(app, environ, start_response)
        if status == 200 and ids:
            self._append([{"k": "ack", "q": queue, "id": i} for i in ids], sync=True)
        return chunks

    def _append(self, records: list[Record], sync: bool) -> None:
        if records:
            ticket = self._ticket()
            _saw(ticket)
            self._append_in_turn(ticket, records, sync)

    def _ticket(self) -> int:
        with self._turn:
            self._issued += 1
            return self._issued

    def _append_in_turn(self, ticket: int, records: list[Record], sync: bool) -> None:
        """Encodes the records (outside every lock), then appends them once every ticket
        before this one is written: a key's images reach the journal in the order of its
        changes. A ticket whose encoding fails is passed over, so none waits for it."""
        data = b""
        try:
            data = b"".join(encode(record) for record in records)
        finally:
            grown = self._write_in_turn(ticket, data)
        if sync:
            self.sync(ticket)
        if grown and not self._compacting.locked():
            threading.Thread(target=self.compact, name="engram-compaction", daemon=True).start()

    def _write_in_turn(self, ticket: int, data: bytes) -> bool:
        """Writes `data` as ticket `ticket`; whether the journal has grown past its size."""
        with self._turn:
            while self._written != ticket - 1:
                self._turn.wait()
            try:
                if data:
                    self.data.write(data)
                return self.data.journal_bytes >= self._compact_bytes
            finally:
                self._written = ticket
                self._turn.notify_all()

    def sync(self, upto: int | None = None) -> None:
        """Every record appended so far (up to ticket `upto`) is on disk when this returns:
        it waits for the tickets issued before it to be written, and one fdatasync covers
        concurrent callers."""
        with self._turn:
            wanted = self._issued if upto is None else upto
            if self._synced >= wanted:
                return
            while self._written < wanted:
                self._turn.wait()
        with self._sync_lock:
            if self._synced >= wanted:
                return
            with self._turn:
                covered = self._written
            self.data.sync()
            self._synced = max(self._synced, covered)

    def synced_answers(self, app: Any) -> Any:
        """The API's ASGI app, syncing the journal before each answer starts: an acknowledged
        write is on disk, and so is every write whose effects the request may have read. It
        syncs up to the tickets the request saw (the stack's own clients reach the emulator
        in process, in the request's context), not to a worker's batch begun since."""

        async def asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
            if scope["type"] != "http":
                return await app(scope, receive, send)
            seen = [0]
            token = _seen.set(seen)

            async def send_synced(message: dict[str, Any]) -> None:
                if message["type"] == "http.response.start" and seen[0]:
                    self.sync(seen[0])
                await send(message)

            try:
                return await app(scope, receive, send_synced)
            finally:
                _seen.reset(token)

        return asgi

    # compaction

    def compact(self) -> None:
        """Starts a new journal, dumps the state into a snapshot that names it, and removes
        the older journals. Writes go on meanwhile: each lands in the new journal, and every
        one before the switch is in the dump (records are images, so both is harmless)."""
        if self.state is None or not self._compacting.acquire(blocking=False):
            return
        try:
            with self._sync_lock, self._turn:
                first = self.data.generation + 1
                self.data.open_journal(first)  # syncs the old one
                self._synced = self._written
            with self.dynamodb_lock:
                records = self.state.table_records()
            self._write_snapshot(first, records)
        finally:
            self._compacting.release()

    def _write_snapshot(self, first: int, tables: list[Record]) -> None:
        assert self.state is not None
        meta = [{"k": "meta", "n": n, "v": v} for n, v in self.meta.items()]
        self.data.write_snapshot(first, [*meta, *tables, *self.state.queue_records()])
        logger.info("snapshot written", extra={"journal": first, "records": len(tables)})


def _request_json(environ: dict[str, Any]) -> dict[str, Any]:
    """The request's JSON body, leaving an unread copy in `wsgi.input` for moto."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    raw = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(raw)
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _call(app: Any, environ: dict[str, Any], start_response: Any) -> tuple[int, list[bytes]]:
    """Runs the request to its end, returning its status and its body."""
    seen: list[str] = []

    def capture(status: str, headers: Any, exc_info: Any = None) -> Any:
        seen.append(status)
        return (
            start_response(status, headers, exc_info)
            if exc_info
            else start_response(status, headers)
        )

    chunks = list(app(environ, capture))
    return (int(seen[0].split()[0]) if seen else 500), chunks


def _touched(action: str, body: dict[str, Any], state: MotoState) -> list[tuple[str, Any]]:
    """(table, key attributes) of every item a successful write changed."""

    def key(table_name: str, attributes: dict[str, Any]) -> tuple[str, Any]:
        table = state.tables.get(table_name)
        if table is None:
            return table_name, attributes
        names = [table.hash_key_attr, *([table.range_key_attr] if table.range_key_attr else [])]
        return table_name, {n: attributes[n] for n in names if n in attributes}

    if action == "PutItem":
        return [key(body["TableName"], body["Item"])]
    if action in ("UpdateItem", "DeleteItem"):
        return [key(body["TableName"], body["Key"])]
    touched = []
    if action == "BatchWriteItem":
        for table_name, requests in body.get("RequestItems", {}).items():
            for request in requests:
                put, delete = request.get("PutRequest"), request.get("DeleteRequest")
                touched.append(key(table_name, put["Item"] if put else delete["Key"]))
    elif action == "TransactWriteItems":
        for entry in body.get("TransactItems", []):
            for kind in ("Put", "Update", "Delete"):
                if kind in entry:
                    part = entry[kind]
                    touched.append(key(part["TableName"], part.get("Item") or part["Key"]))
    return touched
