"""What the Bedrock adapters share: how a refused call reads, and whether a retry can help."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from botocore.exceptions import ClientError

# Bedrock runtime errors that say "not now" rather than "never" (throttling, capacity, timeouts).
RETRYABLE_CODES = frozenset(
    {
        "ThrottlingException",
        "ServiceUnavailableException",
        "ModelNotReadyException",
        "ModelTimeoutException",
        "InternalServerException",
        "ModelStreamErrorException",
    }
)


def refusal(exc: ClientError) -> tuple[str, bool]:
    """A botocore ClientError as "Code (message)" and whether retrying can help."""
    error = exc.response.get("Error", {})
    code, message = error.get("Code", "Unknown"), error.get("Message", "")
    return f"{code} ({message})", code in RETRYABLE_CODES
