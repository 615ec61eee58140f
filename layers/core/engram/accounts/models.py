from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from engram.accounts import passwords
from engram.workspaces.models import Workspace

# No white space or control character anywhere (the same in JSON Schema and in Python).
EMAIL_PATTERN = r"^[^@\x00-\x20\x7f]{1,64}@[^@\x00-\x20\x7f.]+(\.[^@\x00-\x20\x7f.]+)+$"
_EMAIL = re.compile(EMAIL_PATTERN)


def _email(value: str) -> str:
    if len(value) > 254 or not _EMAIL.match(value):
        raise ValueError("not an email address")
    return value.lower()


Email = Annotated[
    str,
    AfterValidator(_email),
    Field(json_schema_extra={"pattern": EMAIL_PATTERN, "maxLength": 254}),
]
Password = Annotated[str, Field(max_length=1024)]
# Length and strength are checked by the service, so the error states the whole rule; the
# schema states it too, so that a client (or a fuzzer) knows what is accepted.
NewPassword = Annotated[
    str,
    Field(
        max_length=1024,
        json_schema_extra={
            "minLength": passwords.MIN_LENGTH,
            "maxLength": passwords.MAX_LENGTH,
            "pattern": passwords.PATTERN,
        },
    ),
]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RegisterRequest(_Request):
    email: Email
    password: NewPassword
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
