from __future__ import annotations

import builtins
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
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
    expression,
    from_dynamo,
    get_item,
    key,
    plain,
    put_all,
    read_page,
    to_dynamo,
    transact,
    typed,
    typed_client,
)
from engram.errors import Conflict, DomainError, NotFound
from engram.events import bundled
from engram.memories.models import Memory

TYPE_COUNT_PREFIX = "type#"  # an agent's counter of live memories of one type
WRITE_ATTEMPTS = 5  # re-reads when a memory's filtered fields change under a write

# Vectors written per transaction: with their events (one item per workspace, so at most as
# many) within TransactWriteItems' 100 actions, an SQS batch of 50 (template.yaml's
# BatchSize) is one round trip. A memory that changed meanwhile cancels its transaction,
# whose vectors then go one by one.
VECTOR_TRANSACTION_SIZE = 50


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
    tags: tuple[str, ...] = ()  # all of these, with `tag`
    event_types: tuple[str, ...] = ()  # any of these
    min_importance: float | None = None
    min_confidence: float | None = None
    content_contains: str | None = None  # case-insensitive, in the content
    since: str | None = None  # created at or after (ISO 8601, as stored)
    until: str | None = None  # created at or before
    oldest_first: bool = False

    @property
    def all_tags(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(((self.tag,) if self.tag else ()) + self.tags))

    @property
    def all_types(self) -> tuple[str, ...]:
        return (self.memory_type,) if self.memory_type else self.memory_types

    @property
    def only_type(self) -> str | None:
        return self.all_types[0] if len(self.all_types) == 1 else None

    def is_empty(self) -> bool:
        """No filter at all (the order aside): the workspace's counter is the count."""
        return replace(self, oldest_first=False) == MemoryFilters()


