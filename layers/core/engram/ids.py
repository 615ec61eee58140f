"""Id generation and validation.

Generated ids are `<prefix>_<26 chars>`: 10 chars of millisecond time then 16 random, in
Crockford base32, so they sort by creation time and never collide in practice.
"""

from __future__ import annotations

import re
import secrets
import threading
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
ID_PATTERN = r"^[A-Za-z0-9_.:\-]{1,255}$"
_ID_RE = re.compile(ID_PATTERN)


def _b32(number: int, length: int) -> str:
    chars = []
    for _ in range(length):
        number, rest = divmod(number, 32)
        chars.append(_ALPHABET[rest])
    return "".join(reversed(chars))


_lock = threading.Lock()
_last = [0, 0]  # (millisecond, random part) of the last id made in this process


def new_id(prefix: str) -> str:
    """Ids made in one process sort in the order they were made, even within a millisecond
    (the random part is incremented, as ULID does), so a batch keeps its order."""
    with _lock:
        now = time.time_ns() // 1_000_000
        if now <= _last[0]:
            now, rand = _last[0], (_last[1] + 1) % (1 << 80)
        else:
            rand = secrets.randbits(79)  # headroom for increments
        _last[0], _last[1] = now, rand
    return f"{prefix}_{_b32(now, 10)}{_b32(rand, 16)}"


def is_valid_id(value: str) -> bool:
    return bool(_ID_RE.match(value))


def id_problem(value: str, what: str = "id") -> str | None:
    """A sentence saying what is wrong with a client-supplied id, or None if it is fine."""
    if not value:
        return f"{what} must not be empty."
    if len(value) > 255:
        return f"{what} is {len(value)} characters long; the limit is 255."
    if not _ID_RE.match(value):
        return f"{what} may contain only letters, digits and the characters _ . : -"
    return None
