"""Delivery signatures, Stripe style: `Engram-Signature: t=<unix>,v1=<hex>[,v1=<hex>]` where
each v1 is HMAC-SHA256(secret, "<t>.<body>"). Stdlib only: receivers import this."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterable, Mapping
from typing import Any

SIGNATURE_HEADER = "Engram-Signature"
SCHEME = "v1"


class SignatureError(ValueError):
    """The delivery's signature is missing, malformed, stale or does not match."""


def sign(secret: str, timestamp: int, body: bytes) -> str:
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(secrets: Iterable[str], timestamp: int, body: bytes) -> str:
    """One v1 per secret: during a rotation's grace period the new and the old one."""
    parts = [f"t={timestamp}"] + [f"{SCHEME}={sign(s, timestamp, body)}" for s in secrets]
    return ",".join(parts)


def _header(headers: Any, name: str) -> str | None:
    if isinstance(headers, Mapping):
        wanted = name.lower()
        return next((str(v) for k, v in headers.items() if str(k).lower() == wanted), None)
    value = headers.get(name)  # email.message.Message and friends are case-insensitive
    return None if value is None else str(value)


def _parse(header: str) -> tuple[int, list[str]]:
    timestamp, signatures = None, []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == SCHEME and value:
            signatures.append(value)
    if timestamp is None or not signatures:
        raise SignatureError(f"The {SIGNATURE_HEADER} header is malformed.")
    return timestamp, signatures


def verify(
    secret: str, headers: Any, body: bytes | str, tolerance: int = 300, *, now: float | None = None
) -> dict[str, Any]:
    """Checks a delivery and returns its decoded JSON payload; raises SignatureError when
    the signature is missing or wrong, or the timestamp is more than `tolerance` seconds
    away from now (replays). Pass the raw body exactly as received."""
    raw = body.encode() if isinstance(body, str) else bytes(body)
    header = _header(headers, SIGNATURE_HEADER)
    if not header:
        raise SignatureError(f"No {SIGNATURE_HEADER} header.")
    timestamp, signatures = _parse(header)
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        raise SignatureError("The signature's timestamp is outside the tolerance.")
    expected = sign(secret, timestamp, raw)
    if not any(hmac.compare_digest(expected, candidate) for candidate in signatures):
        raise SignatureError("No signature matches the secret.")
    return json.loads(raw)