# What a filter entry copies from its memory: every field a list filters on.
ENTRY_FIELDS = (
    "memory_type",
    "agent_id",
    "user_id",
    "event_type",
    "session_id",
    "importance_score",
    "confidence_score",
    "tags",
    "created_at",
    "deleted_at",
)
# What decides a memory's entries (which there are, and what they copy): a write of the
# memory and its entries in one transaction is conditioned on these being as read.
SNAPSHOT_FIELDS = (*ENTRY_FIELDS, "concepts", "workspace_id")


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
        ] + [
            {"Update": {"TableName": self._table.name, **update}}
            for update in _agent_count_updates([(m, 1) for m, _, _ in memories])
        ]
        entries = [
            {"Put": {"TableName": self._table.name, "Item": e}}
            for m, _, _ in memories
            for e in _entries(m)
        ]
        extra = [{"Put": {"TableName": self._table.name, "Item": item}} for item in also]
        entries_inside = len(puts) + len(entries) <= TRANSACTION_LIMIT
        counts_inside = (
            entries_inside and len(puts) + len(entries) + len(counts) <= TRANSACTION_LIMIT
        )
        extra_inside = counts_inside and (
            len(puts) + len(entries) + len(counts) + len(extra) <= TRANSACTION_LIMIT
        )
        if not entries_inside:
            # Too many for one transaction: the entries go first, so a listed memory is never
            # missing from its filters; an entry whose memory was not written lists nothing.
            put_all(self._table, [e["Put"]["Item"] for e in entries])
        try:
            with conflict_on_condition("A memory with that id already exists."):
                transact(
                    self._table,
                    puts
                    + (entries if entries_inside else [])
                    + (counts if counts_inside else [])
                    + (extra if extra_inside else []),
                )
        except Conflict as exc:
            if not entries_inside:
                delete_all(self._table, [e["Put"]["Item"] for e in entries])
            reasons = getattr(exc.__cause__, "response", {}).get("CancellationReasons") or []
            claimed = reasons[len(memories) : len(memories) + len(claims)]
            if any(r.get("Code") == "ConditionalCheckFailed" for r in claimed):
                raise DedupTaken("A dedup_key was claimed by another write.") from exc
            raise
        if not counts_inside:
            for workspace_id, count in by_workspace.items():
                self._count(workspace_id, count)
            for update in _agent_count_updates([(m, 1) for m, _, _ in memories]):
                self._table.update_item(**update)
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
        count: int = 0,
    ) -> Memory:
        """Sets `changes` on a live memory of this workspace; 404 otherwise. The indexes
        follow: a change of `updated_at` is a change in the diff's order and puts the memory
        on the not-yet-indexed list (read-your-writes), `embedding_status="pending"` puts
        it on the maintenance index, and its filter entries follow in the same transaction.
        `count`: the change of the live-memory counts (-1 for a delete)."""
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
            count=count,
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
        return self.update(workspace_id, memory_id, changes, remove=keys.UNINDEXED_ATTRS, count=-1)

    def restore(self, workspace_id: str, memory_id: str, now: str) -> Memory:
        condition = (
            attr("workspace_id").eq(workspace_id)
            & attr("deleted_at").exists()
            & attr("restorable_until").gt(now)
        )
        return self._update(
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
            count=1,
        )

    def hard_delete(self, workspace_id: str, memory_id: str) -> Memory:
        """Deletes the memory with its entries (and its live counts) in one transaction."""
        for _ in range(WRITE_ATTEMPTS):
            item = self._read(workspace_id, memory_id)
            memory = _memory(item)
            names: dict[str, str] = {}
            values: dict[str, Any] = {}
            delete = {
                "Key": keys.memory_key(memory_id),
                "ConditionExpression": expression(_unchanged(item), names, values),
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
            }
            live = -1 if memory.deleted_at is None else 0
            if self._write({"Delete": delete}, self._follow(memory, None, live)):
                break
        else:
            raise Conflict(f"Memory {memory_id} kept changing; please retry.")
        dedup_key = memory.dedup_key
        if dedup_key:  # its claim goes too, unless a newer memory holds the key now
            conditional_write(
                lambda: self._table.delete_item(
                    Key=keys.dedup_key(workspace_id, dedup_key),
                    ConditionExpression=attr("memory_id").eq(memory_id),
                )
            )
        return memory

    def set_embeddings(self, writes: Sequence[EmbeddingWrite]) -> list[bool | Exception]:
        """Records each vector (and its event) only if the memory's content is still the one
        embedded. Per write, in order: True, False (it changed meanwhile: a newer embed
        message is on its way) or the error that stopped it. One TransactWriteItems per 50
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
        """The vectors and their events in one transaction: the events in one feed item per
        workspace (events.bundled), the requests built typed for the low-level client."""
        name = self._table.name
        updates = [_embedding_update(w) for w in writes]
        events = bundled([w.event for w in writes if w.event is not None])
        typed_client(self._table).transact_write_items(
            TransactItems=[
                *(
                    {
                        "Update": {
                            **u,
                            "TableName": name,
                            "Key": typed(u["Key"]),
                            "ExpressionAttributeValues": typed(u["ExpressionAttributeValues"]),
                        }
                    }
                    for u in updates
                ),
                *({"Put": {"TableName": name, "Item": typed(item)}} for item in events),
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
    ) -> builtins.list[dict[str, Any]]:
        """BatchGetItem, 100 keys a call, typed through the low-level client (read back as
        the resource layer would). Keys still unprocessed after a bounded number of retries
        are read one by one, so a missing item always means it does not exist."""
        found: list[dict[str, Any]] = []
        client, name = typed_client(self._table), self._table.name
        unique = list(dict.fromkeys(memory_ids))
        for start in range(0, len(unique), 100):
            request: dict[str, Any] = {
                name: {
                    "Keys": [typed(keys.memory_key(m)) for m in unique[start : start + 100]],
                    "ConsistentRead": consistent,
                }
            }
            for _ in range(5):
                response = client.batch_get_item(RequestItems=request)
                found += map(plain, response["Responses"].get(name, []))
                request = response.get("UnprocessedKeys") or {}
                if not request:
                    break
            for key_ in request.get(name, {}).get("Keys", []):
                item = get_item(self._table, plain(key_), consistent)
                if item is not None:
                    found.append(item)
        return [item for item in found if item.get("type") == "Memory"]

    def list(
        self,
        workspace_id: str,
        filters: MemoryFilters,
        limit: int,
        cursor: str | None,
        offset: int = 0,
    ) -> Page[Memory]:
        """One page of the memories matching every filter, newest first unless `oldest_first`.
        The most specific filter is a key condition (a session's GSI2 partition, or a
        tag's, agent's, user's, event type's or memory type's entry partition); since/until
        bound the sort key; the rest filter that partition only. Entry rows are hints: each
        memory is read back and checked, so an entry that is stale never shows."""
        where = _partition(workspace_id, filters)

        def read(rows: builtins.list[dict[str, Any]]) -> Iterable[tuple[dict[str, Any], Memory]]:
            pairs = self._memories_of(workspace_id, rows, where.entries)
            return [(row, memory) for row, memory in pairs if _matches(memory, filters)]

        return read_page(
            self._table,
            _key_condition(where, filters),
            read,
            index=where.index,
            key_attrs=where.key_attrs,
            partition=(where.partition_attr, where.partition),
            limit=limit,
            cursor=cursor,
            filter_expression=_condition(filters),
            newest_first=not filters.oldest_first,
            offset=offset,
        )

    def _memories_of(
        self, workspace_id: str, rows: builtins.list[dict[str, Any]], entries: bool
    ) -> builtins.list[tuple[dict[str, Any], Memory]]:
        if not entries:
            return [(row, _memory(row)) for row in rows]
        by_id = {
            item["memory_id"]: _memory(item)
            for item in self._batch_get([row["memory_id"] for row in rows])
            if item.get("workspace_id") == workspace_id
        }
        return [(row, by_id[row["memory_id"]]) for row in rows if row["memory_id"] in by_id]

    def session_memories(
        self,
        workspace_id: str,
        session_id: str,
        oldest_first: bool = True,
        include_deleted: bool = False,
        limit: int | None = None,
        agent_id: str | None = None,
    ) -> builtins.list[Memory]:
        """A session's memories in time order (all of them unless `limit`; only `agent_id`'s
        if given, filtered in the query so the limit counts only those)."""
        condition = key("GSI2PK").eq(keys.memories_by_session(workspace_id, session_id))
        kwargs: dict[str, Any] = {
            "IndexName": "GSI2",
            "KeyConditionExpression": condition,
            "ScanIndexForward": oldest_first,
        }
        filters = MemoryFilters(agent_id=agent_id, include_deleted=include_deleted)
        if (expression := _condition(filters)) is not None:
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
    ) -> builtins.list[Memory]:
        """Memories whose last change falls in [from_time, to_time], oldest change first,
        deleted ones included; of one session and one agent if given (filtered in the query,
        so the limit counts only those)."""
        condition = key("GSI3PK").eq(keys.memory_changes(workspace_id)) & key("GSI3SK").between(
            from_time, to_time + "\uffff"
        )
        kwargs: dict[str, Any] = {"IndexName": "GSI3", "KeyConditionExpression": condition}
        expression = _condition(MemoryFilters(agent_id=agent_id, include_deleted=True))
        if session_id:
            same_session = attr("session_id").eq(session_id)
            expression = same_session if expression is None else expression & same_session
        if expression is not None:
            kwargs["FilterExpression"] = expression
        return [_memory(i) for i in self._query_all(kwargs, limit)]

    def maintenance_ids(self, kind: str, before: str, limit: int) -> builtins.list[tuple[str, str]]:
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
        """Removes a soft-deleted memory whose restore window has passed, and its entries."""
        try:
            item = self._read(workspace_id, memory_id)
        except NotFound:
            return False
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        expired = attr("deleted_at").exists() & attr("restorable_until").lt(now) & _unchanged(item)
        delete = {
            "Key": keys.memory_key(memory_id),
            "ConditionExpression": expression(expired, names, values),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
        return self._write({"Delete": delete}, self._follow(_memory(item), None, 0))

    def all_memory_ids(self, workspace_id: str | None = None) -> Iterable[tuple[str, str]]:
        """Every live memory, for rebuilding the index (see _every_page)."""
        projection = "workspace_id, memory_id, deleted_at"
        for page in self._every_page(workspace_id, projection):
            for item in page:
                if not item.get("deleted_at"):
                    yield item["workspace_id"], item["memory_id"]

    def stored_pages(
        self, workspace_id: str | None = None
    ) -> Iterable[builtins.list[StoredMemory]]:
        """Every live memory with its vector, a page at a time, for rebuilding the index."""
        for page in self._every_page(workspace_id):
            stored = live_stored(page)
            if stored:
                yield stored

    def _every_page(
        self, workspace_id: str | None, projection: str | None = None
    ) -> Iterator[builtins.list[dict[str, Any]]]:
        """The memory items, a page at a time: per workspace through GSI1; across all
        workspaces a Scan (only maintenance does this, never a request)."""
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
        if projection:
            kwargs["ProjectionExpression"] = projection
        while True:
            response = operation(**kwargs)
            yield response.get("Items", [])
            if not response.get("LastEvaluatedKey"):
                return
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def agent_counts(self, workspace_id: str, agent_id: str) -> tuple[int, dict[str, int]]:
        """An agent's live memories, in all and by type (its counters item: one read)."""
        item = (
            self._table.get_item(
                Key=keys.agent_counts_key(workspace_id, agent_id), ConsistentRead=True
            ).get("Item")
            or {}
        )
        by_type = {
            name[len(TYPE_COUNT_PREFIX) :]: int(value)
            for name, value in item.items()
            if name.startswith(TYPE_COUNT_PREFIX) and int(value) > 0
        }
        return int(item.get("memory_count", 0)), by_type

    def agent_count_since(
        self, workspace_id: str, agent_id: str, since: str, errors_only: bool = False
    ) -> int:
        """Live memories of the agent created since `since` (its entry partition, from that
        sort key on); `errors_only`: those whose event_type contains 'error'."""
        condition = attr("deleted_at").not_exists()
        if errors_only:
            condition = condition & attr("event_type").contains("error")
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": key("PK").eq(
                keys.memory_entries(workspace_id, "agent", agent_id)
            )
            & key("SK").gte(since),
            "FilterExpression": condition,
            "Select": "COUNT",
        }
        total = 0
        for _ in range(MAX_QUERY_PAGES * 20):
            response = self._table.query(**kwargs)
            total += response.get("Count", 0)
            if not response.get("LastEvaluatedKey"):
                break
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        return total

    def sharing_concept(self, workspace_id: str, concept: str, limit: int) -> builtins.list[str]:
        """Ids of the newest memories with this concept (its entry partition; may include
        deleted ones: callers read the memories back)."""
        items = self._table.query(
            KeyConditionExpression=key("PK").eq(
                keys.memory_entries(workspace_id, "concept", concept)
            ),
            ScanIndexForward=False,
            Limit=limit,
            ProjectionExpression="memory_id",
        ).get("Items", [])
        return [item["memory_id"] for item in items]

    def agent_latest(self, workspace_id: str, agent_id: str) -> str | None:
        """When the agent's newest memory was stored."""
        items = self._table.query(
            KeyConditionExpression=key("PK").eq(
                keys.memory_entries(workspace_id, "agent", agent_id)
            ),
            ScanIndexForward=False,
            Limit=1,
        ).get("Items", [])
        return items[0]["created_at"] if items else None

    def rebuild_filter_items(self, workspace_id: str | None = None) -> int:
        """Writes every live memory's filter entries and recounts its agents' counters (for
        memories stored before entries existed; run while no writes happen, as the counters
        are replaced). Answers how many memories it covered."""
        by_agent: dict[tuple[str, str], dict[str, int]] = {}
        done = 0
        with self._table.batch_writer() as batch:
            for ws, memory_id in self.all_memory_ids(workspace_id):
                try:
                    memory = self.get(ws, memory_id)
                except NotFound:
                    continue  # deleted meanwhile
                for entry in _entries(memory):
                    batch.put_item(Item=entry)
                if memory.agent_id:
                    counts = by_agent.setdefault((ws, memory.agent_id), {})
                    counts[memory.memory_type] = counts.get(memory.memory_type, 0) + 1
                done += 1
            for (ws, agent_id), by_type in by_agent.items():
                batch.put_item(
                    Item={
                        **keys.agent_counts_key(ws, agent_id),
                        "memory_count": sum(by_type.values()),
                        **{f"{TYPE_COUNT_PREFIX}{t}": n for t, n in by_type.items()},
                    }
                )
        return done

    def count(self, workspace_id: str) -> int:
        item = self._table.get_item(Key=keys.workspace_key(workspace_id)).get("Item") or {}
        return int(item.get("memory_count", 0))

    # helpers ------------------------------------------------------------------------------

    def _query_all(
        self, kwargs: dict[str, Any], limit: int | None = None
    ) -> builtins.list[dict[str, Any]]:
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
        count: int = 0,
    ) -> Memory:
        """The update, its entries and counts in one transaction, conditioned on `condition`
        and on the fields the entries depend on being as read (re-read and retried if they
        changed meanwhile)."""
        remove = tuple(remove)
        for _ in range(WRITE_ATTEMPTS):
            old = self._read(workspace_id, memory_id)
            new = {k: v for k, v in old.items() if k not in set(remove)}
            new.update({k: to_dynamo(v) for k, v in changes.items()})
            before, after = _memory(old), _memory(new)
            update = _update_item(memory_id, changes, remove, condition & _unchanged(old))
            if self._write({"Update": update}, self._follow(before, after, count)):
                return after
            if _snapshot(self._read(workspace_id, memory_id)) == _snapshot(old):
                # what changed is not what the entries copy: `condition` failed
                if conflict:
                    raise Conflict(conflict.format(id=memory_id))
                raise _not_found(memory_id)
        raise Conflict(f"Memory {memory_id} kept changing; please retry.")

    def _read(self, workspace_id: str, memory_id: str) -> dict[str, Any]:
        """The memory's item as stored (deleted or not); 404 unless of this workspace."""
        item = self._table.get_item(Key=keys.memory_key(memory_id), ConsistentRead=True).get("Item")
        if not item or item.get("workspace_id") != workspace_id or item.get("type") != "Memory":
            raise _not_found(memory_id)
        return item

    def _follow(
        self, before: Memory, after: Memory | None, count: int
    ) -> builtins.list[dict[str, Any]]:
        """Transaction items that keep the entries and counts in step with a memory going
        from `before` to `after` (None: gone); `count`: its change of the live counts."""
        items = _entry_writes(before, after)
        if count:
            items.append({"Update": self._count_update(before.workspace_id, count)})
            changed = [(before, count)]
        elif after and before.memory_type != after.memory_type and before.deleted_at is None:
            changed = [(before, -1), (after, 1)]  # the agent's count by type moves
        else:
            changed = []
        items += [{"Update": u} for u in _agent_count_updates(changed, total=bool(count))]
        return [_in_table(self._table.name, item) for item in items]

    def _write(self, first: dict[str, Any], others: Sequence[dict[str, Any]]) -> bool:
        """`first` (a conditional write of a memory) and `others` in one transaction; False
        if first's condition failed. Beyond a transaction's limit (a memory with about a
        hundred tags and concepts) first alone, then the others."""
        first = _in_table(self._table.name, first)  # others are, from _follow
        if 1 + len(others) <= TRANSACTION_LIMIT:
            try:
                self._table.meta.client.transact_write_items(TransactItems=[first, *others])
            except Exception as exc:
                reasons = getattr(exc, "response", {}).get("CancellationReasons") or [{}]
                if reasons[0].get("Code") == "ConditionalCheckFailed":
                    return False
                raise
            return True
        if conditional_write(lambda: _one(self._table, first)) is None:
            return False
        for item in others:
            _one(self._table, item)
        return True

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


