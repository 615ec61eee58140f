"""Webhooks: signed, retried, SSRF-guarded event deliveries.

Receivers only need `verify` (stdlib only, so importing it pulls in no AWS libraries)."""

from engram.webhooks.signing import SignatureError, sign, signature_header, verify

__all__ = ["SignatureError", "sign", "signature_header", "verify"]
