"""Domain errors. Each carries the HTTP status and the `code` of API.md's error body;
`engram.http` turns them into responses. Never branch on message text."""

from __future__ import annotations


class DomainError(Exception):
    status = 500
    code = "internal"

    def __init__(self, detail: str, *, retry_after: int | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        # seconds after which the same request may succeed (a `Retry-After` header)
        self.retry_after = retry_after


class BadRequest(DomainError):
    status, code = 400, "bad_request"


class Unauthorized(DomainError):
    status, code = 401, "unauthorized"


class Forbidden(DomainError):
    status, code = 403, "forbidden"


class NotFound(DomainError):
    status, code = 404, "not_found"


class Conflict(DomainError):
    status, code = 409, "conflict"


class PayloadTooLarge(DomainError):
    status, code = 413, "payload_too_large"


class ValidationFailed(DomainError):
    status, code = 422, "validation_error"

    def __init__(self, detail: str, errors: list[dict] | None = None) -> None:
        super().__init__(detail)
        self.errors = errors or [{"msg": detail}]


class NotOffered(DomainError):
    """A route of another product's API (engram.dialects) that Engram has no counterpart for."""

    status, code = 501, "not_implemented"


class ServiceUnavailable(DomainError):
    status, code = 503, "service_unavailable"