@dataclass(frozen=True)
class _Where:
    """The partition a list reads: an index of memory items, or an entry partition."""

    index: str | None
    partition_attr: str
    partition: str
    sort_attr: str
    key_attrs: tuple[str, ...]
    entries: bool


def _partition(workspace_id: str, filters: MemoryFilters) -> _Where:
    if filters.session_id:
        return _Where(
            "GSI2",
            "GSI2PK",
            keys.memories_by_session(workspace_id, filters.session_id),
            "GSI2SK",
            keys.GSI2_KEY_ATTRS,
            False,
        )
    choices = (
        ("tag", filters.all_tags[0] if filters.all_tags else None),
        ("agent", filters.agent_id),
        ("user", filters.user_id),
        ("event", filters.event_types[0] if len(filters.event_types) == 1 else None),
        ("type", filters.only_type),
    )
    for dimension, value in choices:
        if value:
            partition = keys.memory_entries(workspace_id, dimension, value)
            return _Where(None, "PK", partition, "SK", ("PK", "SK"), True)
    return _Where(
        "GSI1",
        "GSI1PK",
        keys.memories_by_workspace(workspace_id),
        "GSI1SK",
        keys.GSI1_KEY_ATTRS,
        False,
    )


def _key_condition(where: _Where, filters: MemoryFilters) -> Any:
    """The partition, and since/until on its sort key (`<created>#<memory_id>`)."""
    condition = key(where.partition_attr).eq(where.partition)
    sort = key(where.sort_attr)
    until = (filters.until or "") + "\uffff"
    if filters.since and filters.until:
        return condition & sort.between(filters.since, until)
    if filters.since:
        return condition & sort.gte(filters.since)
    if filters.until:
        return condition & sort.lte(until)
    return condition


