from __future__ import annotations

import builtins  # annotations after the `list` method name the type as builtins.list
from typing import Any

from engram import keys
from engram.dynamo import (
    Page,
    attr,
    conflict_on_condition,
    count_query,
    delete_expired,
    error_code,
    from_dynamo,
    key,
    query_page,
    to_dynamo,
    to_model,
)
from engram.errors import Conflict, NotFound
from engram.sessions.models import Session, SessionFilters

_LIVE = "attribute_not_exists(deleted_at)"


def _not_found(session_id: str) -> NotFound:
    return NotFound(f"Session {session_id} was not found.")


class SessionRepository:
    def __init__(self, table: Any) -> None:
        self._table = table

    def create(self, session: Session) -> None:
        """Puts the session and bumps the workspace's session count in one transaction;
        a session id taken in any workspace is a conflict."""
        with conflict_on_condition(f"Session {session.session_id} already exists."):
            self._counted(
                session.workspace_id,
                1,
                {
                    "Put": {
                        "Item": self._item(session),
                        "ConditionExpression": "attribute_not_exists(PK)",
                    }
                },
            )

    def get(self, workspace_id: str, session_id: str) -> Session:
        """A live session of this workspace; a soft-deleted one is a 404 like a missing one."""
        return _session(self.get_raw(workspace_id, session_id))

    def update(
        self,
        workspace_id: str,
        session_id: str,
        changes: dict[str, Any],
        allowed_from: list[str] | None = None,
    ) -> Session:
        """Sets `changes` only if the session is in this workspace and (when given) in one
        of the `allowed_from` statuses; otherwise 404 or 409, and nothing is written."""
        # Placeholders #u/:u: boto3's condition builder uses #n/:v for its own.
        names = {f"#u{i}": k for i, k in enumerate(changes)}
        values = {f":u{i}": to_dynamo(v) for i, v in enumerate(changes.values())}
        condition = attr("workspace_id").eq(workspace_id) & attr("deleted_at").not_exists()
        if allowed_from is not None:
            condition = condition & attr("status").is_in(allowed_from)
        try:
            response = self._table.update_item(
                Key=keys.session_key(session_id),
                UpdateExpression="SET " + ", ".join(f"#u{i} = :u{i}" for i in range(len(changes))),
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ConditionExpression=condition,
                ReturnValues="ALL_NEW",
            )
        except Exception as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            current = self.get(workspace_id, session_id)  # 404 if it is not ours
            raise Conflict(
                f"Session {session_id} is {current.status}; that change is not allowed from there."
            ) from exc
        return _session(response["Attributes"])

    def delete(self, workspace_id: str, session_id: str) -> None:
        try:
            self._counted(
                workspace_id,
                -1,
                {
                    "Delete": {
                        "Key": keys.session_key(session_id),
                        "ConditionExpression": f"workspace_id = :ws AND {_LIVE}",
                        "ExpressionAttributeValues": {":ws": workspace_id},
                    }
                },
            )
        except Exception as exc:
            if error_code(exc) == "TransactionCanceledException":
                raise _not_found(session_id) from exc
            raise
        self._delete_checkpoints(session_id)

    def soft_delete(self, workspace_id: str, session_id: str, now: str, until: str) -> bool:
        """Hides a live session (404 on reads, gone from lists and the count) until `until`,
        when maintenance purges it; False if it is not a live session of this workspace.
        The fields are set, never stored as null: a NULL would count as existing."""
        return self._counted_if(
            workspace_id,
            -1,
            {
                "Update": {
                    "Key": keys.session_key(session_id),
                    "UpdateExpression": "SET deleted_at = :now, restorable_until = :until, "
                    "GSI4PK = :maint, GSI4SK = :stamp",
                    "ConditionExpression": f"workspace_id = :ws AND {_LIVE}",
                    "ExpressionAttributeValues": {
                        ":ws": workspace_id,
                        ":now": now,
                        ":until": until,
                        ":maint": keys.MAINT_PURGE_SESSIONS,
                        ":stamp": keys.stamped(until, session_id),
                    },
                }
            },
        )

    def restore(self, workspace_id: str, session_id: str, now: str) -> bool:
        """Brings back a soft-deleted session still inside its window; False otherwise."""
        return self._counted_if(
            workspace_id,
            1,
            {
                "Update": {
                    "Key": keys.session_key(session_id),
                    "UpdateExpression": "SET updated_at = :now "
                    "REMOVE deleted_at, restorable_until, GSI4PK, GSI4SK",
                    "ConditionExpression": "workspace_id = :ws AND attribute_exists(deleted_at) "
                    "AND restorable_until > :now",
                    "ExpressionAttributeValues": {":ws": workspace_id, ":now": now},
                }
            },
        )

    def purge(self, workspace_id: str, session_id: str, now: str) -> bool:
        """Removes a soft-deleted session whose window has passed, and its checkpoints; False
        if it was restored (or purged) meanwhile. Its memories purge on their own stamps."""
        if not delete_expired(self._table, keys.session_key(session_id), workspace_id, now):
            return False
        self._delete_checkpoints(session_id)
        return True

    def _delete_checkpoints(self, session_id: str) -> None:
        condition = key("PK").eq(keys.session_key(session_id)["PK"]) & key("SK").begins_with(
            keys.CHECKPOINT_PREFIX
        )
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": condition,
            "ProjectionExpression": "PK, SK",
        }
        with self._table.batch_writer() as batch:
            while True:
                response = self._table.query(**kwargs)
                for item in response.get("Items", []):
                    batch.delete_item(Key={"PK": item["PK"], "SK": item["SK"]})
                if not response.get("LastEvaluatedKey"):
                    break
                kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def list(
        self,
        workspace_id: str,
        filters: SessionFilters,
        limit: int,
        cursor: str | None,
        deleted: bool = False,
        offset: int = 0,
    ) -> Page[Session]:
        """Live sessions; with `deleted`, the soft-deleted ones instead (restoring a user)."""
        index, partition_attr, value, key_attrs = self._partition(workspace_id, filters)
        page = query_page(
            self._table,
            index=index,
            key_attrs=key_attrs,
            partition_attr=partition_attr,
            partition_value=value,
            limit=limit,
            cursor=cursor,
            filter_expression=_filter(filters, deleted),
            offset=offset,
        )
        return Page([_session(i) for i in page.items], page.next_cursor)

    def count(self, workspace_id: str, filters: SessionFilters) -> int:
        """Unfiltered, the workspace's counter (one read); filtered, a COUNT query."""
        if filters.is_empty():
            item = self._table.get_item(Key=keys.workspace_key(workspace_id)).get("Item") or {}
            return int(item.get("session_count", 0))
        index, partition_attr, value, _ = self._partition(workspace_id, filters)
        return count_query(
            self._table,
            index=index,
            partition_attr=partition_attr,
            partition_value=value,
            filter_expression=_filter(filters),
        )

    def agent_latest(self, workspace_id: str, agent_id: str) -> str | None:
        """When the agent's newest session started or last changed (its GSI2 partition)."""
        items = self._table.query(
            IndexName="GSI2",
            KeyConditionExpression=key("GSI2PK").eq(keys.sessions_by_agent(workspace_id, agent_id)),
            ScanIndexForward=False,
            Limit=1,
        ).get("Items", [])
        if not items:
            return None
        return max(m for m in (items[0].get("started_at"), items[0].get("updated_at")) if m)

    def get_raw(self, workspace_id: str, session_id: str) -> dict[str, Any]:
        """The stored item, with fields the API does not show (the window's restore point)."""
        item = self._table.get_item(Key=keys.session_key(session_id), ConsistentRead=True).get(
            "Item"
        )
        if not item or item.get("workspace_id") != workspace_id or "deleted_at" in item:
            raise _not_found(session_id)
        return from_dynamo(item)

    def add_activity(
        self,
        workspace_id: str,
        session_id: str,
        messages: int,
        tokens: int,
        now: str,
        undo: bool = False,
    ) -> None:
        """Moves the message and token counters atomically (ADD), so concurrent posts lose no
        count. New messages need an open, live session; an undo does not."""
        condition = attr("workspace_id").eq(workspace_id)
        if not undo:
            condition = condition & attr("deleted_at").not_exists() & attr("is_active").eq(True)
        try:
            self._table.update_item(
                Key=keys.session_key(session_id),
                UpdateExpression="ADD message_count :m, token_count :t SET last_active_at = :now",
                ConditionExpression=condition,
                ExpressionAttributeValues={":m": messages, ":t": tokens, ":now": now},
            )
        except Exception as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            current = self.get(workspace_id, session_id)
            raise Conflict(
                f"Session {session_id} is {current.status}; it takes no more messages."
            ) from exc

    def add_checkpoint(self, checkpoint: dict[str, Any], snapshot: builtins.list[str]) -> None:
        key = keys.checkpoint_key(checkpoint["session_id"], checkpoint["checkpoint_id"])
        self._table.put_item(
            Item=to_dynamo({**key, "type": "Checkpoint", **checkpoint, "snapshot": snapshot})
        )

    def checkpoints(self, session_id: str) -> builtins.list[dict[str, Any]]:
        condition = key("PK").eq(keys.session_key(session_id)["PK"]) & key("SK").begins_with(
            keys.CHECKPOINT_PREFIX
        )
        response = self._table.query(KeyConditionExpression=condition, ScanIndexForward=False)
        fields = ("checkpoint_id", "session_id", "created_at", "message_count")
        return [{k: from_dynamo(i[k]) for k in fields} for i in response.get("Items", [])]

    def checkpoint(
        self, session_id: str, checkpoint_id: str
    ) -> tuple[dict[str, Any], builtins.list[str]] | None:
        item = self._table.get_item(Key=keys.checkpoint_key(session_id, checkpoint_id)).get("Item")
        if not item:
            return None
        return from_dynamo(item), list(item.get("snapshot") or [])

    def _counted(self, workspace_id: str, delta: int, operation: dict[str, Any]) -> None:
        """One write to a session item and the workspace's session count, in one transaction
        (plain values: `to_dynamo` here)."""
        ((kind, body),) = operation.items()
        self._table.meta.client.transact_write_items(
            TransactItems=[
                {kind: {"TableName": self._table.name, **to_dynamo(body)}},
                {
                    "Update": {
                        "TableName": self._table.name,
                        "Key": to_dynamo(keys.workspace_key(workspace_id)),
                        "UpdateExpression": "ADD session_count :n",
                        "ExpressionAttributeValues": {":n": delta},
                    }
                },
            ]
        )

    def _counted_if(self, workspace_id: str, delta: int, operation: dict[str, Any]) -> bool:
        """`_counted`, False (and nothing written) when the operation's condition fails."""
        try:
            self._counted(workspace_id, delta, operation)
        except Exception as exc:
            if error_code(exc) == "TransactionCanceledException":
                return False
            raise
        return True

    @staticmethod
    def _partition(workspace_id: str, filters: SessionFilters) -> tuple[str, str, str, tuple]:
        if filters.agent_id:
            partition = keys.sessions_by_agent(workspace_id, filters.agent_id)
            return "GSI2", "GSI2PK", partition, keys.GSI2_KEY_ATTRS
        return "GSI1", "GSI1PK", keys.sessions_by_workspace(workspace_id), keys.GSI1_KEY_ATTRS

    @staticmethod
    def _item(session: Session) -> dict[str, Any]:
        sort = keys.session_sort(session.started_at, session.session_id)
        item = {
            **keys.session_key(session.session_id),
            "type": "Session",
            "GSI1PK": keys.sessions_by_workspace(session.workspace_id),
            "GSI1SK": sort,
            **session.model_dump(),
        }
        if session.agent_id:
            item["GSI2PK"] = keys.sessions_by_agent(session.workspace_id, session.agent_id)
            item["GSI2SK"] = sort
        return item


def _filter(filters: SessionFilters, deleted: bool = False) -> Any:
    """Filters other than the partition's agent, and live (or only soft-deleted) sessions,
    as one DynamoDB filter expression."""
    parts = [
        attr(name).eq(getattr(filters, name))
        for name in ("task_id", "user_id", "status", "project_name")
        if getattr(filters, name) is not None
    ]
    parts.append(attr("deleted_at").exists() if deleted else attr("deleted_at").not_exists())
    if filters.active is not None:
        parts.append(attr("is_active").eq(filters.active))
    expression = None
    for part in parts:
        expression = part if expression is None else expression & part
    return expression


def _session(item: dict[str, Any]) -> Session:
    return to_model(Session, item)
