"""Password rule and argon2id hashing."""

from __future__ import annotations

import re
from functools import cache

from engram.errors import ValidationFailed

MIN_LENGTH, MAX_LENGTH = 12, 256
LETTER, NOT_LETTER = r"[^\W\d_]", r"[\W\d_]"
# The rule as a JSON Schema pattern (in the OpenAPI document): a letter and a non-letter.
PATTERN = f"{LETTER}[\\s\\S]*{NOT_LETTER}|{NOT_LETTER}[\\s\\S]*{LETTER}"
RULE = (
    f"A password must be {MIN_LENGTH} to {MAX_LENGTH} characters long and contain at least "
    "one letter and one character that is not a letter."
)


@cache
def _hasher():
    from argon2 import PasswordHasher  # argon2id with RFC 9106 low-memory parameters

    return PasswordHasher()


@cache
def _dummy_hash() -> str:
    return _hasher().hash("engram-timing-equaliser")


def check_rule(password: str) -> None:
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH or not re.search(PATTERN, password):
        raise ValidationFailed(RULE)


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """False on any mismatch; an unknown user costs the same time as a wrong password."""
    from argon2.exceptions import InvalidHashError, VerificationError

    try:
        return _hasher().verify(password_hash or _dummy_hash(), password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False