def _entry_dimensions(memory: Memory) -> list[tuple[str, str]]:
    found = [("tag", tag) for tag in memory.tags]
    found += [("concept", concept) for concept in memory.concepts]
    for dimension, value in (
        ("agent", memory.agent_id),
        ("user", memory.user_id),
        ("event", memory.event_type),
        ("type", memory.memory_type),
    ):
        if value:
            found.append((dimension, value))
    return found


def _entries(memory: Memory) -> list[dict[str, Any]]:
    """The memory's filter entries, each with the fields a list filters on."""
    stamp = keys.stamped(memory.created_at, memory.memory_id)
    copied = {
        name: value
        for name in ENTRY_FIELDS
        if (value := getattr(memory, name)) is not None and value != []
    }
    return [
        to_dynamo(
            {
                "PK": keys.memory_entries(memory.workspace_id, dimension, value),
                "SK": stamp,
                "type": "MemoryEntry",
                "memory_id": memory.memory_id,
                "workspace_id": memory.workspace_id,
                **copied,
            }
        )
        for dimension, value in _entry_dimensions(memory)
    ]


def _condition(filters: MemoryFilters) -> Any:
    """What the partition's rows (memory items or entries, which copy these fields) must
    hold; checked again on each memory by `_matches`."""
    parts = [
        attr(name).eq(getattr(filters, name))
        for name in ("user_id", "agent_id")
        if getattr(filters, name)
    ]
    parts += [attr("tags").contains(tag) for tag in filters.all_tags]
    types = filters.all_types
    if types:
        parts.append(attr("memory_type").is_in(list(types)))
    if filters.event_types:
        parts.append(attr("event_type").is_in(list(filters.event_types)))
    if filters.min_importance is not None:
        parts.append(attr("importance_score").gte(to_dynamo(filters.min_importance)))
    if filters.min_confidence is not None:
        parts.append(attr("confidence_score").gte(to_dynamo(filters.min_confidence)))
    if not filters.include_deleted:
        parts.append(attr("deleted_at").not_exists())
    expression = None
    for part in parts:
        expression = part if expression is None else expression & part
    return expression


