"""The one FastAPI app factory (every function and the local server use it), error
handlers that speak API.md's error body, request ids, and the Lambda entry wrapper."""

from __future__ import annotations

import contextvars
import json
import re
import secrets
from collections.abc import Callable, Iterable
from functools import cache
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from engram import __version__
from engram.config import get_settings
from engram.errors import DomainError, PayloadTooLarge, ValidationFailed
from engram.observability import logger

REQUEST_ID_HEADER = "X-Request-Id"
_CLIENT_REQUEST_ID = re.compile(r"^[A-Za-z0-9_.:\-]{8,128}$")
_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")

_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "throttled",
    501: "not_implemented",
}
# A dialect router (engram.dialects) speaks another product's error body under its mount:
# (status, Engram's error body) -> that product's body.
ErrorShape = Callable[[int, dict[str, Any]], dict[str, Any]]


def current_request_id() -> str:
    return _request_id.get()


def error_body(detail: str, code: str, **extra: Any) -> dict[str, Any]:
    return {"detail": detail, "code": code, "request_id": current_request_id(), **extra}


def _error(status: int, detail: str, code: str, scope: Scope, **extra: Any) -> JSONResponse:
    body = error_body(detail, code, **extra)
    shape = _error_shape(scope)
    return JSONResponse(shape(status, body) if shape else body, status_code=status)


def _error_shape(scope: Scope) -> ErrorShape | None:
    """The error body of the dialect whose mount the path is under, if any (for unknown
    routes and middleware refusals too, so a client sees one shape under its mount)."""
    state = getattr(scope.get("app"), "state", None)
    path = scope.get("path", "")
    for mount, shape in getattr(state, "error_shapes", ()):
        if path == mount or path.startswith(mount + "/"):
            return shape
    return None


class RequestContextMiddleware:
    """Gives every request an id (a well-formed client `X-Request-Id` is kept) that is
    echoed on the response and in error bodies, and refuses bodies over the limit
    before any handler reads them."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        given = headers.get("x-request-id", "")
        request_id = given if _CLIENT_REQUEST_ID.match(given) else "req_" + secrets.token_hex(12)
        token = _request_id.set(request_id)
        try:
            limit = get_settings().max_body_bytes
            length = headers.get("content-length", "")
            if length.isdigit() and int(length) > limit:
                response = _too_large(limit, scope)
                await _with_request_id(response, request_id)(scope, receive, send)
                return
            await self._call_guarded(
                scope, _limited(receive, limit), _tag_request_id(send, request_id)
            )
        finally:
            _request_id.reset(token)

    async def _call_guarded(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Any unexpected exception becomes the generic 500 body, logged with its id;
        handled here so Lambda (Mangum) and uvicorn answer alike."""
        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except Exception:  # noqa: BLE001
            logger.exception("unhandled error", extra={"request_id": current_request_id()})
            if not started:
                detail = "Something went wrong on our side; the request id helps us find it."
                await _error(500, detail, "internal", scope)(scope, receive, send)


def _too_large(limit: int, scope: Scope) -> JSONResponse:
    detail = f"The request body is larger than the limit of {limit} bytes."
    return _error(413, detail, "payload_too_large", scope)


def _with_request_id(response: JSONResponse, request_id: str) -> JSONResponse:
    response.headers[REQUEST_ID_HEADER] = request_id
    return response


def _tag_request_id(send: Send, request_id: str) -> Send:
    async def tagged(message: Message) -> None:
        if message["type"] == "http.response.start":
            message.setdefault("headers", [])
            message["headers"] = [
                *[(k, v) for k, v in message["headers"] if k.lower() != b"x-request-id"],
                (b"x-request-id", request_id.encode()),
            ]
        await send(message)

    return tagged


def _limited(receive: Receive, limit: int) -> Receive:
    """Counts body bytes as they arrive (chunked bodies carry no Content-Length)."""
    seen = 0

    async def counted() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise PayloadTooLarge(
                    f"The request body is larger than the limit of {limit} bytes."
                )
        return message

    return counted


def _validation_sentence(errors: list[dict[str, Any]]) -> tuple[int, str]:
    first = errors[0] if errors else {}
    if first.get("type") == "json_invalid":
        return 400, "The request body is not valid JSON."
    loc = [str(part) for part in first.get("loc", ()) if part != "body"]
    where = ".".join(loc) or "the request body"
    kind = first.get("type", "")
    if kind == "extra_forbidden":
        return 422, f"Unknown field '{where}'."
    if kind == "missing":
        return 422, f"'{where}' is required."
    message = str(first.get("msg", "is not valid")).rstrip(".")
    message = message.removeprefix("Value error, ")
    return 422, f"'{where}': {message}."


