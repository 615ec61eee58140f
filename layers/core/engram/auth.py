"""Who is calling: credentials from the headers API.md allows, resolved to a principal.

The same `authenticate` runs as a FastAPI dependency here and (later) in the Lambda
authorizer, so both paths accept and refuse exactly the same requests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request

from engram.clock import Clock, get_clock, parse_iso
from engram.errors import Forbidden, Unauthorized
from engram.workspaces.repository import WorkspaceRepository
from engram.workspaces.service import KEY_PREFIX, hash_key

_SCHEMES = ("bearer", "token")
_MAX_CREDENTIAL = 512


@dataclass(frozen=True)
class Principal:
    workspace_id: str
    key_id: str
    scopes: frozenset[str]
    agent_id: str | None = None
    user_id: str | None = None

    def require(self, scope: str) -> None:
        # admin implies write implies read.
        implied = {"read": {"read", "write", "admin"}, "write": {"write", "admin"}, "admin": {"admin"}}
        if not self.scopes & implied[scope]:
            raise Forbidden(f"This key lacks the '{scope}' scope needed for this request.")


def credential_from_headers(headers: Any) -> str:
    """The presented key or token, or 401 saying what is wrong with the headers."""
    authorization = (headers.get("authorization") or "").strip()
    api_key = (headers.get("x-api-key") or "").strip()
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() not in _SCHEMES or not value.strip():
            raise Unauthorized("The Authorization header must be 'Bearer <key>' or 'Token <key>'.")
        return value.strip()
    if api_key:
        return api_key
    raise Unauthorized("No credentials: send 'Authorization: Bearer <api_key>' or an x-api-key header.")


def authenticate(credential: str, repo: WorkspaceRepository, clock: Clock) -> Principal:
    if not credential.startswith(KEY_PREFIX) or len(credential) > _MAX_CREDENTIAL:
        raise Unauthorized("The API key is not valid.")
    key = repo.find_key(hash_key(credential))
    if key is None or key.revoked_at:
        raise Unauthorized("The API key is not valid.")
    if key.expires_at and parse_iso(key.expires_at) <= clock.now():
        raise Unauthorized("The API key has expired.")
    return Principal(workspace_id=key.workspace_id, key_id=key.key_id, scopes=frozenset(key.scopes),
                     agent_id=key.agent_id, user_id=key.user_id)


def _workspace_repo() -> WorkspaceRepository:
    from engram import aws

    return WorkspaceRepository(aws.table())


def get_principal(request: Request, repo: Annotated[WorkspaceRepository, Depends(_workspace_repo)],
                  clock: Annotated[Clock, Depends(get_clock)]) -> Principal:
    principal = authenticate(credential_from_headers(request.headers), repo, clock)
    principal.require("read" if request.method in ("GET", "HEAD") else "write")
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]