def _matches(memory: Memory, filters: MemoryFilters) -> bool:
    """Every filter, on the memory itself (an entry may be stale until its refresh)."""
    types = filters.all_types
    return (
        (filters.include_deleted or memory.deleted_at is None)
        and (not filters.session_id or memory.session_id == filters.session_id)
        and (not filters.user_id or memory.user_id == filters.user_id)
        and (not filters.agent_id or memory.agent_id == filters.agent_id)
        and all(tag in memory.tags for tag in filters.all_tags)
        and (not types or memory.memory_type in types)
        and (not filters.event_types or memory.event_type in filters.event_types)
        and (filters.min_importance is None or memory.importance_score >= filters.min_importance)
        and (
            filters.min_confidence is None
            or (memory.confidence_score or 0.0) >= filters.min_confidence
        )
        and (
            not filters.content_contains
            or filters.content_contains.casefold() in memory.content.casefold()
        )
        and (not filters.since or memory.created_at >= filters.since)
        and (not filters.until or memory.created_at <= filters.until)
    )


def _agent_count_updates(
    changes: Sequence[tuple[Memory, int]], total: bool = True
) -> list[dict[str, Any]]:
    """ADDs to each agent's counters item (one per agent): its live memories, and by type."""
    by_agent: dict[tuple[str, str], dict[str, int]] = {}
    for memory, delta in changes:
        if memory.agent_id:
            counts = by_agent.setdefault((memory.workspace_id, memory.agent_id), {})
            counts[memory.memory_type] = counts.get(memory.memory_type, 0) + delta
    updates = []
    for (workspace_id, agent_id), by_type in by_agent.items():
        names = {f"#t{i}": f"{TYPE_COUNT_PREFIX}{t}" for i, t in enumerate(by_type)}
        values = {f":t{i}": n for i, n in enumerate(by_type.values())}
        adds = [f"#t{i} :t{i}" for i in range(len(by_type))]
        if total:
            adds.insert(0, "memory_count :n")
            values[":n"] = sum(by_type.values())
        updates.append(
            {
                "Key": keys.agent_counts_key(workspace_id, agent_id),
                "UpdateExpression": "ADD " + ", ".join(adds),
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
            }
        )
    return updates


