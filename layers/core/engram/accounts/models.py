from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from engram.workspaces.models import Workspace

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+$")


def _email(value: str) -> str:
    value = value.strip().lower()
    if len(value) > 254 or not _EMAIL.match(value):
        raise ValueError("not an email address")
    return value


Email = Annotated[str, AfterValidator(_email)]
# Length and strength are checked by the service, so the error states the whole rule.
Password = Annotated[str, Field(max_length=1024)]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RegisterRequest(_Request):
    email: Email
    password: Password
    workspace_name: str = Field(min_length=1, max_length=255)


class LoginRequest(_Request):
    email: Annotated[str, Field(max_length=320)]
    password: Password


class RefreshRequest(_Request):
    refresh_token: Annotated[str, Field(min_length=1, max_length=256)]


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int


class User(BaseModel):
    user_id: str
    email: str
    workspace_id: str
    created_at: str


class StoredUser(User):
    password_hash: str


class Me(BaseModel):
    user: User | None
    workspace: Workspace
    key_id: str | None = None
    agent_id: str | None = None
    scopes: list[str]
