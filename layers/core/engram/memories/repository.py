from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from engram import keys
from engram.dynamo import (
    MAX_QUERY_PAGES,
    TRANSACTION_LIMIT,
    Page,
    attr,
    conditional_write,
    conflict_on_condition,
    delete_all,
    delete_expired,
    error_code,
    from_dynamo,
    key,
    put_all,
    query_page,
    to_dynamo,
)
from engram.errors import Conflict, DomainError, NotFound
from engram.memories.models import Memory

# Vectors written per transaction: a few round trips for a batch of 50, and a memory that
# changed meanwhile (which cancels its transaction) sends only 25 to the one-by-one path.
VECTOR_TRANSACTION_SIZE = 25


def _not_found(memory_id: str) -> NotFound:
    return NotFound(f"Memory {memory_id} was not found.")


@dataclass(frozen=True)
class StoredMemory:
    """A memory with what only the workers need: hashes and the stored vector."""

    memory: Memory
    content_hash: str
    embedded_hash: str | None
    embedding: bytes | None
    search_text: str | None
    index_stamp: str | None = None  # GSI5SK: set while the index lags this state

    @property
    def index_pending(self) -> bool:
        return self.index_stamp is not None


def _same_index_stamp(stored: StoredMemory, values: dict[str, Any]) -> str:
    """A condition that the memory's not-yet-indexed stamp is still the one read (a change
    since then keeps it on the list, for its own sync)."""
    if stored.index_stamp is None:
        return "attribute_not_exists(GSI5SK)"
    values[":stamp"] = stored.index_stamp
    return "GSI5SK = :stamp"


@dataclass(frozen=True)
class EmbeddingWrite:
    """A vector to record for `stored`, made from the text whose hash is `embedded_hash`;
    `event` (a table item: its `embedding.ready` event) is written exactly when it is."""

    stored: StoredMemory
    vector: bytes
    model: str
    embedded_hash: str
    now: str
    event: dict[str, Any] | None = None


def _embedding_update(write: EmbeddingWrite) -> dict[str, Any]:
    """The conditional UpdateItem of a vector: only while the content is the one embedded."""
    memory = write.stored.memory
    values = {
        ":v": write.vector,
        ":m": write.model,
        ":h": write.embedded_hash,
        ":ready": "ready",
        ":now": write.now,
        ":none": None,
        ":c": write.stored.content_hash,
        ":ws": memory.workspace_id,
    }
    stamp = _same_index_stamp(write.stored, values)
    return {
        "Key": keys.memory_key(memory.memory_id),
        "UpdateExpression": "SET embedding = :v, embedding_model = :m, embedded_hash = :h, "
        "embedding_status = :ready, embedding_generated_at = :now, "
        "embedding_error = :none REMOVE GSI4PK, GSI4SK, GSI5PK, GSI5SK",
        "ConditionExpression": "content_hash = :c AND workspace_id = :ws "
        f"AND attribute_not_exists(deleted_at) AND {stamp}",
        "ExpressionAttributeValues": values,
    }


@dataclass(frozen=True)
class MemoryFilters:
    memory_type: str | None = None
    session_id: str | None = None
    tag: str | None = None
    user_id: str | None = None
    agent_id: str | None = None
    include_deleted: bool = False
    memory_types: tuple[str, ...] = ()  # any of these (context's distilled types)


class DedupTaken(DomainError):
    """A dedup key was claimed by another write meanwhile: read the claims and retry."""

    status, code = 409, "conflict"


@dataclass(frozen=True)
class DedupClaim:
    """Claims `dedup` for `memory_id`; `replaces` is the memory id a stale claim names (a
    deleted memory), overwritten only while it still names it."""

    workspace_id: str
    dedup: str
    memory_id: str
    replaces: str | None = None


