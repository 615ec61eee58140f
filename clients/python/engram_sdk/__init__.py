"""Engram's Python client: `Engram` (sync) and `AsyncEngram` with the same surface.

from engram_sdk import Engram
engram = Engram()  # ENGRAM_URL and ENGRAM_API_KEY from the environment
engram.memories.create("The customer prefers email.", memory_type="preference")
hits = engram.memories.search("how should we contact the customer?").results
"""

from engram_sdk import models
from engram_sdk._async import AsyncEngram, AsyncPaginator
from engram_sdk._sync import Engram, Paginator
from engram_sdk.errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    EngramError,
    InternalServerError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitError,
    UnprocessableEntityError,
)
from engram_sdk.webhooks import WebhookVerificationError, verify_webhook

__version__ = "0.1.0"
__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncEngram",
    "AsyncPaginator",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "Engram",
    "EngramError",
    "InternalServerError",
    "NotFoundError",
    "Paginator",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "RateLimitError",
    "UnprocessableEntityError",
    "WebhookVerificationError",
    "models",
    "verify_webhook",
]