def _snapshot(item: dict[str, Any]) -> dict[str, Any]:
    return {name: item.get(name) for name in SNAPSHOT_FIELDS}


def _unchanged(item: dict[str, Any]) -> Any:
    """A condition that the fields the memory's entries depend on are as in `item`."""
    condition = None
    for name in SNAPSHOT_FIELDS:
        part = attr(name).eq(item[name]) if name in item else attr(name).not_exists()
        condition = part if condition is None else condition & part
    return condition


def _update_item(
    memory_id: str, changes: dict[str, Any], remove: Sequence[str], condition: Any
) -> dict[str, Any]:
    """An UpdateItem (SET `changes`, REMOVE `remove`) as a transaction takes it."""
    names = {f"#u{i}": k for i, k in enumerate([*changes, *remove])}
    values = {f":u{i}": to_dynamo(v) for i, v in enumerate(changes.values())}
    update = "SET " + ", ".join(f"#u{i} = :u{i}" for i in range(len(changes)))
    removed = [f"#u{i}" for i in range(len(changes), len(names))]
    if removed:
        update += " REMOVE " + ", ".join(removed)
    return {
        "Key": keys.memory_key(memory_id),
        "UpdateExpression": update,
        "ConditionExpression": expression(condition, names, values),
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
    }


def _entry_writes(before: Memory, after: Memory | None) -> list[dict[str, Any]]:
    """Puts and deletes that make the entries follow the memory from `before` to `after`
    (None: gone): those of values it lost go; the others are written when new, or all of
    them when a field they copy changed."""
    stamp = keys.stamped(before.created_at, before.memory_id)
    kept = set(_entry_dimensions(after)) if after else set()
    writes: list[dict[str, Any]] = [
        {"Delete": {"Key": {"PK": keys.memory_entries(before.workspace_id, *dim), "SK": stamp}}}
        for dim in _entry_dimensions(before)
        if dim not in kept
    ]
    if after is None:
        return writes
    copied_same = all(getattr(before, f) == getattr(after, f) for f in ENTRY_FIELDS)
    had = set(_entry_dimensions(before))
    writes += [
        {"Put": {"Item": entry}}
        for dim, entry in zip(_entry_dimensions(after), _entries(after), strict=True)
        if not copied_same or dim not in had
    ]
    return writes


def _in_table(name: str, item: dict[str, Any]) -> dict[str, Any]:
    """A transaction item ({"Put": {...}}) with its table named."""
    ((action, body),) = item.items()
    return {action: {"TableName": name, **body}}


def _one(table: Any, item: dict[str, Any]) -> Any:
    """A transaction item, written on its own."""
    ((action, body),) = item.items()
    body = {k: v for k, v in body.items() if k != "TableName"}
    if not body.get("ExpressionAttributeValues", True):
        del body["ExpressionAttributeValues"]
    if action == "Put":
        return table.put_item(**body)
    if action == "Delete":
        return table.delete_item(**body)
    return table.update_item(**body)


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
