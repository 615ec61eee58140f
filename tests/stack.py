"""The local stack in a subprocess, as `make dev` starts it (`python -m engram_local`)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

READY = "Engram is ready"
READY_TIMEOUT = 60
STOP_TIMEOUT = 15
WAIT = 60  # seconds a background job (embedding, extraction, delivery) may take on a loaded host
T = TypeVar("T")


def eventually(check: Callable[[], T], what: str, timeout: float = WAIT) -> T:
    """Polls `check` until it is truthy and answers its value; bounded in time."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout:g} s"
        time.sleep(0.25)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


# The shell's data settings never reach a test's stack: its data stays in its own directory.
_DATA_SETTINGS = ("ENGRAM_DATA_DIR", "ENGRAM_FRESH", "ENGRAM_IN_MEMORY", "ENGRAM_COMPACT_BYTES")


class Stack:
    """`python -m engram_local ARGS` started in `tmp_path`, its data in `tmp_path/.engram`
    (started again in the same directory, it finds that data)."""

    def __init__(
        self, tmp_path: Path, env: dict[str, str] | None = None, args: tuple[str, ...] = ()
    ) -> None:
        self.cwd = tmp_path
        self.ports = (free_port(), free_port())
        self.log = tmp_path / "stack.log"
        self.env: dict[str, str] = {}  # .engram/dev.env once ready
        env = {
            **{k: v for k, v in os.environ.items() if k not in _DATA_SETTINGS},
            "ENGRAM_DATA_DIR": str(tmp_path / ".engram"),
            "PORT": str(self.ports[0]),
            "EMULATOR_PORT": str(self.ports[1]),
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        with self.log.open("wb") as out:  # a file, not a pipe: nothing can block on a full pipe
            self.process = subprocess.Popen(
                [sys.executable, "-m", "engram_local", *args],
                cwd=tmp_path,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(self) -> dict[str, str]:
        deadline = time.monotonic() + READY_TIMEOUT
        while READY not in self.output():
            assert self.process.poll() is None, f"the stack exited early:\n{self.output()}"
            assert time.monotonic() < deadline, f"not ready in {READY_TIMEOUT} s:\n{self.output()}"
            time.sleep(0.1)
        lines = (self.cwd / ".engram" / "dev.env").read_text().splitlines()
        return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))

    def stop(self, sig: int) -> int:
        self.process.send_signal(sig)
        return self.process.wait(STOP_TIMEOUT)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
