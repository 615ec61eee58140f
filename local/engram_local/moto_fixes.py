"""Speed fixes for moto in the local stack's emulator. Each keeps moto's behaviour and removes a
cost that grows with the data, which made the local stack seconds-per-request slow at a few
thousand memories. Every fix is a plain speed-up of moto; its docstring says what it removes,
and the upstream moto issue or pull request it corresponds to, where one was found.

The fixes replace moto internals, so they apply only to the moto they were written against
(`PINNED_MOTO`, the dev extra's pin): with any other version `apply()` warns and the emulator
runs on moto as it is. They are reversible: `apply()` patches (once, however many callers),
`undo()` puts back every attribute it replaced when the last caller is done, and `applied()`
is both as a context manager. The emulator applies them when it starts and undoes them when it
stops, so a test that starts an emulator leaves moto unpatched for the tests after it (under
`mock_aws()` too). tests/integration/test_emulator_differential.py checks that patched and
unpatched moto give the same answers to the same requests.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import threading
import time
import warnings
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from functools import lru_cache
from importlib import metadata
from typing import Any, NamedTuple

PINNED_MOTO = "5.2.5"  # pyproject's dev extra pins the same (a test checks)
FAST_RESULTS = frozenset({"Query", "Scan", "GetItem", "BatchGetItem"})
ITEM_LIMIT = 405000  # bytes: moto's LimitedSizeDict limit (DynamoDB says 400 KB)
_MISSING = object()


class Patches:
    """The moto attributes the fixes replaced, each with what was there, to put back."""

    def __init__(self) -> None:
        self._saved: list[tuple[Any, str, Any]] = []

    def set(self, owner: Any, name: str, value: Any) -> None:
        self._saved.append((owner, name, vars(owner).get(name, _MISSING)))
        setattr(owner, name, value)

    def targets(self) -> list[tuple[Any, str]]:
        return [(owner, name) for owner, name, _ in self._saved]

    def undo(self) -> None:
        while self._saved:
            owner, name, before = self._saved.pop()  # last first: a name set twice ends as it was
            if before is _MISSING:
                delattr(owner, name)
            else:
                setattr(owner, name, before)


_lock = threading.Lock()
_active: Patches | None = None
_users = 0


def apply() -> bool:
    """Patch moto (the first caller does; later ones share it). False, with a RuntimeWarning
    and moto left as it is, when the installed moto is not PINNED_MOTO."""
    global _active, _users
    with _lock:
        if _active is None:
            installed = metadata.version("moto")
            if installed != PINNED_MOTO:
                warnings.warn(
                    f"moto {installed} is installed, but the emulator's speed fixes are written "
                    f"for moto {PINNED_MOTO}: the emulator runs on moto without them.",
                    RuntimeWarning,
                    stacklevel=2,
                )
                return False
            patches = Patches()
            try:
                for fix in FIXES:
                    fix(patches)
            except BaseException:
                patches.undo()
                raise
            _active = patches
        _users += 1
        return True


def undo() -> None:
    """One caller of a successful apply() is done; after the last, moto is as it was."""
    global _active, _users
    with _lock:
        if _active is None:
            return
        _users -= 1
        if _users == 0:
            _active.undo()
            _active = None


@contextmanager
def applied() -> Iterator[bool]:
    """moto patched inside the block (yields apply()'s answer), as it was after it."""
    patched = apply()
    try:
        yield patched
    finally:
        if patched:
            undo()


def targets() -> list[tuple[Any, str]]:
    """(owner, attribute name) of every replaced moto attribute; empty when not applied."""
    with _lock:
        return _active.targets() if _active is not None else []


# 1. transactions -------------------------------------------------------------------------------


class _TransactionBackup:
    """Stands in for the `copy` module inside moto.dynamodb.models: while a transaction runs in
    this thread, deepcopy(table) answers the copy-on-write backup (once per table)."""

    def __init__(self) -> None:
        self.local = threading.local()

    def deepcopy(self, value: Any, memo: Any = None) -> Any:
        state = getattr(self.local, "state", None)
        if state is None or type(value).__name__ != "Table":
            return copy.deepcopy(value, memo)
        backups, touched = state
        if id(value) not in backups:
            backups[id(value)] = _backup(value, touched.get(value.name, []))
        return backups[id(value)]

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)

    def deepen(self, table: Any, hash_value: Any, range_value: Any) -> None:
        """moto is about to change this item in place, in a transaction of this thread: its
        backup becomes a deep copy. The item is still as the transaction found it (a
        transaction names an item once, and refuses a second op on it before running it)."""
        state = getattr(self.local, "state", None)
        backup = state[0].get(id(table)) if state is not None else None
        if backup is None:
            return
        live, saved = table.items.get(hash_value), backup.items.get(hash_value)
        if live is None or saved is None or saved is live:
            return  # no such item, or a partition the transaction does not name
        if range_value is None:
            backup.items[hash_value] = copy.deepcopy(live)
        elif range_value in live and range_value in saved:
            saved[range_value] = copy.deepcopy(live[range_value])


_TRANSACTIONS = _TransactionBackup()


def _backup(table: Any, keys: list[tuple[Any, Any]]) -> Any:
    """The table as it was: the partition map copied (in C), and copied further only where
    the transaction can write: the partitions it names and the items it names, each with
    its own attribute map (their values are shared: the only change in place, moto's own
    UpdateItem, deepens the backup first, _TransactionBackup.deepen)."""
    backup = copy.copy(table)
    backup.items = items = defaultdict(dict, table.items)
    copied: set[int] = set()  # the partitions copied already (a key's hash is Python code)
    for hash_value, range_value in keys:
        partition = items.get(hash_value)
        if partition is None:
            continue
        if range_value is None:
            items[hash_value] = _own_attributes(partition)
            continue
        if id(partition) not in copied:
            partition = items[hash_value] = dict(partition)
            copied.add(id(partition))
        item = partition.get(range_value)
        if item is not None:
            partition[range_value] = _own_attributes(item)
    return backup