class MemoryRepository:
    def __init__(self, table: Any) -> None:
        self._table = table

    # writes -------------------------------------------------------------------------------

    def add_many(
        self,
        memories: Sequence[tuple[Memory, str, str | None]],
        also: Sequence[dict[str, Any]] = (),
        claims: Sequence[DedupClaim] = (),
    ) -> None:
        """(memory, content_hash, search_text) items, all or none: one transaction of up to
        100 puts (DynamoDB's limit, and the API's batch limit). The memories' dedup claims
        are in it too (DedupTaken when another write claimed a key first). The workspace's
        live-memory count, and `also` (items that exist exactly when the memories do: their
        events), go in the same transaction when they fit, else right after it."""
        puts = [
            {
                "Put": {
                    "TableName": self._table.name,
                    "Item": to_dynamo(self._item(m, h, t)),
                    "ConditionExpression": "attribute_not_exists(PK)",
                }
            }
            for m, h, t in memories
        ] + [{"Put": {"TableName": self._table.name, **_claim_put(c)}} for c in claims]
        by_workspace: dict[str, int] = {}
        for memory, _, _ in memories:
            by_workspace[memory.workspace_id] = by_workspace.get(memory.workspace_id, 0) + 1
        counts = [
            {"Update": {"TableName": self._table.name, **self._count_update(w, n)}}
            for w, n in by_workspace.items()
        ]
        extra = [{"Put": {"TableName": self._table.name, "Item": item}} for item in also]
        counts_inside = len(puts) + len(counts) <= TRANSACTION_LIMIT
        extra_inside = counts_inside and len(puts) + len(counts) + len(extra) <= TRANSACTION_LIMIT
        try:
            with conflict_on_condition("A memory with that id already exists."):
                self._table.meta.client.transact_write_items(
                    TransactItems=puts
                    + (counts if counts_inside else [])
                    + (extra if extra_inside else [])
                )
        except Conflict as exc:
            reasons = getattr(exc.__cause__, "response", {}).get("CancellationReasons") or []
            claimed = reasons[len(memories) : len(memories) + len(claims)]
            if any(r.get("Code") == "ConditionalCheckFailed" for r in claimed):
                raise DedupTaken("A dedup_key was claimed by another write.") from exc
            raise
        if not counts_inside:
            for workspace_id, count in by_workspace.items():
                self._count(workspace_id, count)
        if not extra_inside:
            put_all(self._table, also)

    def dedup_holders(self, workspace_id: str, dedups: Sequence[str]) -> dict[str, str]:
        """dedup key → the memory id its claim names (which may be deleted since)."""
        found: dict[str, str] = {}
        unique = list(dict.fromkeys(dedups))
        for start in range(0, len(unique), 100):
            request = {
                self._table.name: {
                    "Keys": [keys.dedup_key(workspace_id, d) for d in unique[start : start + 100]],
                    "ConsistentRead": True,
                }
            }
            for _ in range(5):
                response = self._table.meta.client.batch_get_item(RequestItems=request)
                for item in response["Responses"].get(self._table.name, []):
                    found[item["dedup_key"]] = item["memory_id"]
                request = response.get("UnprocessedKeys") or {}
                if not request:
                    break
            if request:
                raise DedupTaken("The dedup claims could not be read; please retry.")
        return found

    def remove_also(self, items: Sequence[dict[str, Any]]) -> None:
        """Removes what add_many wrote with `also` (the undo of a write)."""
        delete_all(self._table, items)

    def update(
        self,
        workspace_id: str,
        memory_id: str,
        changes: dict[str, Any],
        remove: Iterable[str] = (),
        condition: Any = None,
    ) -> Memory:
        """Sets `changes` on a live memory of this workspace; 404 otherwise. The indexes
        follow: a change of `updated_at` is a change in the diff's order and puts the memory
        on the not-yet-indexed list (read-your-writes), and `embedding_status="pending"` puts
        it on the maintenance index."""
        base = attr("workspace_id").eq(workspace_id) & attr("deleted_at").not_exists()
        changes = dict(changes)
        if "updated_at" in changes:
            changes["GSI3SK"] = keys.stamped(changes["updated_at"], memory_id)
            if "deleted_at" not in changes:  # on the not-yet-indexed list until indexed
                changes.update(keys.unindexed(workspace_id, changes["updated_at"], memory_id))
        if changes.get("embedding_status") == "pending":
            changes["GSI4PK"] = keys.MAINT_PENDING
            changes["GSI4SK"] = keys.stamped(changes["updated_at"], memory_id)
        return self._update(
            workspace_id,
            memory_id,
            changes,
            remove,
            base if condition is None else base & condition,
        )

    def soft_delete(
        self, workspace_id: str, memory_id: str, now: str, until: str, ttl: int
    ) -> Memory:
        changes = {
            "deleted_at": now,
            "restorable_until": until,
            "ttl": ttl,
            "GSI3SK": keys.stamped(now, memory_id),
            "GSI4PK": keys.MAINT_PURGE,
            "GSI4SK": keys.stamped(until, memory_id),
        }
        # Deleted: nothing for search to show, so off the not-yet-indexed list too.
        memory = self.update(workspace_id, memory_id, changes, remove=keys.UNINDEXED_ATTRS)
        self._count(workspace_id, -1)
        return memory

    def restore(self, workspace_id: str, memory_id: str, now: str) -> Memory:
        condition = (
            attr("workspace_id").eq(workspace_id)
            & attr("deleted_at").exists()
            & attr("restorable_until").gt(now)
        )
        memory = self._update(
            workspace_id,
            memory_id,
            {
                "updated_at": now,
                "GSI3SK": keys.stamped(now, memory_id),
                **keys.unindexed(workspace_id, now, memory_id),
            },
            ("deleted_at", "restorable_until", "ttl", "GSI4PK", "GSI4SK"),
            condition,
            conflict="Memory {id} is not deleted or its restore window has passed.",
        )
        self._count(workspace_id, 1)
        return memory

    def hard_delete(self, workspace_id: str, memory_id: str) -> Memory:
        try:
            response = self._table.delete_item(
                Key=keys.memory_key(memory_id),
                ConditionExpression=attr("workspace_id").eq(workspace_id),
                ReturnValues="ALL_OLD",
            )
        except Exception as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                raise _not_found(memory_id) from exc
            raise
        memory = _memory(response["Attributes"])
        if memory.deleted_at is None:
            self._count(workspace_id, -1)
        if memory.dedup_key:  # its claim goes too, unless a newer memory holds the key now
            conditional_write(
                lambda: self._table.delete_item(
                    Key=keys.dedup_key(workspace_id, memory.dedup_key),
                    ConditionExpression=attr("memory_id").eq(memory_id),
                )
            )
        return memory

    def set_embeddings(self, writes: Sequence[EmbeddingWrite]) -> list[bool | Exception]:
        """Records each vector (and its event) only if the memory's content is still the one
        embedded. Per write, in order: True, False (it changed meanwhile: a newer embed
        message is on its way) or the error that stopped it. One TransactWriteItems per 25
        vectors and their events (one round trip instead of two per memory; each update
        keeps its own condition). A cancelled transaction (a memory changed meanwhile, or a
        conflicting write) or any other failure falls back to one by one, so every memory
        still gets its own answer."""
        answers: list[bool | Exception] = []
        for start in range(0, len(writes), VECTOR_TRANSACTION_SIZE):
            chunk = writes[start : start + VECTOR_TRANSACTION_SIZE]
            try:
                self._transact_embeddings(chunk)
            except Exception:  # noqa: BLE001
                answers.extend(self._set_one_by_one(chunk))
            else:
                answers.extend([True] * len(chunk))
        return answers

    def _transact_embeddings(self, writes: Sequence[EmbeddingWrite]) -> None:
        name = self._table.name
        self._table.meta.client.transact_write_items(
            TransactItems=[
                *({"Update": {"TableName": name, **_embedding_update(w)}} for w in writes),
                *(
                    {"Put": {"TableName": name, "Item": w.event}}
                    for w in writes
                    if w.event is not None
                ),
            ]
        )

    def _set_one_by_one(self, writes: Sequence[EmbeddingWrite]) -> list[bool | Exception]:
        answers: list[bool | Exception] = []
        for w in writes:
            try:
                answers.append(self._set_one(w))
            except Exception as exc:  # noqa: BLE001
                answers.append(exc)
        return answers

    def _set_one(self, write: EmbeddingWrite) -> bool:
        if write.event is None:
            return (
                conditional_write(lambda: self._table.update_item(**_embedding_update(write)))
                is not None
            )
        try:
            self._transact_embeddings([write])
        except Exception as exc:
            reasons = getattr(exc, "response", {}).get("CancellationReasons") or [{}]
            if reasons[0].get("Code") == "ConditionalCheckFailed":
                return False  # the content changed meanwhile: no vector, no event
            raise
        return True

    def set_embedding_failed(self, memory_id: str, content_hash: str, reason: str) -> None:
        """Only while the content is still the one that failed (and the memory is live)."""
        conditional_write(
            lambda: self._table.update_item(
                Key=keys.memory_key(memory_id),
                UpdateExpression="SET embedding_status = :failed, embedding_error = :why "
                "REMOVE GSI4PK, GSI4SK, GSI5PK, GSI5SK",
                ConditionExpression="content_hash = :c AND attribute_not_exists(deleted_at)",
                ExpressionAttributeValues={
                    ":failed": "failed",
                    ":why": reason[:1000],
                    ":c": content_hash,
                },
            )
        )

    def mark_indexed(self, stored: StoredMemory) -> bool:
        """The index holds this memory as read (its stored vector was current): `ready`,
        off the not-yet-indexed list. False if it changed since it was read."""
        values: dict[str, Any] = {
            ":ready": "ready",
            ":none": None,
            ":c": stored.content_hash,
            ":ws": stored.memory.workspace_id,
        }
        stamp = _same_index_stamp(stored, values)
        return (
            conditional_write(
                lambda: self._table.update_item(
                    Key=keys.memory_key(stored.memory.memory_id),
                    UpdateExpression="SET embedding_status = :ready, embedding_error = :none "
                    "REMOVE GSI4PK, GSI4SK, GSI5PK, GSI5SK",
                    ConditionExpression="content_hash = :c AND workspace_id = :ws AND "
                    f"attribute_not_exists(deleted_at) AND {stamp}",
                    ExpressionAttributeValues=values,
                )
            )
            is not None
        )

    # reads --------------------------------------------------------------------------------

    def unindexed(self, workspace_id: str, limit: int) -> list[StoredMemory]:
        """The workspace's memories the search index does not hold as they are now (sparse
        GSI5), newest change first; one Query, empty when everything is indexed."""
        response = self._table.query(
            IndexName="GSI5",
            KeyConditionExpression=key("GSI5PK").eq(keys.memories_unindexed(workspace_id)),
            ScanIndexForward=False,
            Limit=limit,
        )
        return [_stored(item) for item in response.get("Items", []) if item.get("type") == "Memory"]

    def get(self, workspace_id: str, memory_id: str, include_deleted: bool = False) -> Memory:
        return self.get_stored(workspace_id, memory_id, include_deleted).memory

    def get_stored(
        self, workspace_id: str | None, memory_id: str, include_deleted: bool = True
    ) -> StoredMemory:
        """`workspace_id=None` is for workers, which trust the id from their own queue."""
        item = self._table.get_item(Key=keys.memory_key(memory_id), ConsistentRead=True).get("Item")
        if not item or (workspace_id is not None and item.get("workspace_id") != workspace_id):
            raise _not_found(memory_id)
        if item.get("deleted_at") and not include_deleted:
            raise _not_found(memory_id)
        return _stored(item)

    def get_many(self, workspace_id: str, memory_ids: Sequence[str]) -> dict[str, Memory]:
        """Live memories of this workspace among `memory_ids` (search's re-check), strongly
        consistent: a memory deleted just now is never returned."""
        return {
            item["memory_id"]: _memory(item)
            for item in self._batch_get(memory_ids, consistent=True)
            if item.get("workspace_id") == workspace_id and not item.get("deleted_at")
        }

    def get_stored_many(self, memory_ids: Sequence[str]) -> dict[str, StoredMemory]:
        """get_stored for many ids, any workspace, deleted included (the embed worker's
        batch read; it checks the workspace itself). Strongly consistent, as get_stored."""
        return {
            item["memory_id"]: _stored(item)
            for item in self._batch_get(memory_ids, consistent=True)
        }

    def _batch_get(
        self, memory_ids: Sequence[str], consistent: bool = False
    ) -> list[dict[str, Any]]:
        """BatchGetItem, 100 keys a call. Keys still unprocessed after a bounded number of
        retries are read one by one, so a missing item always means it does not exist."""
        found: list[dict[str, Any]] = []
        unique = list(dict.fromkeys(memory_ids))
        for start in range(0, len(unique), 100):
            request = {
                self._table.name: {
                    "Keys": [keys.memory_key(m) for m in unique[start : start + 100]],
                    "ConsistentRead": consistent,
                }
            }
            for _ in range(5):
                response = self._table.meta.client.batch_get_item(RequestItems=request)
                found += response["Responses"].get(self._table.name, [])
                request = response.get("UnprocessedKeys") or {}
                if not request:
                    break
            for key_ in request.get(self._table.name, {}).get("Keys", []):
                item = self._table.get_item(Key=key_, ConsistentRead=consistent).get("Item")
                if item:
                    found.append(item)
        return [item for item in found if item.get("type") == "Memory"]

    def list(
        self, workspace_id: str, filters: MemoryFilters, limit: int, cursor: str | None
    ) -> Page:
        if filters.session_id:
            index, partition = "GSI2", keys.memories_by_session(workspace_id, filters.session_id)
            key_attrs = keys.GSI2_KEY_ATTRS
        else:
            index, partition = "GSI1", keys.memories_by_workspace(workspace_id)
            key_attrs = keys.GSI1_KEY_ATTRS
        page = query_page(
            self._table,
            index=index,
            key_attrs=key_attrs,
            partition_attr=f"{index}PK",
            partition_value=partition,
            limit=limit,
            cursor=cursor,
            filter_expression=_filter(filters),
        )
        return Page([_memory(i) for i in page.items], page.next_cursor)

    def session_memories(
        self,
        workspace_id: str,
        session_id: str,
        oldest_first: bool = True,
        include_deleted: bool = False,
        limit: int | None = None,
        agent_id: str | None = None,
    ) -> list[Memory]:
        """A session's memories in time order (all of them unless `limit`; only `agent_id`'s
        if given, filtered in the query so the limit counts only those)."""
        condition = key("GSI2PK").eq(keys.memories_by_session(workspace_id, session_id))
        kwargs: dict[str, Any] = {
            "IndexName": "GSI2",
            "KeyConditionExpression": condition,
            "ScanIndexForward": oldest_first,
        }
        filters = MemoryFilters(agent_id=agent_id, include_deleted=include_deleted)
        if (expression := _filter(filters)) is not None:
            kwargs["FilterExpression"] = expression
        return [_memory(i) for i in self._query_all(kwargs, limit)]

    def changes(
        self,
        workspace_id: str,
        from_time: str,
        to_time: str,
        limit: int,
        session_id: str | None = None,
        agent_id: str | None = None,
    ) -> list[Memory]:
        """Memories whose last change falls in [from_time, to_time], oldest change first,
        deleted ones included; of one session and one agent if given (filtered in the query,
        so the limit counts only those)."""
        condition = key("GSI3PK").eq(keys.memory_changes(workspace_id)) & key("GSI3SK").between(
            from_time, to_time + "\uffff"
        )
        kwargs: dict[str, Any] = {"IndexName": "GSI3", "KeyConditionExpression": condition}
        expression = _filter(MemoryFilters(agent_id=agent_id, include_deleted=True))
        if session_id:
            same_session = attr("session_id").eq(session_id)
            expression = same_session if expression is None else expression & same_session
        if expression is not None:
            kwargs["FilterExpression"] = expression
        return [_memory(i) for i in self._query_all(kwargs, limit)]

    def maintenance_ids(self, kind: str, before: str, limit: int) -> list[tuple[str, str]]:
        """(workspace_id, item id) pairs on the sparse maintenance index (pending embeds,
        soft-deleted memories, or with MAINT_PURGE_SESSIONS soft-deleted sessions) whose stamp
        is before `before`."""
        condition = key("GSI4PK").eq(kind) & key("GSI4SK").lt(before)
        kwargs = {"IndexName": "GSI4", "KeyConditionExpression": condition}
        return [
            (item["workspace_id"], item["PK"].split("#", 1)[1])
            for item in self._query_all(kwargs, limit)
        ]

    def purge(self, workspace_id: str, memory_id: str, now: str) -> bool:
        """Removes a soft-deleted memory whose restore window has passed."""
        return delete_expired(self._table, keys.memory_key(memory_id), workspace_id, now)

    def all_memory_ids(self, workspace_id: str | None = None) -> Iterable[tuple[str, str]]:
        """Every live memory, for rebuilding the index. Per workspace through GSI1; across all
        workspaces a Scan — only maintenance does this, never a request."""
        if workspace_id:
            kwargs: dict[str, Any] = {
                "IndexName": "GSI1",
                "KeyConditionExpression": key("GSI1PK").eq(
                    keys.memories_by_workspace(workspace_id)
                ),
            }
            operation = self._table.query
        else:
            kwargs = {"FilterExpression": attr("type").eq("Memory")}
            operation = self._table.scan
        kwargs["ProjectionExpression"] = "workspace_id, memory_id, deleted_at"
        while True:
            response = operation(**kwargs)
            for item in response.get("Items", []):
                if not item.get("deleted_at"):
                    yield item["workspace_id"], item["memory_id"]
            if not response.get("LastEvaluatedKey"):
                return
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def stored_pages(self, workspace_id: str | None = None) -> Iterable[list[StoredMemory]]:
        """Every live memory with its vector, a page at a time, for rebuilding the index: per
        workspace through GSI1, across all workspaces a Scan (maintenance only)."""
        if workspace_id:
            kwargs: dict[str, Any] = {
                "IndexName": "GSI1",
                "KeyConditionExpression": key("GSI1PK").eq(
                    keys.memories_by_workspace(workspace_id)
                ),
            }
            operation = self._table.query
        else:
            kwargs = {"FilterExpression": attr("type").eq("Memory")}
            operation = self._table.scan
        while True:
            response = operation(**kwargs)
            page = live_stored(response.get("Items", []))
            if page:
                yield page
            if not response.get("LastEvaluatedKey"):
                return
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def count(self, workspace_id: str) -> int:
        item = self._table.get_item(Key=keys.workspace_key(workspace_id)).get("Item") or {}
        return int(item.get("memory_count", 0))

    # helpers ------------------------------------------------------------------------------

    def _query_all(self, kwargs: dict[str, Any], limit: int | None = None) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        for _ in range(MAX_QUERY_PAGES * 20):
            response = self._table.query(**kwargs)
            items.extend(response.get("Items", []))
            if (limit and len(items) >= limit) or not response.get("LastEvaluatedKey"):
                break
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        return items[:limit] if limit else items

    def _update(
        self,
        workspace_id: str,
        memory_id: str,
        changes: dict[str, Any],
        remove: Iterable[str],
        condition: Any,
        conflict: str | None = None,
    ) -> Memory:
        names = {f"#u{i}": k for i, k in enumerate([*changes, *remove])}
        values = {f":u{i}": to_dynamo(v) for i, v in enumerate(changes.values())}
        expression = "SET " + ", ".join(f"#u{i} = :u{i}" for i in range(len(changes)))
        removed = [f"#u{i}" for i in range(len(changes), len(names))]
        if removed:
            expression += " REMOVE " + ", ".join(removed)
        kwargs: dict[str, Any] = {
            "Key": keys.memory_key(memory_id),
            "UpdateExpression": expression,
            "ExpressionAttributeNames": names,
            "ConditionExpression": condition,
            "ReturnValues": "ALL_NEW",
        }
        if values:
            kwargs["ExpressionAttributeValues"] = values
        try:
            return _memory(self._table.update_item(**kwargs)["Attributes"])
        except Exception as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            if conflict:
                self.get(workspace_id, memory_id, include_deleted=True)  # 404 if not ours
                raise Conflict(conflict.format(id=memory_id)) from exc
            raise _not_found(memory_id) from exc

    def _count(self, workspace_id: str, delta: int) -> None:
        self._table.update_item(**self._count_update(workspace_id, delta))

    @staticmethod
    def _count_update(workspace_id: str, delta: int) -> dict[str, Any]:
        return {
            "Key": keys.workspace_key(workspace_id),
            "UpdateExpression": "ADD memory_count :n",
            "ExpressionAttributeValues": {":n": delta},
        }

    @staticmethod
    def _item(memory: Memory, content_hash: str, search_text: str | None) -> dict[str, Any]:
        stamp = keys.stamped(memory.created_at, memory.memory_id)
        item = {
            **keys.memory_key(memory.memory_id),
            "type": "Memory",
            "GSI1PK": keys.memories_by_workspace(memory.workspace_id),
            "GSI1SK": stamp,
            "GSI3PK": keys.memory_changes(memory.workspace_id),
            "GSI3SK": stamp,
            "GSI4PK": keys.MAINT_PENDING,
            "GSI4SK": stamp,
            **keys.unindexed(memory.workspace_id, memory.created_at, memory.memory_id),
            "content_hash": content_hash,
            **memory.model_dump(exclude_none=True),
        }
        if search_text is not None:
            item["search_text"] = search_text
        if memory.session_id:
            item["GSI2PK"] = keys.memories_by_session(memory.workspace_id, memory.session_id)
            item["GSI2SK"] = stamp
        return item


