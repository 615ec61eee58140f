from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from engram.accounts import passwords, tokens
from engram.accounts.models import (
    LoginRequest,
    Me,
    RefreshRequest,
    RegisterRequest,
    StoredUser,
    TokenPair,
)
from engram.accounts.repository import AccountRepository, StaleRefreshToken
from engram.clock import Clock, iso, parse_iso
from engram.config import get_settings
from engram.credentials import Principal
from engram.errors import NotFound, Unauthorized, ValidationFailed
from engram.ids import new_id
from engram.observability import logger
from engram.workspaces.models import SCOPES, Workspace
from engram.workspaces.repository import WorkspaceRepository

_BAD_LOGIN = "The email or password is wrong."
_BAD_REFRESH = "The refresh token is not valid; log in again."


class AccountService:
    def __init__(
        self,
        accounts: AccountRepository,
        workspaces: WorkspaceRepository,
        clock: Clock,
        secret: Callable[[], str] = tokens.jwt_secret,
    ) -> None:
        self._accounts = accounts
        self._workspaces = workspaces
        self._clock = clock
        self._secret = secret

    def register(self, body: RegisterRequest) -> TokenPair:
        passwords.check_rule(body.password)
        now = iso(self._clock.now())
        name = body.workspace_name.strip()
        if not name:
            raise ValidationFailed("'workspace_name' must not be blank.")
        workspace = Workspace(workspace_id=new_id("ws"), name=name, created_at=now)
        user = StoredUser(
            user_id=new_id("usr"),
            email=body.email,
            workspace_id=workspace.workspace_id,
            created_at=now,
            password_hash=passwords.hash_password(body.password),
        )
        self._accounts.create(self._workspaces.workspace_put(workspace), user)
        return self._start_family(user)

    def login(self, body: LoginRequest) -> TokenPair:
        user = self._accounts.user_by_email(body.email.strip().lower())
        # checked even without a user (it refuses a missing hash), so both answers take as long
        password_hash = user.password_hash if user else None
        if not passwords.verify_password(password_hash, body.password) or user is None:
            raise Unauthorized(_BAD_LOGIN)
        return self._start_family(user)

    def refresh(self, body: RefreshRequest) -> TokenPair:
        old_hash = tokens.hash_token(body.refresh_token)
        token = self._accounts.refresh_token(old_hash)
        now = self._clock.now()
        if token is None or parse_iso(token["expires_at"]) <= now:
            raise Unauthorized(_BAD_REFRESH)
        family = self._accounts.family(token["family_id"])
        if token.get("rotated_at") or family is None or family.get("revoked_at"):
            self._reuse_detected(token["family_id"])
        new_token, new_item = self._refresh_item(
            token["user_id"], token["workspace_id"], token["family_id"]
        )
        try:
            self._accounts.rotate(old_hash, tokens.hash_token(new_token), new_item, iso(now))
        except StaleRefreshToken:
            self._reuse_detected(token["family_id"])
        return self._pair(token["user_id"], token["workspace_id"], token["family_id"], new_token)

    def logout(self, workspace_id: str, body: RefreshRequest) -> None:
        """Revokes the token's whole family; unknown tokens and other workspaces' are a no-op."""
        token = self._accounts.refresh_token(tokens.hash_token(body.refresh_token))
        if token and token["workspace_id"] == workspace_id:
            self._accounts.revoke_family(token["family_id"], iso(self._clock.now()))

    def me(self, who: Principal) -> Me:
        workspace = self._workspaces.get(who.workspace_id)
        if workspace is None:
            raise NotFound("The workspace of these credentials no longer exists.")
        user = self._accounts.public_user(who.user_id) if who.user_id else None
        return Me(
            user=user,
            workspace=workspace,
            key_id=who.key_id,
            agent_id=who.agent_id,
            scopes=[s for s in SCOPES if s in who.scopes],
        )

    def _reuse_detected(self, family_id: str) -> None:
        # A rotated token presented again means it leaked: end every session of its family.
        logger.warning("refresh token reuse", extra={"family_id": family_id})
        self._accounts.revoke_family(family_id, iso(self._clock.now()))
        raise Unauthorized(_BAD_REFRESH)

    def _start_family(self, user: StoredUser) -> TokenPair:
        family_id = new_id("tfam")
        token, item = self._refresh_item(user.user_id, user.workspace_id, family_id)
        family = {
            "family_id": family_id,
            "user_id": user.user_id,
            "workspace_id": user.workspace_id,
            "ttl": item["ttl"],
        }
        self._accounts.start_family(family, tokens.hash_token(token), item)
        return self._pair(user.user_id, user.workspace_id, family_id, token)

    def _refresh_item(self, user_id: str, workspace_id: str, family_id: str) -> tuple[str, dict]:
        expires = self._clock.now() + timedelta(days=get_settings().refresh_token_ttl_days)
        item = {
            "family_id": family_id,
            "user_id": user_id,
            "workspace_id": workspace_id,
            "expires_at": iso(expires),
            "ttl": int(expires.timestamp()),
        }
        return tokens.new_refresh_token(), item

    def _pair(self, user_id: str, workspace_id: str, family_id: str, refresh: str) -> TokenPair:
        access = tokens.issue_access_token(
            user_id, workspace_id, family_id, self._clock, self._secret()
        )
        return TokenPair(
            access_token=access,
            refresh_token=refresh,
            expires_in=get_settings().access_token_ttl_seconds,
        )
