from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from engram.validation import EngramId

Scope = Literal["read", "write", "admin"]
SCOPES: tuple[Scope, ...] = ("read", "write", "admin")


def _every_scope() -> list[str]:
    return [*SCOPES]


class Workspace(BaseModel):
    workspace_id: str
    name: str
    created_at: str
    session_count: int = 0
    memory_count: int = 0


class WorkspaceList(BaseModel):
    """The workspaces the caller's credentials reach: a key belongs to exactly one."""

    data: list[Workspace]
    next_cursor: str | None = None
    has_more: bool = False
    count: int


class ApiKey(BaseModel):
    """A stored key: never the key itself, only its hash (the item key) and a prefix."""

    key_id: str
    workspace_id: str
    name: str
    prefix: str
    scopes: list[str] = Field(default_factory=_every_scope)
    user_id: str | None = None
    agent_id: str | None = None
    expires_at: str | None = None
    revoked_at: str | None = None
    created_at: str


class NewApiKey(BaseModel):
    """What key creation returns: the only time the secret key is seen."""

    api_key: str
    key: ApiKey


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=255)
    agent_id: EngramId | None = None
    scopes: list[Scope] = Field(default_factory=lambda: list(SCOPES), min_length=1, max_length=3)
    expires_at: datetime | None = None


class ApiKeyInfo(BaseModel):
    """A key as listed: never the key, only its prefix."""

    id: str
    name: str
    prefix: str
    workspace_id: str
    user_id: str | None
    agent_id: str | None
    scopes: list[str]
    expires_at: str | None
    created_at: str
    revoked_at: str | None = None

    @classmethod
    def of(cls, key: ApiKey) -> ApiKeyInfo:
        return cls(id=key.key_id, **key.model_dump(exclude={"key_id"}))


class ApiKeyCreated(ApiKeyInfo):
    api_key: str


class ApiKeyList(BaseModel):
    data: list[ApiKeyInfo]
    next_cursor: str | None
    has_more: bool
    count: int | None = None