def _own_attributes(item: Any) -> Any:
    """A copy of a moto Item with its own attribute map holding the same values."""
    from moto.dynamodb.models.dynamo_type import LimitedSizeDict

    kind: Any = type(item)
    copied = kind.__new__(kind)
    copied.__dict__.update(item.__dict__)
    copied.attrs = LimitedSizeDict.__new__(LimitedSizeDict)
    dict.update(copied.attrs, item.attrs)  # no size re-check: the same attributes
    return copied


def _touched(backend: Any, transact_items: Any) -> dict[str, list[tuple[Any, Any]]]:
    from moto.dynamodb.models.dynamo_type import DynamoType

    found: dict[str, list[tuple[Any, Any]]] = {}
    for item in transact_items:
        _, op = next(iter(item.items()))
        table = backend.tables.get(op.get("TableName"))
        key = op.get("Key") or op.get("Item") or {}
        if table is None or not _scalar(key.get(table.hash_key_attr)):
            continue  # no such table, or a malformed key: moto refuses the op, which writes nothing
        range_attr = table.range_key_attr
        if range_attr and range_attr in key and not _scalar(key[range_attr]):
            continue
        found.setdefault(table.name, []).append(
            (
                DynamoType(key[table.hash_key_attr]),
                DynamoType(key[range_attr]) if range_attr and range_attr in key else None,
            )
        )
    return found


def _scalar(value: Any) -> bool:
    """A value of a key type (S, N or B), which can be looked up in moto's item maps."""
    return isinstance(value, dict) and len(value) == 1 and next(iter(value)) in ("S", "N", "B")


def _copy_on_write_transactions(patches: Patches) -> None:
    """1. A plain speed-up. DynamoDB `transact_write_items` deep-copies the whole table once per
    item of the transaction (a rollback backup, taken inside its loop): a batch of 100 memories
    copied the table 100 times. Here the backup is copy-on-write: one shallow copy of the item
    map per transaction, copies of only the partitions it names and of only the items it
    names, each with its own attribute map. Those share their values with the live items until
    moto's own UpdateItem (which changes values in place) is about to run on one: its backup
    is then made deep (fix 8 calls `deepen`; its direct updates replace values, never change
    them, and a Put or Delete replaces or removes the whole item). Rollback restores exactly
    what it did before. A key that is not a key type (a map, say) names no item, and moto
    refuses it.
    Upstream: no upstream issue found (moto PR #9670 makes the deep copy of query results
    cheaper, not this backup)."""

    from moto.dynamodb import models
    from moto.dynamodb.models import DynamoDBBackend

    shim = _TRANSACTIONS
    original = DynamoDBBackend.transact_write_items

    def transact_write_items(self: Any, transact_items: Any) -> Any:
        shim.local.state = ({}, _touched(self, transact_items))
        try:
            return original(self, transact_items)
        finally:
            shim.local.state = None

    patches.set(models, "copy", shim)
    patches.set(DynamoDBBackend, "transact_write_items", transact_write_items)


# 2. results ------------------------------------------------------------------------------------


def _plain_json_results(patches: Patches) -> None:
    """2. A plain speed-up. DynamoDB results (Query, Scan, GetItem, BatchGetItem) go through moto's
    model-driven serializer, ~1.7 ms per item: 500 items took ~0.9 s. Those results are
    already in the wire format, so they are written with `json.dumps` (bytes as base64, as the
    serializer does); status and headers still come from moto. moto's own conversion of every
    result to plain dicts (its `dynamo_to_dict`, a second walk of the items) is made only when
    read, which these no longer do. Upstream: no upstream issue found."""

    from moto.core.responses import ActionResult
    from moto.dynamodb.models.utilities import dynamo_to_dict
    from moto.dynamodb.responses import DynamoResult

    original = DynamoResult.execute_result

    def __init__(self: Any, result: object) -> None:
        self._raw = result  # moto's own dict form is made only if something reads `result`

    def result(self: Any) -> Any:
        if "_result" not in self.__dict__:
            self._result = dynamo_to_dict(self._raw)
        return self._result

    def execute_result(self: Any, context: Any) -> Any:
        if context.operation_model.name not in FAST_RESULTS:
            return original(self, context)
        status, headers, _ = ActionResult({}).execute_result(context)
        return status, headers, json.dumps(_wire(self._raw))

    patches.set(DynamoResult, "__init__", __init__)
    patches.set(DynamoResult, "result", property(result))
    patches.set(DynamoResult, "execute_result", execute_result)


def _wire(value: Any) -> Any:
    """What moto's JSON serializer makes of a DynamoDB result as moto returns it (its
    `dynamo_to_dict`, then the serializer), in one walk: typed values as {type: value},
    binary in base64, datetimes as epoch seconds, None-valued members left out."""
    DynamoType, LimitedSizeDict = _dynamo_types()

    kind_of_value = type(value)
    if kind_of_value is str:  # the most common leaf, and none of the kinds below
        return value
    if kind_of_value is dict or kind_of_value is LimitedSizeDict:  # an item's attributes
        return {k: w for k, v in value.items() if (w := _wire(v)) is not None}
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, DynamoType):
        kind, inner = value.type, value.value
        if kind in _SCALARS:  # a string, number string or bool: as it is
            return {kind: inner} if inner is not None else {}
        if kind == "B":
            return {"B": _base64(inner)}
        if kind == "BS":
            return {"BS": [_base64(v) for v in inner]}
        wired = _wire(inner)
        return {kind: wired} if wired is not None else {}
    if hasattr(value, "to_json"):
        return _wire(value.to_json())
    if isinstance(value, dict):
        return {k: w for k, v in value.items() if (w := _wire(v)) is not None}
    if isinstance(value, list):
        return [_wire(v) for v in value]
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return value