def _clean_errors(errors: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    cleaned = []
    for err in errors:
        item = {
            "loc": list(err.get("loc", ())),
            "msg": err.get("msg", ""),
            "type": err.get("type", ""),
        }
        cleaned.append(json.loads(json.dumps(item, default=str)))
    return cleaned


def _unreadable_body(exc: BaseException) -> tuple[int, str]:
    """FastAPI turns any failure while reading or parsing the body into one 400; the cause
    says what really went wrong."""
    cause = exc.__cause__
    if isinstance(cause, PayloadTooLarge):  # a chunked body that went over the limit
        return 413, cause.detail
    if isinstance(cause, RecursionError):
        return 400, "The request body could not be read as JSON: it nests too deeply."
    if isinstance(cause, UnicodeDecodeError):
        return 400, "The request body could not be read as JSON: it is not UTF-8 text."
    if isinstance(cause, ValueError) and "digits" in str(cause):
        return 400, "The request body has a number with too many digits (at most 4,300)."
    return 400, "The request body could not be read as JSON."


def _allowed_methods(app: FastAPI, path: str) -> str:
    """The methods served at this path. One route is one method here, so the route that
    raised the 405 knows only its own; of the templates that match, the most specific wins
    (`/v1/memories/search` is that route, though `/v1/memories/{memory_id}` matches too)."""
    by_template: dict[str, set[str]] = {}
    for route in iter_route_contexts(app.router.routes):
        if route.path and _path_regex(route.path).match(path):
            by_template.setdefault(route.path, set()).update(route.methods or ())
    fewest = min((t.count("{") for t in by_template), default=0)
    methods = set().union(*(m for t, m in by_template.items() if t.count("{") == fewest))
    if "GET" in methods:
        methods.add("HEAD")
    return ", ".join(sorted(methods))


@cache
def _path_regex(template: str) -> re.Pattern[str]:
    return compile_path(template)[0]


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def domain_error(request: Request, exc: DomainError) -> JSONResponse:
        extra = {"errors": exc.errors} if hasattr(exc, "errors") else {}
        response = _error(exc.status, exc.detail, exc.code, request.scope, **extra)
        if exc.retry_after is not None:
            response.headers["Retry-After"] = str(exc.retry_after)
        return response

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        status, detail = _validation_sentence(errors)
        code = "bad_request" if status == 400 else "validation_error"
        return _error(status, detail, code, request.scope, errors=_clean_errors(errors))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        status = exc.status_code
        detail = exc.detail if isinstance(exc.detail, str) else "The request was refused."
        if status == 400 and detail == "There was an error parsing the body":
            status, detail = _unreadable_body(exc)
        if status == 404 and detail == "Not Found":
            detail = "No such route."
        if status == 405:
            detail = f"{request.method} is not allowed on this route."
        response = _error(status, detail, _STATUS_CODES.get(status, "error"), request.scope)
        if status == 405:
            response.headers["Allow"] = _allowed_methods(app, request.url.path)
        return response


def reject_unknown_query(request: Request) -> None:
    """A query parameter the route does not take is a 422, not silently ignored: a client
    that sends `offset` or `tag` to a route without them would otherwise get a wrong page."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or not request.query_params:
        return
    unknown = sorted(set(request.query_params) - _query_names(route))
    if unknown:
        takes = ", ".join(sorted(_query_names(route))) or "no query parameters"
        raise ValidationFailed(
            f"Unknown query parameter '{unknown[0]}'; this route takes {takes}.",
            [
                {
                    "loc": ["query", name],
                    "msg": "unknown query parameter",
                    "type": "extra_forbidden",
                }
                for name in unknown
            ],
        )


def _query_names(route: APIRoute) -> frozenset[str]:
    """Kept on the route (routes are not hashable, and an app lives as long as its routes)."""
    names = route.__dict__.get("_query_names")
    if names is None:
        names = route.__dict__["_query_names"] = frozenset(_dependant_query_names(route.dependant))
    return names


def _dependant_query_names(dependant: Any) -> set[str]:
    names: set[str] = set()
    for param in dependant.query_params:
        model = param.field_info.annotation
        if isinstance(model, type) and issubclass(model, BaseModel):  # a query-parameter model
            names |= {f.alias or n for n, f in model.model_fields.items()}
        else:
            names.add(param.alias)
    for sub in dependant.dependencies:
        names |= _dependant_query_names(sub)
    return names


def create_app(*routers: APIRouter, docs: bool = False, title: str = "Engram") -> FastAPI:
    """Every function serves its own routers; the local server passes them all, with docs.
    A dialect router brings its mount's error body (`mount_prefix`, `error_shape`)."""
    app = FastAPI(
        dependencies=[Depends(reject_unknown_query)],
        title=title,
        version=__version__,
        docs_url="/docs" if docs else None,
        redoc_url=None,
        openapi_url="/openapi.json" if docs else None,
    )
    _install_error_handlers(app)
    mounts = [(getattr(r, "mount_prefix", ""), r) for r in routers]
    app.state.error_shapes = tuple(
        (mount, shape)
        for mount, r in mounts
        if mount and (shape := getattr(r, "error_shape", None))
    )
    app.state.error_schemas = tuple(
        (mount, *schema)
        for mount, r in mounts
        if mount and (schema := getattr(r, "error_schema", None))
    )
    for router in routers:
        app.include_router(router)
    app.add_middleware(RequestContextMiddleware)
    from engram.openapi import complete_openapi

    app.openapi = complete_openapi(app)  # type: ignore[method-assign]
    return app


def lambda_api_handler(app: FastAPI) -> Callable[[dict, Any], dict]:
    """Wraps an app for API Gateway HTTP API (payload v2) with Mangum and Powertools; Mangum
    and the tracer load on the first invocation, not at import (cold start)."""
    from engram.observability import lambda_entry

    @cache
    def asgi() -> Any:
        from mangum import Mangum

        return Mangum(app, lifespan="off", api_gateway_base_path="/")

    def handle(event: dict, context: Any) -> dict:
        return asgi()(without_stage(event), context)

    return lambda_entry(handle, correlation_id_path="requestContext.requestId")


def without_stage(event: dict) -> dict:
    """On a named stage API Gateway puts `/<stage>` in front of the path; the routes do not
    know the stage, so it is taken off (only when the path really starts with it)."""
    context = event.get("requestContext") or {}
    stage = context.get("stage")
    if not stage or stage == "$default":
        return event
    prefix = f"/{stage}"
    event = {**event, "requestContext": {**context, "http": dict(context.get("http") or {})}}
    for holder, key in ((event, "rawPath"), (event["requestContext"]["http"], "path")):
        path = holder.get(key) or ""
        if path == prefix or path.startswith(prefix + "/"):
            holder[key] = path[len(prefix) :] or "/"
    return event
