"""The FastAPI side of authentication: the principal dependency every route uses. The
verification itself lives in `engram.credentials`, shared with the Lambda authorizer."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request

from engram import wiring
from engram.credentials import Authenticator, Principal, credential_from_headers, required_scope

__all__ = [
    "Authenticator",
    "Principal",
    "PrincipalDep",
    "credential_from_headers",
    "get_authenticator",
    "get_principal",
    "required_scope",
    "resolve_principal",
]


def get_authenticator() -> Authenticator:
    return wiring.authenticator()


AuthenticatorDep = Annotated[Authenticator, Depends(get_authenticator)]


def authorizer_context(request: Request) -> dict[str, Any] | None:
    """What the Lambda authorizer decided, when API Gateway (via Mangum) passes it on."""
    event = request.scope.get("aws.event") or {}
    context = ((event.get("requestContext") or {}).get("authorizer") or {}).get("lambda")
    return context if isinstance(context, dict) and context.get("workspace_id") else None


def resolve_principal(request: Request, authenticator: Authenticator) -> Principal:
    """Authenticates once per request (the idempotency layer may ask before the route)."""
    cached = getattr(request.state, "principal", None)
    if cached is None:
        context = authorizer_context(request)
        cached = (
            Principal.from_context(context)
            if context
            else authenticator.verify(credential_from_headers(request.headers))
        )
        request.state.principal = cached
    return cached


def get_principal(request: Request, authenticator: AuthenticatorDep) -> Principal:
    principal = resolve_principal(request, authenticator)
    route = request.scope.get("route")
    principal.require(required_scope(request.method, getattr(route, "path", request.url.path)))
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]