_SCALARS = frozenset({"S", "N", "BOOL", "NULL"})


@lru_cache(maxsize=1)
def _dynamo_types() -> tuple[Any, Any]:
    """moto's value and attribute-map classes, imported once (not on every value _wire
    walks)."""
    from moto.dynamodb.models.dynamo_type import DynamoType, LimitedSizeDict

    return DynamoType, LimitedSizeDict


def _base64(value: bytes | str) -> str:
    """A binary value as moto holds it (bytes, or already base64) in base64, as moto's
    serializer writes it (decoded to bytes first, then encoded)."""
    raw = value if isinstance(value, bytes) else base64.b64decode(value)
    return base64.b64encode(raw).decode("ascii")


# 3. queue attributes ---------------------------------------------------------------------------

COUNTS = {
    "ApproximateNumberOfMessages": "approximate_number_of_messages",
    "ApproximateNumberOfMessagesDelayed": "approximate_number_of_messages_delayed",
    "ApproximateNumberOfMessagesNotVisible": "approximate_number_of_messages_not_visible",
}


class _WithoutCounts:
    """The queue as moto's attribute builder sees it, minus the three message counts."""

    def __init__(self, queue: Any) -> None:
        self._queue = queue

    def __getattr__(self, name: str) -> Any:
        return None if name in COUNTS.values() else getattr(self._queue, name)


class _QueueAttributes(Mapping[str, Any]):
    """queue.attributes with the message counts computed only when one is read."""

    def __init__(self, queue: Any, build: property) -> None:
        self._queue = queue
        self._rest: dict[str, Any] = build.__get__(_WithoutCounts(queue))  # moto's own getter

    def __getitem__(self, name: str) -> Any:
        if name in COUNTS:
            return getattr(self._queue, COUNTS[name])
        return self._rest[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._rest)

    def __len__(self) -> int:
        return len(self._rest)


def _lazy_queue_attributes(patches: Patches) -> None:
    """3. A plain speed-up. SQS reads `queue.attributes` on every send (ContentBasedDeduplication)
    and for every message it receives (MessageRetentionPeriod), and building it counts every
    message in the queue three times: O(queue length) per message. The attributes are now a
    mapping that counts only when a count is read. Upstream: no upstream issue found."""

    from moto.sqs.models import Queue

    build: property = vars(Queue)["attributes"]  # the property (moto types it as a method)
    patches.set(Queue, "attributes", property(lambda queue: _QueueAttributes(queue, build)))


# 4. the SQS clock ------------------------------------------------------------------------------


def _fast_sqs_clock(patches: Patches) -> None:
    """4. A plain speed-up. SQS reads the clock through moto's `unix_time`, which builds datetimes
    (~7 µs a call), twice per queued message on every receive: with 5,000 messages queued one
    receive took ~5 s. The SQS models get the same value from `time.time()`. Upstream: no upstream issue found."""

    from moto.sqs import models

    slow_seconds, slow_millis = models.unix_time, models.unix_time_millis

    def unix_time(dt: datetime | None = None) -> float:
        return time.time() if dt is None else slow_seconds(dt)

    def unix_time_millis(dt: datetime | None = None) -> float:
        return time.time() * 1000.0 if dt is None else slow_millis(dt)

    patches.set(models, "unix_time", unix_time)
    patches.set(models, "unix_time_millis", unix_time_millis)


# 5. queries ------------------------------------------------------------------------------------


