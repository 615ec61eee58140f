from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from datetime import UTC

from engram.clock import Clock, iso
from engram.errors import NotFound, ValidationFailed
from engram.ids import new_id
from engram.workspaces.models import (
    SCOPES,
    ApiKey,
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyInfo,
    ApiKeyList,
    NewApiKey,
    Workspace,
    WorkspaceList,
)
from engram.workspaces.repository import WorkspaceRepository

KEY_PREFIX = "ek_"
_DISPLAY_CHARS = 8


def hash_key(api_key: str) -> str:
    """Keys are 256-bit random strings, so a fast hash is enough (no password stretching)."""
    return hashlib.sha256(api_key.encode()).hexdigest()


def generate_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


class WorkspaceService:
    def __init__(self, repo: WorkspaceRepository, clock: Clock) -> None:
        self._repo = repo
        self._clock = clock

    def create_workspace(self, name: str, key_name: str = "default") -> tuple[Workspace, NewApiKey]:
        name = name.strip()
        if not name or len(name) > 255:
            raise ValidationFailed("A workspace name must be 1 to 255 characters.")
        now = iso(self._clock.now())
        workspace = Workspace(workspace_id=new_id("ws"), name=name, created_at=now)
        new_key = self._new_key(workspace.workspace_id, key_name, list(SCOPES), now)
        self._repo.create_with_key(workspace, new_key.key, hash_key(new_key.api_key))
        return workspace, new_key

    def own_workspace(self, caller_workspace_id: str, workspace_id: str) -> Workspace:
        """The caller's own workspace; any other id is 404, as if it did not exist."""
        workspace = self._repo.get(workspace_id) if workspace_id == caller_workspace_id else None
        if workspace is None:
            raise NotFound(f"Workspace {workspace_id} was not found.")
        return workspace

    def list_own(self, caller_workspace_id: str) -> WorkspaceList:
        mine = self.own_workspace(caller_workspace_id, caller_workspace_id)
        return WorkspaceList(data=[mine], count=1)

    def create_key(
        self, workspace_id: str, user_id: str | None, body: ApiKeyCreate
    ) -> ApiKeyCreated:
        now = self._clock.now()
        expires_at = None
        if body.expires_at is not None:
            moment = (
                body.expires_at if body.expires_at.tzinfo else body.expires_at.replace(tzinfo=UTC)
            )
            if moment <= now:
                raise ValidationFailed("'expires_at' must be in the future.")
            expires_at = iso(moment)
        if body.agent_id and "admin" in body.scopes:
            # admin routes are workspace-wide; an agent-bound key must not reach them.
            raise ValidationFailed("An agent-bound key cannot have the 'admin' scope.")
        scopes = [s for s in SCOPES if s in body.scopes]
        new = self._new_key(
            workspace_id,
            body.name,
            scopes,
            iso(now),
            user_id=user_id,
            agent_id=body.agent_id,
            expires_at=expires_at,
        )
        self._repo.add_key(new.key, hash_key(new.api_key))
        return ApiKeyCreated(api_key=new.api_key, **ApiKeyInfo.of(new.key).model_dump())

    def list_keys(
        self, workspace_id: str, limit: int, cursor: str | None, offset: int = 0
    ) -> ApiKeyList:
        page = self._repo.list_keys(workspace_id, limit, cursor, offset)
        return ApiKeyList(
            data=[ApiKeyInfo.of(k) for k in page.items],
            next_cursor=page.next_cursor,
            has_more=page.next_cursor is not None,
        )

    def revoke_key(self, workspace_id: str, key_id: str) -> None:
        key, key_hash = self._repo.key_by_id(workspace_id, key_id)
        if key.revoked_at is None:  # revoking twice keeps the first time
            self._repo.revoke_key(workspace_id, key_hash, iso(self._clock.now()))

    def _new_key(
        self, workspace_id: str, name: str, scopes: Sequence[str], now: str, **extra: str | None
    ) -> NewApiKey:
        secret = generate_key()
        key = ApiKey(
            key_id=new_id("key"),
            workspace_id=workspace_id,
            name=name,
            prefix=secret[: len(KEY_PREFIX) + _DISPLAY_CHARS],
            scopes=list(scopes),
            created_at=now,
            **extra,
        )
        return NewApiKey(api_key=secret, key=key)
