"""Who is calling: credentials from the headers API.md allows, resolved to a principal, and
the scope each route needs. No web framework here: the Lambda authorizer imports this module
alone, and it runs in front of every request (its cold start adds to theirs).

`Authenticator.verify` is the one verification: the Lambda authorizer runs it on AWS and
passes the principal on as its context; the FastAPI dependency (`engram.auth`) trusts that
context when API Gateway supplies it and otherwise (the local stack) runs the same `verify`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from engram.accounts import tokens
from engram.accounts.repository import AccountRepository
from engram.clock import Clock, parse_iso
from engram.errors import Forbidden, Unauthorized
from engram.workspaces.models import SCOPES
from engram.workspaces.repository import WorkspaceRepository
from engram.workspaces.service import KEY_PREFIX, hash_key

_SCHEMES = ("bearer", "token")
_MAX_CREDENTIAL = 4096
_IMPLIED = {"read": {"read", "write", "admin"}, "write": {"write", "admin"}, "admin": {"admin"}}
# API.md: admin for keys, webhooks, export, forget-user; read for GETs, search and context.
# The dialects (engram.dialects) name the same operations in their products' words.
_ADMIN_PREFIXES = (
    "/v1/api-keys",
    "/v1/webhooks",
    "/v1/export",
    "/v1/users",
    "/remembr/api/v1/api-keys",
    "/remembr/api/v1/webhooks",
    "/remembr/api/v1/export",
    "/remembr/api/v1/memory/user/",
)
_AUTH_PREFIXES = ("/v1/auth/", "/remembr/api/v1/auth/")
_READ_POSTS = ("/search", "/context")


@dataclass(frozen=True)
class Principal:
    workspace_id: str
    key_id: str | None
    scopes: frozenset[str]
    agent_id: str | None = None
    user_id: str | None = None

    def require(self, scope: str) -> None:
        if not self.scopes & _IMPLIED[scope]:
            raise Forbidden(f"This key lacks the '{scope}' scope needed for this request.")
        if scope == "admin" and self.agent_id:
            raise Forbidden("An agent-bound key cannot use workspace-wide admin routes.")

    def to_context(self) -> dict[str, str]:
        """The authorizer's context: flat strings (API Gateway passes only scalars)."""
        return {
            "workspace_id": self.workspace_id,
            "key_id": self.key_id or "",
            "user_id": self.user_id or "",
            "agent_id": self.agent_id or "",
            "scopes": " ".join(s for s in SCOPES if s in self.scopes),
        }

    @classmethod
    def from_context(cls, context: dict[str, Any]) -> Principal:
        return cls(
            workspace_id=str(context["workspace_id"]),
            key_id=context.get("key_id") or None,
            scopes=frozenset(str(context.get("scopes", "")).split()),
            agent_id=context.get("agent_id") or None,
            user_id=context.get("user_id") or None,
        )


def required_scope(method: str, route_path: str) -> str:
    if route_path.startswith(_ADMIN_PREFIXES):
        return "admin"
    if method in ("GET", "HEAD") or route_path.startswith(_AUTH_PREFIXES):
        return "read"
    return "read" if route_path.endswith(_READ_POSTS) else "write"


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
    raise Unauthorized(
        "No credentials: send 'Authorization: Bearer <api_key>' or an x-api-key header."
    )


class Authenticator:
    def __init__(
        self,
        workspaces: WorkspaceRepository,
        accounts: AccountRepository,
        clock: Clock,
        secret: Callable[[], str] = tokens.jwt_secret,
    ) -> None:
        self._workspaces = workspaces
        self._accounts = accounts
        self._clock = clock
        self._secret = secret

    def verify(self, credential: str) -> Principal:
        if len(credential) > _MAX_CREDENTIAL:
            raise Unauthorized("The credential is not valid.")
        if credential.startswith(KEY_PREFIX):
            return self._api_key(credential)
        if tokens.looks_like_jwt(credential):
            return self._access_token(credential)
        raise Unauthorized("The credential is neither an API key (ek_...) nor an access token.")

    def _api_key(self, credential: str) -> Principal:
        key = self._workspaces.find_key(hash_key(credential))
        if key is None or key.revoked_at:
            raise Unauthorized("The API key is not valid.")
        if key.expires_at and parse_iso(key.expires_at) <= self._clock.now():
            raise Unauthorized("The API key has expired.")
        return Principal(
            workspace_id=key.workspace_id,
            key_id=key.key_id,
            scopes=frozenset(key.scopes),
            agent_id=key.agent_id,
            user_id=key.user_id,
        )

    def _access_token(self, credential: str) -> Principal:
        claims = tokens.verify_access_token(credential, self._clock, self._secret())
        family = self._accounts.family(claims["sid"])  # logout and reuse revoke at once
        if family is None or family.get("revoked_at") or family["workspace_id"] != claims["ws"]:
            raise Unauthorized("The access token has been revoked; log in again.")
        return Principal(
            workspace_id=claims["ws"], key_id=None, scopes=frozenset(SCOPES), user_id=claims["sub"]
        )
