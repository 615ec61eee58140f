"""HTTP routes of /v1/auth: wiring only; the service decides."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from engram import wiring
from engram.accounts.models import LoginRequest, Me, RefreshRequest, RegisterRequest, TokenPair
from engram.accounts.service import AccountService
from engram.auth import PrincipalDep

router = APIRouter(prefix="/v1/auth", tags=["auth"])
PUBLIC_PATHS = ("/v1/auth/register", "/v1/auth/login", "/v1/auth/refresh")


def get_account_service() -> AccountService:
    return wiring.account_service()


AccountServiceDep = Annotated[AccountService, Depends(get_account_service)]


# Not idempotency-keyed: a duplicate email is already a 409, and replaying a stored
# token response to whoever repeats a key would hand out credentials.
@router.post("/register", status_code=201)
def register(body: RegisterRequest, svc: AccountServiceDep) -> TokenPair:
    return svc.register(body)


@router.post("/login")
def login(body: LoginRequest, svc: AccountServiceDep) -> TokenPair:
    return svc.login(body)


@router.post("/refresh")
def refresh(body: RefreshRequest, svc: AccountServiceDep) -> TokenPair:
    return svc.refresh(body)


@router.post("/logout", status_code=204)
def logout(body: RefreshRequest, who: PrincipalDep, svc: AccountServiceDep) -> Response:
    svc.logout(who.workspace_id, body)
    return Response(status_code=204)


@router.get("/me")
def me(who: PrincipalDep, svc: AccountServiceDep) -> Me:
    return svc.me(who)
