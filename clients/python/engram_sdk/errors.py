"""Exceptions: one class per status family, each carrying the API's error body
(`detail`, `code`, `request_id`, and `errors` for a 422)."""

from __future__ import annotations

from typing import Any

import httpx


class EngramError(Exception):
    """Anything the client raises."""


class APIConnectionError(EngramError):
    """The server could not be reached, or the connection broke before an answer."""


class APITimeoutError(APIConnectionError):
    """No answer within the client's timeout."""


class APIStatusError(EngramError):
    """The server answered with an error status."""

    def __init__(
        self,
        status: int,
        detail: str,
        code: str,
        request_id: str | None,
        errors: list[dict[str, Any]] | None = None,
        headers: httpx.Headers | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {detail}")
        self.status, self.detail, self.code = status, detail, code
        self.request_id, self.errors = request_id, errors or []
        self.headers = headers or httpx.Headers()


class BadRequestError(APIStatusError):
    """400: the request is malformed."""


class AuthenticationError(APIStatusError):
    """401: no credentials, or they are invalid or expired."""


class PermissionDeniedError(APIStatusError):
    """403: the key lacks the scope."""


class NotFoundError(APIStatusError):
    """404: missing, or another workspace's."""


class ConflictError(APIStatusError):
    """409: a conflict (an existing id, an illegal status move, a reused idempotency key)."""


class PayloadTooLargeError(APIStatusError):
    """413: over a size limit."""


class UnprocessableEntityError(APIStatusError):
    """422: validation failed; `errors` lists each problem."""


class RateLimitError(APIStatusError):
    """429: throttled."""


class InternalServerError(APIStatusError):
    """5xx: the server failed (503: a dependency is unavailable; retry later)."""


_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: PayloadTooLargeError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def error_from_response(response: httpx.Response) -> APIStatusError:
    """The exception for an error answer; a body that is not Engram's still gives a sentence."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        body = {}
    status = response.status_code
    detail = body.get("detail")
    if not isinstance(detail, str):
        detail = response.reason_phrase or f"HTTP {status}"
    cls = _BY_STATUS.get(status) or (InternalServerError if status >= 500 else APIStatusError)
    return cls(
        status,
        detail,
        str(body.get("code") or "http_error"),
        body.get("request_id") or response.headers.get("x-request-id"),
        body.get("errors") if isinstance(body.get("errors"), list) else None,
        response.headers,
    )
