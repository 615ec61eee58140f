"""`Idempotency-Key` for POST routes: a router built with `route_class=IdempotentRoute`
gets it on every POST. Same key and same body within `idempotency_ttl_seconds` replays
the first (successful) response; same key, other body or other route is a 409 (a key names
one request, as Stripe's do). Records live in the idempotency table through Powertools
idempotency's DynamoDB persistence layer, scoped to the caller's workspace so two tenants'
keys never meet."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Coroutine
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any, cast

from fastapi import Depends, Header, Request, Response
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from engram.auth import get_authenticator, resolve_principal
from engram.errors import Conflict, ValidationFailed

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

HEADER = "Idempotency-Key"
MAX_KEY_CHARS = 255
REPLAYED_HEADER = "Idempotent-Replayed"
# A first request still running is short (an API call); its twin is told to retry after this.
IN_PROGRESS_RETRY_SECONDS = 1


def _documented_header(
    idempotency_key: Annotated[
        str | None,
        Header(
            alias=HEADER,
            min_length=1,
            max_length=MAX_KEY_CHARS,
            description="Retry-safe creation: the same key and body within 24 h return the first "
            "response; the same key with another body or on another route is a "
            "409.",
        ),
    ] = None,
) -> None:
    """Puts the header in the OpenAPI document; `IdempotentRoute` does the work."""


class _LocalContext:
    """Outside Lambda: a request still in progress after this long may be retried. The one
    method of LambdaContext that Powertools' idempotency calls."""

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 30_000


class _NotStored(Exception):
    """A response that must not be replayed (not 2xx): Powertools deletes the record."""

    def __init__(self, response: Response) -> None:
        self.response = response


@cache
def _persistence() -> Any:
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    from engram import aws
    from engram.config import get_settings

    return DynamoDBPersistenceLayer(
        table_name=get_settings().idempotency_table_name, boto3_client=aws.client("dynamodb")
    )


def clear_cache() -> None:
    _persistence.cache_clear()


class IdempotentRoute(APIRoute):
    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        if "POST" in (kwargs.get("methods") or ()):
            kwargs["dependencies"] = [
                *(kwargs.get("dependencies") or ()),
                Depends(_documented_header),
            ]
        super().__init__(path, endpoint, **kwargs)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            key = request.headers.get(HEADER)
            if request.method != "POST" or key is None:
                return await handler(request)
            if not 0 < len(key) <= MAX_KEY_CHARS:
                raise ValidationFailed(
                    f"The {HEADER} header must be 1 to {MAX_KEY_CHARS} characters."
                )
            body = await request.body()
            principal = await run_in_threadpool(resolve_principal, request, get_authenticator())
            request_hash = hashlib.sha256(f"{request.method} {request.url.path}\n".encode() + body)
            payload = {
                "scope": principal.workspace_id,
                "key": key,
                "request": request_hash.hexdigest(),
            }
            return await run_in_threadpool(_once, handler, request, payload)

        return route


def _once(handler: Callable, request: Request, payload: dict[str, str]) -> Response:
    """Runs in a worker thread: Powertools' idempotency is synchronous; the route itself is
    awaited back on the event loop."""
    import anyio.from_thread
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyValidationError,
    )

    from engram.config import get_settings

    config = IdempotencyConfig(
        event_key_jmespath="[scope, key]",
        payload_validation_jmespath="request",
        expires_after_seconds=get_settings().idempotency_ttl_seconds,
        lambda_context=request.scope.get("aws.context") or cast("LambdaContext", _LocalContext()),
    )

    ran = False

    @idempotent_function(
        data_keyword_argument="payload",
        persistence_store=_persistence(),
        config=config,
        key_prefix="engram-http",
    )
    def run(payload: dict[str, str]) -> dict[str, Any]:
        nonlocal ran
        ran = True
        response = anyio.from_thread.run(handler, request)
        if not 200 <= response.status_code < 300 or getattr(response, "body", None) is None:
            raise _NotStored(response)
        return {
            "status": response.status_code,
            "body": response.body.decode(),
            "media_type": response.media_type,
        }

    try:
        stored = run(payload=payload)
    except _NotStored as exc:
        return exc.response
    except IdempotencyValidationError as exc:
        raise Conflict(
            f"This {HEADER} was used with a different request (another body "
            "or another route); use a new key for a new request."
        ) from exc
    except IdempotencyAlreadyInProgressError as exc:
        raise Conflict(
            f"A request with this {HEADER} is still in progress; retry shortly.",
            retry_after=IN_PROGRESS_RETRY_SECONDS,
        ) from exc
    response = Response(
        content=stored["body"],
        status_code=stored["status"],
        media_type=stored.get("media_type") or "application/json",
    )
    if not ran:
        response.headers[REPLAYED_HEADER] = "true"
    return response