def _claim_put(claim: DedupClaim) -> dict[str, Any]:
    put: dict[str, Any] = {
        "Item": {
            **keys.dedup_key(claim.workspace_id, claim.dedup),
            "type": "DedupClaim",
            "workspace_id": claim.workspace_id,
            "dedup_key": claim.dedup,
            "memory_id": claim.memory_id,
        },
    }
    if claim.replaces is None:
        put["ConditionExpression"] = "attribute_not_exists(PK)"
    else:
        put["ConditionExpression"] = "memory_id = :old"
        put["ExpressionAttributeValues"] = {":old": claim.replaces}
    return put


def _filter(filters: MemoryFilters) -> Any:
    parts = [
        attr(name).eq(getattr(filters, name))
        for name in ("memory_type", "user_id", "agent_id")
        if getattr(filters, name)
    ]
    if filters.tag:
        parts.append(attr("tags").contains(filters.tag))
    if filters.memory_types:
        parts.append(attr("memory_type").is_in(list(filters.memory_types)))
    if not filters.include_deleted:
        parts.append(attr("deleted_at").not_exists())
    expression = None
    for part in parts:
        expression = part if expression is None else expression & part
    return expression


def _memory(item: dict[str, Any]) -> Memory:
    plain = from_dynamo({k: v for k, v in item.items() if k in Memory.model_fields})
    return Memory.model_validate(plain)


def live_stored(items: Iterable[dict[str, Any]]) -> list[StoredMemory]:
    """The live memories among table items (as boto3 reads them), with their vectors: a
    rebuild's page (the local stack reads its emulator's items directly at start)."""
    return [_stored(i) for i in items if i.get("type") == "Memory" and not i.get("deleted_at")]


def _stored(item: dict[str, Any]) -> StoredMemory:
    vector = item.get("embedding")
    return StoredMemory(
        memory=_memory(item),
        content_hash=item.get("content_hash", ""),
        embedded_hash=item.get("embedded_hash"),
        embedding=bytes(vector.value if hasattr(vector, "value") else vector)
        if vector is not None
        else None,
        search_text=item.get("search_text"),
        index_stamp=item.get("GSI5SK"),
    )
