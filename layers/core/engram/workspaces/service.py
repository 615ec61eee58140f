from __future__ import annotations

import hashlib
import secrets

from engram.clock import Clock, iso
from engram.errors import ValidationFailed
from engram.ids import new_id
from engram.workspaces.models import SCOPES, ApiKey, NewApiKey, Workspace
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

    def _new_key(self, workspace_id: str, name: str, scopes: list[str], now: str) -> NewApiKey:
        secret = generate_key()
        key = ApiKey(key_id=new_id("key"), workspace_id=workspace_id, name=name,
                     prefix=secret[: len(KEY_PREFIX) + _DISPLAY_CHARS], scopes=scopes, created_at=now)
        return NewApiKey(api_key=secret, key=key)
