"""`python -m engram.local` with one fix to the emulator (moto 5.2.5), for the benchmarks
that run the local stack with `moto_fix=True` (bench/stack.py).

moto's DynamoDB `transact_write_items` deep-copies the whole table once per item of the
transaction (a backup for rollback, taken inside the loop over items), so a batch POST
/v1/memories of 99 memories (+1 counter update) copies the table 100 times and a single POST
twice: O(items x table size), seconds per request at a few thousand memories. The deep copy
also races with other threads' writes ("dictionary changed size during iteration": 500s).

The fix keeps moto's rollback but makes the backup copy-on-write: one shallow copy of the
table's item map per transaction, with deep copies of only the items the transaction names
(the ones an Update may change in place). Rollback restores exactly what it did before.
"""

from __future__ import annotations

import copy
import runpy
import threading
from collections import defaultdict
from typing import Any


class _TransactionBackup:
    """Stands in for the `copy` module inside moto.dynamodb.models: while a transaction runs in
    this thread, deepcopy(table) answers the copy-on-write backup (once per table)."""

    def __init__(self) -> None:
        self._local = threading.local()

    def deepcopy(self, value: Any, memo: Any = None) -> Any:
        state = getattr(self._local, "state", None)
        if state is None or type(value).__name__ != "Table":
            return copy.deepcopy(value, memo)
        backups, touched = state
        if id(value) not in backups:
            backups[id(value)] = _backup(value, touched.get(value.name, []))
        return backups[id(value)]

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)


def _backup(table: Any, keys: list[tuple[Any, Any]]) -> Any:
    backup = copy.copy(table)
    if table.range_key_attr:
        backup.items = defaultdict(dict, {h: dict(r) for h, r in table.items.items()})
    else:
        backup.items = defaultdict(dict, table.items)
    for hash_value, range_value in keys:
        if range_value is None:
            if hash_value in backup.items:
                backup.items[hash_value] = copy.deepcopy(backup.items[hash_value])
        elif range_value in backup.items.get(hash_value, {}):
            backup.items[hash_value][range_value] = copy.deepcopy(backup.items[hash_value][range_value])
    return backup


def _touched(backend: Any, transact_items: Any) -> dict[str, list[tuple[Any, Any]]]:
    from moto.dynamodb.models.dynamo_type import DynamoType

    found: dict[str, list[tuple[Any, Any]]] = {}
    for item in transact_items:
        _, op = next(iter(item.items()))
        table = backend.tables.get(op.get("TableName"))
        key = op.get("Key") or op.get("Item") or {}
        if table is None or table.hash_key_attr not in key:
            continue
        range_attr = table.range_key_attr
        found.setdefault(table.name, []).append((
            DynamoType(key[table.hash_key_attr]),
            DynamoType(key[range_attr]) if range_attr and range_attr in key else None))
    return found


def _patch() -> None:
    from moto.dynamodb import models
    from moto.dynamodb.models import DynamoDBBackend

    shim = _TransactionBackup()
    original = DynamoDBBackend.transact_write_items

    def transact_write_items(self: Any, transact_items: Any) -> Any:
        shim._local.state = ({}, _touched(self, transact_items))
        try:
            return original(self, transact_items)
        finally:
            shim._local.state = None

    models.copy = shim  # type: ignore[attr-defined]
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


if __name__ == "__main__":
    _patch()
    runpy.run_module("engram.local", run_name="__main__", alter_sys=True)
