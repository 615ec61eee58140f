"""Writes engram_sdk/_sync.py from engram_sdk/_async.py: the synchronous client is the
asynchronous one with `async`/`await` taken out and the async names swapped for their sync
twins. `python scripts/unasync.py --check` fails when _sync.py is stale (a test runs it)."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "engram_sdk"
SOURCE, TARGET = PACKAGE / "_async.py", PACKAGE / "_sync.py"
HEADER = '''"""GENERATED from _async.py by scripts/unasync.py: do not edit; edit _async.py and run
`python clients/python/scripts/unasync.py`. The synchronous client."""
'''
SWAPS = [
    (r"^import asyncio\n", ""),
    (
        r"AsyncIterator, Awaitable, Callable, Iterable, Mapping",
        "Callable, Iterable, Iterator, Mapping",
    ),
    (r"\basync def\b", "def"),
    (r"\basync for\b", "for"),
    (r"\basync with\b", "with"),
    (r"\bawait ", ""),
    (r"\basyncio\.sleep\b", "time.sleep"),
    (r"\b__aiter__\b", "__iter__"),
    (r"\b__aenter__\b", "__enter__"),
    (r"\b__aexit__\b", "__exit__"),
    (r"\baclose\b", "close"),
    (r"\baread\b", "read"),
    (r"\baiter_bytes\b", "iter_bytes"),
    (r"\bAwaitable, ", ""),
    (r"\b(_?)Async(?=[A-Z])", r"\1"),  # AsyncEngram -> Engram, httpx.AsyncClient -> Client
]


def _drop_awaitable(text: str) -> str:
    """`Awaitable[X]` -> `X`, brackets balanced."""
    while (start := text.find("Awaitable[")) != -1:
        depth, end = 0, start
        for end in range(start + len("Awaitable"), len(text)):
            depth += {"[": 1, "]": -1}.get(text[end], 0)
            if depth == 0:
                break
        text = text[:start] + text[start + len("Awaitable[") : end] + text[end + 1 :]
    return text


def render(source: str) -> str:
    body = source.split('"""', 2)[2]  # the module docstring is replaced by HEADER
    body = _drop_awaitable(body)
    for pattern, replacement in SWAPS:
        body = re.sub(pattern, replacement, body, flags=re.MULTILINE)
    return HEADER + body


def is_current() -> bool:
    """_sync.py is the rendering of _async.py, up to formatting (ruff formats it)."""
    wanted = ast.dump(ast.parse(render(SOURCE.read_text())))
    return ast.dump(ast.parse(TARGET.read_text())) == wanted


def main(argv: list[str]) -> int:
    if "--check" in argv:
        if not is_current():
            print(f"{TARGET.name} is stale: run python {Path(__file__).name}", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(render(SOURCE.read_text()))
    # formatted like the rest of the tree when ruff is at hand (the check ignores layout)
    subprocess.run([sys.executable, "-m", "ruff", "format", "-q", str(TARGET)], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
