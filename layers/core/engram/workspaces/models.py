from __future__ import annotations

from pydantic import BaseModel, Field

SCOPES = ("read", "write", "admin")


class Workspace(BaseModel):
    workspace_id: str
    name: str
    created_at: str
    session_count: int = 0


class ApiKey(BaseModel):
    """A stored key: never the key itself, only its hash (the item key) and a prefix."""

    key_id: str
    workspace_id: str
    name: str
    prefix: str
    scopes: list[str] = Field(default_factory=lambda: list(SCOPES))
    user_id: str | None = None
    agent_id: str | None = None
    expires_at: str | None = None
    revoked_at: str | None = None
    created_at: str


class NewApiKey(BaseModel):
    """What key creation returns: the only time the secret key is seen."""

    api_key: str
    key: ApiKey
