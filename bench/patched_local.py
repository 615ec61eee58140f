"""`python -m engram.local` with one fix to the emulator (moto 5.2.5), for the benchmarks
that run the local stack with `--moto-fix`.

moto's DynamoDB `transact_write_items` deep-copies the whole table once per item of the
transaction (a backup for rollback, taken inside the loop over items), so a batch POST
/v1/memories of 99 memories (+1 counter update) copies the table 100 times, and a single POST
twice: O(items × table size), seconds per batch at a few thousand memories. The fix takes one
backup per table per transaction, which is all the rollback needs. Nothing else changes.
"""

from __future__ import annotations

import copy
import runpy
import threading
from typing import Any


class _OneBackupPerTable:
    """Stands in for the `copy` module inside moto.dynamodb.models: while a transaction runs
    (in this thread), a table is deep-copied once and the same backup reused."""

    def __init__(self) -> None:
        self._local = threading.local()

    def deepcopy(self, value: Any, memo: Any = None) -> Any:
        backups = getattr(self._local, "backups", None)
        if backups is None or type(value).__name__ != "Table":
            return copy.deepcopy(value, memo)
        if id(value) not in backups:
            backups[id(value)] = copy.deepcopy(value, memo)
        return backups[id(value)]

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)


def _patch() -> None:
    from moto.dynamodb import models
    from moto.dynamodb.models import DynamoDBBackend

    shim = _OneBackupPerTable()
    original = DynamoDBBackend.transact_write_items

    def transact_write_items(self: Any, transact_items: Any) -> Any:
        shim._local.backups = {}
        try:
            return original(self, transact_items)
        finally:
            shim._local.backups = None

    models.copy = shim  # type: ignore[attr-defined]
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


if __name__ == "__main__":
    _patch()
    runpy.run_module("engram.local", run_name="__main__", alter_sys=True)
