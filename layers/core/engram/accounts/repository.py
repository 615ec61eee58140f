from __future__ import annotations

from typing import Any

from engram import keys
from engram.accounts.models import StoredUser, User
from engram.dynamo import conflict_on_condition, error_code, from_dynamo, to_dynamo, to_model


class StaleRefreshToken(Exception):
    """The token was rotated or its family revoked between read and write."""


class AccountRepository:
    def __init__(self, table: Any) -> None:
        self._table = table

    def create(self, workspace_put: dict[str, Any], user: StoredUser) -> None:
        """Workspace, user and email claim in one transaction: a taken email writes nothing."""
        user_item = {**keys.user_key(user.user_id), "type": "User", **user.model_dump()}
        email_item = {**keys.email_key(user.email), "type": "Email", "user_id": user.user_id}
        with conflict_on_condition("An account with that email already exists."):
            self._transact([workspace_put, self._put(user_item), self._put(email_item)])

    def user_by_email(self, email: str) -> StoredUser | None:
        pointer = self._get(keys.email_key(email))
        return self.get_user(pointer["user_id"]) if pointer else None

    def get_user(self, user_id: str) -> StoredUser | None:
        item = self._get(keys.user_key(user_id))
        return to_model(StoredUser, item) if item else None

    def public_user(self, user_id: str) -> User | None:
        user = self.get_user(user_id)
        return User.model_validate(user.model_dump(exclude={"password_hash"})) if user else None

    def start_family(self, family: dict[str, Any], token_hash: str, token: dict[str, Any]) -> None:
        self._transact(
            [
                self._put(
                    {**keys.token_family_key(family["family_id"]), "type": "TokenFamily", **family}
                ),
                self._put({**keys.refresh_token_key(token_hash), "type": "RefreshToken", **token}),
            ]
        )

    def refresh_token(self, token_hash: str) -> dict[str, Any] | None:
        return self._get(keys.refresh_token_key(token_hash))

    def family(self, family_id: str) -> dict[str, Any] | None:
        return self._get(keys.token_family_key(family_id))

    def rotate(self, old_hash: str, new_hash: str, token: dict[str, Any], now: str) -> None:
        """Marks the old token rotated and stores its successor, only if neither the token
        nor its family was touched meanwhile (two refreshes racing count as reuse)."""
        family_key = keys.token_family_key(token["family_id"])
        try:
            self._transact(
                [
                    {
                        "Update": {
                            "TableName": self._table.name,
                            "Key": to_dynamo(keys.refresh_token_key(old_hash)),
                            "UpdateExpression": "SET rotated_at = :now",
                            "ConditionExpression": "attribute_exists(PK) AND attribute_not_exists(rotated_at)",
                            "ExpressionAttributeValues": {":now": now},
                        }
                    },
                    {
                        "Update": {
                            "TableName": self._table.name,
                            "Key": to_dynamo(family_key),
                            "UpdateExpression": "SET #ttl = :ttl",
                            "ConditionExpression": "attribute_exists(PK) AND attribute_not_exists(revoked_at)",
                            "ExpressionAttributeNames": {"#ttl": "ttl"},
                            "ExpressionAttributeValues": {":ttl": token["ttl"]},
                        }
                    },
                    self._put(
                        {**keys.refresh_token_key(new_hash), "type": "RefreshToken", **token}
                    ),
                ]
            )
        except Exception as exc:
            if error_code(exc) == "TransactionCanceledException":
                raise StaleRefreshToken from exc
            raise

    def revoke_family(self, family_id: str, now: str) -> None:
        try:
            self._table.update_item(
                Key=keys.token_family_key(family_id),
                UpdateExpression="SET revoked_at = :now",
                ConditionExpression="attribute_exists(PK) AND attribute_not_exists(revoked_at)",
                ExpressionAttributeValues={":now": now},
            )
        except Exception as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise

    def _get(self, key: dict[str, str]) -> dict[str, Any] | None:
        item = self._table.get_item(Key=key, ConsistentRead=True).get("Item")
        return from_dynamo(item) if item else None

    def _put(self, item: dict[str, Any]) -> dict[str, Any]:
        return {
            "Put": {
                "TableName": self._table.name,
                "Item": to_dynamo(item),
                "ConditionExpression": "attribute_not_exists(PK)",
            }
        }

    def _transact(self, items: list[dict[str, Any]]) -> None:
        self._table.meta.client.transact_write_items(TransactItems=items)