def _partition_queries(patches: Patches) -> None:
    """5. A plain speed-up. DynamoDB Query sorts every item of the table before it filters, even
    on the base table where it needs one partition. Here a base-table Query reads only its
    partition, and an index Query reads the items unsorted (moto sorts the matches by the index
    keys and the table keys after, a total order, so results and their order are unchanged).
    The emulator serialises DynamoDB requests, so swapping the item source per call is safe.
    Upstream: no upstream issue found."""

    import inspect

    from moto.dynamodb.models.table import Table

    original = Table.query
    signature = inspect.signature(original)

    def query(self: Any, *args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(self, *args, **kwargs)
        if bound.arguments.get("index_name"):

            def source() -> list[Any]:
                return list(_unsorted(self))

        else:
            partition = self.items.get(bound.arguments["hash_key"])

            def source() -> list[Any]:
                return _partition_items(self, partition)

        self.all_items = source  # an instance attribute shadows the method for this call
        try:
            return original(self, *args, **kwargs)
        finally:
            del self.all_items

    patches.set(Table, "query", query)


def _unsorted(table: Any) -> Iterator[Any]:
    for entry in table.items.values():
        if table.range_key_attr:
            yield from entry.values()
        else:
            yield entry


def _partition_items(table: Any, partition: Any) -> list[Any]:
    if partition is None:
        return []
    return list(partition.values()) if table.range_key_attr else [partition]


# 6. update-expression walks ---------------------------------------------------------------------


def _fast_expression_walks(patches: Patches) -> None:
    """6. A plain speed-up. Every UpdateItem (alone or in a transaction) validates its expression
    with ten tree walks, and each walk rebuilds the walker's processing map and checks every
    node against abstract base classes: ~1 ms of a ~2 ms update. The walk here is moto's, with
    the map built once per walk and the class checks answered once per node class (the answers
    depend on the class only). Upstream: no upstream issue found."""

    from moto.dynamodb.parsing.ast_nodes import DepthFirstTraverser, Node

    def traverse(self: Any, root: Any) -> Any:
        """DepthFirstTraverser.traverse_node_recursively, node for node."""
        processing, wanted = self._processing_map(), self.nodes_to_be_processed()
        kinds: dict[type, tuple[bool, bool]] = {}  # class -> (a Node?, to be processed?)

        def visit(node: Any, child_id: int) -> Any:
            kind = kinds.get(type(node))
            if kind is None:
                kind = kinds[type(node)] = (
                    isinstance(node, Node),
                    isinstance(node, wanted),
                )
            if not kind[0]:
                return node
            parent = node.parent
            if node.children is not None:
                for i, child in enumerate(node.children):
                    self.pre_processing_of_child(node, i)
                    visit(child, i)
            if kind[1]:
                node = next(
                    (process(node) for cls, process in processing.items() if isinstance(node, cls)),
                    None,
                )
                node.parent = parent
                if parent:
                    parent.children[child_id] = node
            return node

        return visit(root, -1)

    patches.set(DepthFirstTraverser, "traverse", traverse)


# 7. update-expression parses --------------------------------------------------------------------


def _cached_expression_parses(patches: Patches) -> None:
    """7. A plain speed-up. Every UpdateItem parses its update expression twice (request
    validation, then the update) with moto's Python tokenizer and parser, though the emulator
    sees a handful of distinct expressions. Parses are cached by the expression's text: moto
    only reads the parsed tree (its validator works on a deep copy), and a bad expression still
    raises on every call (exceptions are not cached). The clauses moto's request validation
    looks up in a kept parse (the names an expression uses, a walk of the whole tree for every
    update of a transaction) are kept with it, by the kinds asked for; each caller gets its
    own list. Upstream: no upstream issue found."""

    from moto.dynamodb.parsing.ast_nodes import Node
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser

    parse = UpdateExpressionParser.make.__func__
    find = Node.find_clauses
    found: OrderedDict[int, tuple[Any, dict[tuple[type, ...], list[Any]]]] = OrderedDict()
    lock = threading.Lock()

    @lru_cache(maxsize=1024)
    def make(expression: str) -> Any:
        tree = parse(UpdateExpressionParser, expression)
        with lock:
            found[id(tree)] = (tree, {})  # holds the tree: its id is not reused while kept
            while len(found) > 1024:
                found.popitem(last=False)
        return tree

    def find_clauses(self: Any, clause_types: Any) -> Any:
        kept = found.get(id(self))
        if kept is None or kept[0] is not self:  # a deep copy, a subtree: moto's own walk
            return find(self, clause_types)
        kinds = tuple(clause_types)
        if kinds not in kept[1]:
            kept[1][kinds] = find(self, clause_types)
        return list(kept[1][kinds])

    patches.set(
        UpdateExpressionParser,
        "make",
        classmethod(lambda cls, expression: make(expression)),
    )
    patches.set(Node, "find_clauses", find_clauses)


# 8. simple updates -----------------------------------------------------------------------------

_NAME = r"(?:#[A-Za-z0-9_]+|[A-Za-z_][A-Za-z0-9_]*)"
_SET_ACTION = re.compile(rf"\s*({_NAME})\s*=\s*(:[A-Za-z0-9_]+)\s*")
_REMOVE_ACTION = re.compile(rf"\s*({_NAME})\s*")
_ADD_ACTION = re.compile(rf"\s*({_NAME})\s+(:[A-Za-z0-9_]+)\s*")
# A clause keyword only at the start or after whitespace: in "SET a = :vREMOVE b" the
# placeholder is ":vREMOVE", so that is no plan (and moto answers it).
_CLAUSES = re.compile(
    r"\s*(?:SET\s+(?P<sets>.*?))?(?:(?:^|(?<=\s))REMOVE\s+(?P<removes>.*?))?"
    r"(?:(?:^|(?<=\s))ADD\s+(?P<adds>.*?))?\s*",
    re.IGNORECASE | re.DOTALL,
)


class Plan(NamedTuple):
    sets: tuple[tuple[str, str], ...]  # (name, :placeholder)
    removes: tuple[str, ...]
    adds: tuple[tuple[str, str], ...]  # (name, :placeholder), numbers only when applied

    def names(self) -> list[str]:
        return [n for n, _ in self.sets] + list(self.removes) + [n for n, _ in self.adds]


def _simple_plan(expression: str) -> Plan | None:
    """The actions of `expression` when it is only `SET name = :value`, `REMOVE name` and
    `ADD name :value` on top-level names, in that clause order; else None."""
    clauses = _CLAUSES.fullmatch(expression)
    if clauses is None or not any(clauses.groupdict().values()):
        return None
    sets = _actions(clauses["sets"], _SET_ACTION)
    removes = _actions(clauses["removes"], _REMOVE_ACTION)
    adds = _actions(clauses["adds"], _ADD_ACTION)
    if sets is None or removes is None or adds is None:
        return None
    return Plan(
        sets=tuple((m[1], m[2]) for m in sets),
        removes=tuple(m[1] for m in removes),
        adds=tuple((m[1], m[2]) for m in adds),
    )


def _actions(clause: str | None, action: re.Pattern[str]) -> list[re.Match[str]] | None:
    """The comma-separated actions of a clause (none if it is absent); None if one of them
    is not `action`."""
    matches = []
    for text in clause.split(",") if clause else ():
        match = action.fullmatch(text)
        if match is None:
            return None
        matches.append(match)
    return matches


def _direct_simple_updates(patches: Patches) -> None:
    """8. A plain speed-up. An UpdateItem made only of `SET name = :value`, `REMOVE name` and
    `ADD name :number` actions on top-level attributes that are no index's key (the embed
    worker's vector write, most status moves, the workspace's memory count in every POST) still
    went through moto's ten validation walks, a deep copy of the parsed tree and of the item,
    and a size sum of the whole item per attribute set: ~2-3 ms each, 25 of them in one
    transaction holding the emulator's lock. Such an update is applied directly: moto's parse
    (for its syntax errors), its condition check, then the attributes set and removed, the
    400 KB limit checked once, the stream record only when the table has a stream. Anything else
    (another action, a nested path, a key attribute, a reserved word, an unknown placeholder, a
    repeated attribute, an empty string, a missing item, an item past the limit) goes to moto's
    own update, which answers it as before. Upstream: no upstream issue found."""

    from moto.dynamodb.comparisons import create_condition_expression_parser
    from moto.dynamodb.exceptions import ConditionalCheckFailed
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser
    from moto.dynamodb.parsing.reserved_keywords import ReservedKeywords

    original = DynamoDBBackend.update_item
    reserved = frozenset(ReservedKeywords.get_reserved_keywords())

    @lru_cache(maxsize=1024)
    def plan_of(expression: str) -> Plan | None:
        plan = _simple_plan(expression)
        names = plan.names() if plan else []
        return None if any(n.upper() in reserved for n in names) else plan  # moto refuses them

    def update_item(
        self: Any,
        table_name: str,
        key: dict[str, Any],
        update_expression: str,
        expression_attribute_names: dict[str, Any],
        expression_attribute_values: dict[str, Any],
        attribute_updates: Any = None,
        expected: Any = None,
        condition_expression: str | None = None,
        return_values_on_condition_check_failure: str | None = None,
    ) -> Any:
        def moto() -> Any:
            _before_moto_update(self, table_name, key)
            return original(
                self,
                table_name,
                key,
                update_expression,
                expression_attribute_names,
                expression_attribute_values,
                attribute_updates,
                expected,
                condition_expression,
                return_values_on_condition_check_failure,
            )

        plan = (
            plan_of(update_expression)
            if update_expression and not (attribute_updates or expected)
            else None
        )
        if plan is None:
            return moto()
        table = self.get_table(table_name)
        UpdateExpressionParser.make(update_expression)  # moto's syntax and reserved-word errors
        names = expression_attribute_names or {}
        values = expression_attribute_values or {}

        def name(n: str) -> str | None:
            return names.get(n) if n.startswith("#") else n

        def resolved(pairs: tuple[tuple[str, str], ...]) -> list[tuple[str, Any]]:
            """(attribute, value) for each (name, :placeholder) whose both are known."""
            both = [(name(n), values.get(v)) for n, v in pairs]
            return [(n, v) for n, v in both if n is not None and v is not None]

        sets, adds = resolved(plan.sets), resolved(plan.adds)
        removes = [n for n in map(name, plan.removes) if n is not None]
        targets = [n for n, _ in sets + adds] + removes
        key_names = [table.hash_key_attr] + ([table.range_key_attr] if table.range_key_attr else [])
        if (
            len(targets) < len(plan.names())  # an unknown name or placeholder
            or len(set(targets)) < len(targets)
            or set(targets) & set(table.table_key_attrs)
            or {n for n, _ in sets + adds} & set(table.attribute_keys)
            or any(_empty(v) for _, v in sets)
            or any(set(v) != {"N"} for _, v in adds)
            or set(key) != set(key_names)
        ):
            return moto()
        hash_value = DynamoType(key[table.hash_key_attr])
        range_value = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
        item = table.get_item(hash_value, range_value)
        if item is None:
            return moto()
        condition = create_condition_expression_parser(condition_expression, names, values).parse()
        if not condition.expr(item):
            if return_values_on_condition_check_failure == "ALL_OLD":
                raise ConditionalCheckFailed(item=item.to_json()["Attributes"])
            raise ConditionalCheckFailed
        new = {n: DynamoType(v) for n, v in sets}
        for n, v in adds:  # a number added to a number, or to nothing (0)
            current = item.attrs.get(n, DynamoType({"N": "0"}))
            if current.type != "N":
                return moto()  # moto's type error
            new[n] = current + DynamoType(v)
        kept = _attributes_size(item.attrs, skip={*new, *removes})
        if kept + _attributes_size(new) > ITEM_LIMIT:
            return moto()  # moto raises its own error for it
        before = copy.deepcopy(item) if table.stream_shard is not None else None
        for attr in removes:
            item.attrs.pop(attr, None)
        for attr, value in new.items():
            dict.__setitem__(item.attrs, attr, value)  # the size was checked above, once
        if table.stream_shard is not None:
            table.stream_shard.add(before, item)
        return item

    patches.set(DynamoDBBackend, "update_item", update_item)


def _before_moto_update(backend: Any, table_name: str, key: dict[str, Any]) -> None:
    """moto's own UpdateItem changes the item in place: in a transaction, its backup is made
    deep first (fix 1 keeps the item's values shared until then)."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    table = backend.tables.get(table_name)
    if table is None or not _scalar(key.get(table.hash_key_attr)):
        return  # moto refuses it, changing nothing
    range_attr = table.range_key_attr
    if range_attr and not _scalar(key.get(range_attr)):
        return
    _TRANSACTIONS.deepen(
        table,
        DynamoType(key[table.hash_key_attr]),
        DynamoType(key[range_attr]) if range_attr else None,
    )


def _empty(value: Any) -> bool:
    """An empty string or binary, which DynamoDB refuses only for key attributes: left to moto."""
    return isinstance(value, dict) and any(t in ("S", "B") and not v for t, v in value.items())


# 9. condition lexing ----------------------------------------------------------------------------


def _cached_condition_lexing(patches: Patches) -> None:
    """9. A plain speed-up. Every condition and filter expression is lexed by moto's Python lexer,
    ten regexes per token, though the emulator sees a handful of distinct expressions. The
    lexed tokens are cached by the expression's text (they depend on nothing else: names and
    values are applied by the later stages, which run on every call), and a bad expression
    still raises on every call. Upstream: no upstream issue found."""

    from collections import deque

    from moto.dynamodb.comparisons import ConditionExpressionParser

    lex = ConditionExpressionParser._lex_condition_expression

    @lru_cache(maxsize=1024)
    def tokens(expression: str) -> tuple[Any, ...]:
        return tuple(lex(ConditionExpressionParser(expression, None, None)))

    def cached(self: Any) -> Any:
        # A fresh deque each call: the parser's later stages consume it. The tokens are
        # leaves (namedtuples with no children) that those stages read, never change.
        return deque(tokens(self.condition_expression))

    patches.set(ConditionExpressionParser, "_lex_condition_expression", cached)


# 10. the server's backend lookup ----------------------------------------------------------------


def _cached_backend_lookup(patches: Patches) -> None:
    """10. A plain speed-up. moto's server finds the service of every request by listing moto's
    package folder from disk (`os.listdir` and an `isdir` per entry) and then trying its URL
    patterns in turn: a third of the API's own time per POST in the local stack (py-spy). The
    answer depends on the request's host only, so it is kept per host, for the hosts that have
    one. Then it lists the response class's methods with `inspect.getmembers` to find the
    action's handler, also on every request; that list is kept per class.
    Upstream: no upstream issue found (moto issue #8185 fixed a slow URL pattern in the
    in-process mock's request matching, not the server's lookup)."""

    from moto.core import responses
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    lookup = DomainDispatcherApplication.get_backend_for_host

    def get_backend_for_host(self: Any, host: str | None) -> Any:
        # Called under the dispatcher's own lock; a host with no backend is asked each time
        # (moto prints a hint for it).
        found = self.__dict__.setdefault("_backend_for_host", {})
        if host not in found:
            backend = lookup(self, host)
            if backend is None:
                return None
            found[host] = backend
        return found[host]

    patches.set(DomainDispatcherApplication, "get_backend_for_host", get_backend_for_host)
    method_names = lru_cache(maxsize=None)(responses.method_names_from_class)
    patches.set(responses, "method_names_from_class", method_names)


# 11. item sizes ---------------------------------------------------------------------------------


def _linear_item_sizes(patches: Patches) -> None:
    """11. A plain speed-up. Every item moto builds (each PutItem, and each Put of a transaction)
    fills its attribute map through moto's size-limited dict, which sums the size of every
    attribute already there on each insert: O(attributes²) size walks per item, ~40% of the
    embed worker's transaction time (cProfile). Here the item is built with a running total
    instead, checked against the same 400 KB limit at each attribute as before (the sizes only
    add up, so it raises at the same attribute, with the same error). Upstream: no upstream issue found."""

    from moto.dynamodb.exceptions import ItemSizeTooLarge
    from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict

    def __init__(self: Any, hash_key: Any, range_key: Any, attrs: dict[str, Any]) -> None:
        self.hash_key, self.range_key = hash_key, range_key
        self.attrs = LimitedSizeDict()
        total = 0
        for key, value in attrs.items():
            typed = DynamoType(value)
            total += _bytesize(key) + typed.size()  # what LimitedSizeDict sums, kept as it grows
            if total > ITEM_LIMIT:
                raise ItemSizeTooLarge
            dict.__setitem__(self.attrs, key, typed)

    patches.set(Item, "__init__", __init__)


# 12. condition parses --------------------------------------------------------------------------

TEMPLATES_KEPT = 1024  # parsed conditions kept, by expression and names
BINDINGS_KEPT = 256  # bound conditions kept, by parse and values object (a transaction's)
_PLACEHOLDER = "placeholder"  # the type of a value not bound yet, in a kept parse


class _Unbound(dict[str, Any]):
    """Expression attribute values for parsing a condition once for every set of values:
    each placeholder reads as a value of its own, to be bound per call (`_bind`)."""

    def __missing__(self, name: str) -> dict[str, str]:
        return {_PLACEHOLDER: name}


def _cached_condition_parses(patches: Patches) -> None:
    """12. A plain speed-up. moto parses an item's condition expression with its Python parser
    three times per conditional update in a transaction (the request's validation, the
    transaction's check, the update's own check) and twice per UpdateItem: ~20% of the embed
    worker's own time (cProfile), though the emulator sees a handful of distinct expressions.
    A condition is parsed once per expression and names, with its values left as
    placeholders; each call gets that parse with its own values bound (the parsed operators
    keep no state, and only the value operands depend on the values). The placeholders and
    names moto's validation reads come with it, and a binding is kept for the same values
    object (a request's own, checked three times in a transaction). Anything else is parsed
    by moto as before: a parse that fails (every call raises as it did), a call whose values
    do not bind (a missing or malformed value: moto's own error), and a BETWEEN (which checks
    its values' types while parsing). Upstream: no upstream issue found."""

    from moto.dynamodb.comparisons import AttributeValue, ConditionExpressionParser, FuncBetween

    parse = ConditionExpressionParser.parse
    kept: OrderedDict[tuple[str, str], tuple[Any, tuple[str, ...], tuple[str, ...]] | None] = (
        OrderedDict()
    )
    lock = threading.Lock()
    # The last bindings, by kept parse and values object: a transaction's update is checked
    # three times with the same values (its validation, the transaction, the update itself).
    bound: OrderedDict[tuple[int, int], tuple[Any, Any, Any]] = OrderedDict()

    def template(self: Any) -> tuple[Any, tuple[str, ...], tuple[str, ...]] | None:
        """The condition parsed with unbound values, or None when it cannot be kept."""
        key = (self.condition_expression, repr(self.expression_attribute_names or {}))
        with lock:
            if key in kept:
                kept.move_to_end(key)
                return kept[key]
        unbound = ConditionExpressionParser(
            self.condition_expression, self.expression_attribute_names, _Unbound()
        )
        try:
            op = parse(unbound)
        except Exception:  # noqa: BLE001 - moto's own parse answers this call, and the next
            return None
        found = (
            None
            if _contains(op, FuncBetween)
            else (
                (op, _holders(op, AttributeValue)),
                tuple(unbound.expr_attr_names_found),
                tuple(unbound.expr_attr_values_found),
            )
        )
        with lock:
            kept[key] = found
            while len(kept) > TEMPLATES_KEPT:
                kept.popitem(last=False)
        return found

    def cached(self: Any) -> Any:
        if not self.condition_expression:
            return parse(self)
        found = template(self)
        if found is None:
            return parse(self)
        (op, holders), names, placeholders = found
        values = self.expression_attribute_values
        if placeholders:
            key = (id(op), id(values))
            last = bound.get(key)
            if last is not None and last[0] is op and last[1] is values:
                op = last[2]
            else:
                try:
                    bound_op = _bind(op, values, AttributeValue, holders)
                except Exception:  # noqa: BLE001 - a value moto refuses: its own parse says how
                    return parse(self)
                with lock:
                    bound[key] = (op, values, bound_op)  # holds both: their ids stay theirs
                    while len(bound) > BINDINGS_KEPT:
                        bound.popitem(last=False)
                op = bound_op
        self.expr_attr_names_found.extend(names)  # what moto's validation reads after parse()
        self.expr_attr_values_found.extend(placeholders)
        return op

    patches.set(ConditionExpressionParser, "parse", cached)


def _bind(node: Any, values: Any, value_class: Any, holders: frozenset[int]) -> Any:
    """A kept parse with `values` in place of its placeholders: the operators above a
    placeholder copied, the rest shared (`holders`: the ids of the nodes holding one).
    Raises when a value is missing or malformed."""
    if id(node) not in holders:
        return node
    if isinstance(node, value_class):
        return value_class(values[node.value])
    if isinstance(node, tuple | list):
        return type(node)(_bind(child, values, value_class, holders) for child in node)
    copied = object.__new__(type(node))
    copied.__dict__.update(
        {k: _bind(v, values, value_class, holders) for k, v in vars(node).items()}
    )
    return copied


def _holders(node: Any, value_class: Any) -> frozenset[int]:
    """The ids of a parsed condition's nodes that are, or hold, a placeholder value."""
    found: set[int] = set()

    def visit(item: Any) -> bool:
        if isinstance(item, value_class):
            held = item.type == _PLACEHOLDER
        elif isinstance(item, tuple | list):
            held = visit_all(item)
        elif type(item).__module__ == "moto.dynamodb.comparisons" and hasattr(item, "__dict__"):
            held = visit_all(vars(item).values())
        else:
            held = False
        if held:
            found.add(id(item))
        return held

    def visit_all(children: Any) -> bool:
        held = [visit(child) for child in children]  # every child, not up to the first
        return any(held)

    visit(node)
    return frozenset(found)


def _contains(node: Any, kind: type) -> bool:
    """Whether a parsed condition holds an operator of `kind`."""
    if isinstance(node, kind):
        return True
    if isinstance(node, tuple | list):
        return any(_contains(child, kind) for child in node)
    if type(node).__module__ == "moto.dynamodb.comparisons" and hasattr(node, "__dict__"):
        return any(_contains(child, kind) for child in vars(node).values())
    return False


# 13. value sizes --------------------------------------------------------------------------------


def _direct_value_sizes(patches: Patches) -> None:
    """13. A plain speed-up. moto sizes a value (for the 400 KB item limit, and twice per item
    for BatchGetItem's 16 MB answer limit) by building a new typed value for each member of
    a map or set it holds, re-building its members in turn. The sizes here are the same
    sums over the values moto holds, without building anything, and a text's size is its
    length when it is ASCII (moto encodes every name and text to count its bytes; the
    item's size, Item.size, too). A BatchGetItem sizes each item it returns once (moto did
    twice, for its 16 MB answer limit). Upstream: no upstream issue found."""

    from moto.dynamodb.models.dynamo_type import DynamoType, Item
    from moto.dynamodb.responses import DynamoHandler

    def size(self: Any) -> int:
        kind, value = self.type, self.value
        if kind == "N":
            return len(str(value))
        if kind == "NS":
            return sum(len(str(v)) for v in value)
        if kind in ("SS", "BS"):
            return sum(_bytesize(v) for v in value)
        if kind == "L":
            return sum(v.size() for v in value)
        if kind == "M":  # moto sized DynamoType(member): the same value, copied
            return sum(
                _bytesize(k) + (v if type(v) is DynamoType else DynamoType(v)).size()
                for k, v in value.items()
            )
        if isinstance(value, bool):
            return 1
        return _bytesize(value)

    def item_size(self: Any) -> int:
        memo = _SIZES.__dict__.get("memo")
        if memo is None:
            return _attributes_size(self.attrs)
        if id(self) not in memo:  # the memo holds the item: its id is not reused meanwhile
            memo[id(self)] = (self, _attributes_size(self.attrs))
        return memo[id(self)][1]

    batch_get = DynamoHandler.batch_get_item

    def batch_get_item(self: Any) -> Any:
        _SIZES.memo = {}  # the items do not change during one request
        try:
            return batch_get(self)
        finally:
            _SIZES.memo = None

    patches.set(DynamoType, "size", size)
    patches.set(Item, "size", item_size)
    patches.set(DynamoHandler, "batch_get_item", batch_get_item)


_SIZES = threading.local()  # a BatchGetItem's item sizes, while it runs in this thread


def _attributes_size(attributes: dict[str, Any], skip: Any = ()) -> int:
    """moto's size of an item's attributes (names and values) but those in `skip`: the sum
    Item.size makes, with an ASCII text's size taken in place (most of them)."""
    total = 0
    for name, value in attributes.items():
        if name in skip:
            continue
        inner = value.value
        total += (len(name) if type(name) is str and name.isascii() else _bytesize(name)) + (
            len(inner)
            if value.type == "S" and type(inner) is str and inner.isascii()
            else value.size()
        )
    return total


def _bytesize(value: Any) -> int:
    """moto's bytesize (a text's UTF-8 length, a binary's length), without encoding ASCII."""
    if isinstance(value, bytes):
        return len(value)
    if type(value) is str and value.isascii():
        return len(value)
    return len(value.encode("utf-8"))


# 14. request parses -----------------------------------------------------------------------------


class _NotPlain(Exception):
    """A request body of another shape than its model says: moto's own parser answers it."""


Reader = Callable[[Any, Any], Any]  # (moto's parser, a JSON value) -> the parsed value

_CONVERTERS: dict[str, Reader] = {  # BaseJSONParser's handlers, by shape type
    "blob": lambda parser, value: parser._blob_parser(value),
    "timestamp": lambda parser, value: parser._timestamp_parser(value),
    "float": lambda parser, value: float(value),
    "double": lambda parser, value: float(value),
    "integer": lambda parser, value: int(value),
    "byte": lambda parser, value: int(value),
    "short": lambda parser, value: int(value),
    "long": lambda parser, value: int(value),
}


def _shape_reader(shape: Any, readers: dict[str, Reader | None]) -> Reader | None:
    """What moto's JSON parser does to a value of `shape` (its handler, then its members'),
    as one function; None where it keeps the value as it is (a string, a boolean, a
    document). `readers`: the ones built, by shape name, so recursive shapes end."""
    if shape.name in readers:
        return readers[shape.name]
    kind = shape.type_name
    if kind == "list":

        def read_list(parser: Any, value: Any) -> Any:
            if type(value) is not list:
                raise _NotPlain
            return value[:] if member is None else [member(parser, v) for v in value]

        readers[shape.name] = read_list
        member = _shape_reader(shape.member, readers)
        return read_list
    if kind == "map":

        def read_map(parser: Any, value: Any) -> Any:
            if type(value) is not dict:
                raise _NotPlain
            parsed = parser.MAP_TYPE()
            for k, v in value.items():
                parsed[k if key is None else key(parser, k)] = (
                    v if item is None else item(parser, v)
                )
            return parsed

        readers[shape.name] = read_map
        key, item = _shape_reader(shape.key, readers), _shape_reader(shape.value, readers)
        return read_map
    if kind == "structure" and not shape.is_document_type:

        def read_structure(parser: Any, value: Any) -> Any:
            """The known members that are not null, in the model's member order."""
            if type(value) is not dict:
                raise _NotPlain
            parsed = parser.MAP_TYPE()
            if len(value) == 1:  # an attribute value, mostly
                ((json_name, raw),) = value.items()
                known = members.get(json_name)
                if known is not None and raw is not None:
                    parsed[known[1]] = raw if known[2] is None else known[2](parser, raw)
                return parsed
            found = []
            for json_name, raw in value.items():
                known = members.get(json_name)
                if known is not None and raw is not None:
                    position, name, read = known
                    found.append((position, name, raw if read is None else read(parser, raw)))
            if len(found) > 1:
                found.sort(key=lambda member: member[0])
            for _, name, parsed_value in found:
                parsed[name] = parsed_value
            return parsed

        readers[shape.name] = read_structure
        members = {
            member.serialization.get("name", name): (i, name, _shape_reader(member, readers))
            for i, (name, member) in enumerate(shape.members.items())
        }
        return read_structure
    return _CONVERTERS.get(kind)


def _plain_request_parses(patches: Patches) -> None:
    """14. A plain speed-up. moto turns every DynamoDB request body into its parameters with its
    model-driven JSON parser, which finds a handler by name for every value of the body and
    tries each attribute value's ten members in turn: ~30% of the embed worker's vector
    transaction in the emulator (cProfile), and as much again of its batch read. Here each
    operation's input shape becomes, once, plain functions doing what moto's handlers do (a
    structure's known, non-null members in the model's order; blobs decoded, numbers and
    timestamps converted by moto's own converters; lists and maps member by member), and the
    body goes through them. A body with a value not of its shape's JSON kind (a string where
    a list belongs, say), an unknown action or another protocol goes to moto's own parser,
    which answers it as before. Upstream: no upstream issue found."""

    from moto.core.parse import PROTOCOL_PARSERS, JSONParser
    from moto.core.request import determine_request_protocol
    from moto.core.utils import get_service_model
    from moto.dynamodb.responses import DynamoHandler

    original = DynamoHandler.parse_parameters

    @lru_cache(maxsize=128)  # DynamoDB has fewer actions; unknown ones raise, not kept
    def reader_of(action: str) -> tuple[Any, Reader | None]:
        operation = get_service_model("dynamodb").operation_model(action)
        shape = operation.input_shape
        return operation, (None if shape is None else _shape_reader(shape, {}))

    def parse_parameters(self: Any, request: Any) -> None:
        model = get_service_model(self.boto3_service_name)
        if PROTOCOL_PARSERS.get(determine_request_protocol(model, request.content_type)) is not (
            JSONParser
        ):
            return original(self, request)
        try:
            operation, read = reader_of(self._get_action())
        except Exception:  # noqa: BLE001 - an unknown action: moto's own error for it
            return original(self, request)
        if read is None:
            self.params = {}
            return None
        parser = JSONParser(operation, map_type=self.PROTOCOL_PARSER_MAP_TYPE)
        try:
            self.params = read(parser, parser._parse_body_as_json(request.data))
        except _NotPlain:
            return original(self, request)
        return None

    patches.set(DynamoHandler, "parse_parameters", parse_parameters)


FIXES: tuple[Callable[[Patches], None], ...] = (
    _copy_on_write_transactions,
    _plain_json_results,
    _lazy_queue_attributes,
    _fast_sqs_clock,
    _partition_queries,
    _fast_expression_walks,
    _cached_expression_parses,
    _direct_simple_updates,
    _cached_condition_lexing,
    _cached_backend_lookup,
    _linear_item_sizes,
    _cached_condition_parses,
    _direct_value_sizes,
    _plain_request_parses,
)
