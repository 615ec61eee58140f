"""Checking a webhook delivery's `Engram-Signature` (standard library only, so a receiver
needs nothing else). The header is `t=<unix>,v1=<hex>[,v1=<hex>...]`, each v1 being
HMAC-SHA256(secret, "<t>.<raw body>"); during a secret rotation it carries one v1 per secret."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterable
from typing import Any

SIGNATURE_HEADER = "Engram-Signature"


class WebhookVerificationError(ValueError):
    """The signature is missing, malformed, stale or matches none of the secrets."""


def _parse(header: str) -> tuple[int, list[str]]:
    timestamp, signatures = None, []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1" and value:
            signatures.append(value)
    if timestamp is None or not signatures:
        raise WebhookVerificationError(f"The {SIGNATURE_HEADER} header is malformed.")
    return timestamp, signatures


def verify_webhook(
    payload: bytes | str,
    header: str | None,
    secrets: str | Iterable[str],
    *,
    tolerance: int = 300,
    now: float | None = None,
) -> dict[str, Any]:
    """Returns the delivery's decoded JSON when `header` (the `Engram-Signature` value) signs
    `payload` (the raw body, exactly as received) with one of `secrets` within `tolerance`
    seconds of now; raises WebhookVerificationError otherwise."""
    raw = payload.encode() if isinstance(payload, str) else bytes(payload)
    if not header:
        raise WebhookVerificationError(f"No {SIGNATURE_HEADER} header.")
    timestamp, signatures = _parse(header)
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        raise WebhookVerificationError("The signature's timestamp is outside the tolerance.")
    keys = [secrets] if isinstance(secrets, str) else list(secrets)
    message = str(timestamp).encode() + b"." + raw
    for secret in keys:
        expected = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
        if any(hmac.compare_digest(expected, candidate) for candidate in signatures):
            return json.loads(raw)
    raise WebhookVerificationError("No signature matches the secrets.")
