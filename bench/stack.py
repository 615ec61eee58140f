"""The local stack (`python -m engram_local`) in a subprocess, for the benchmarks that go
through the HTTP API: free ports on 127.0.0.1, output to a log file, ready when it prints
"Engram is ready", URL and key from its `.engram/dev.env`, stopped with SIGINT (then killed
if it does not stop in time). Use it as a context manager so it always stops."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Self

READY = "Engram is ready"
READY_TIMEOUT = 90.0
STOP_TIMEOUT = 20.0
HOST = "127.0.0.1"
# Settings from the caller's shell that would point the stack elsewhere.
_DROP = (
    "AWS_ENDPOINT_URL",
    "AWS_PROFILE",
    "TABLE_NAME",
    "OPENSEARCH_ENDPOINT",
    "SEARCH_BACKEND",
    "EMBEDDER",
    "LOCAL_INDEX_PATH",
    "ENGRAM_URL",
    "ENGRAM_API_KEY",
    "ENGRAM_DATA_DIR",
    "ENGRAM_FRESH",
    "ENGRAM_IN_MEMORY",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


class LocalStack:
    def __init__(self, extra_env: dict[str, str] | None = None) -> None:
        self._command = [sys.executable, "-m", "engram_local"]
        self._tmp = tempfile.TemporaryDirectory(prefix="engram-bench-")
        self.cwd = Path(self._tmp.name)
        self.log = self.cwd / "stack.log"
        env = {k: v for k, v in os.environ.items() if k not in _DROP}
        env.update(
            PORT=str(free_port()),
            EMULATOR_PORT=str(free_port()),
            PYTHONUNBUFFERED="1",
            ORT_DISABLE_TELEMETRY="1",
            POWERTOOLS_LOG_LEVEL="WARNING",
            **(extra_env or {}),
        )
        self._env = env
        self.process: subprocess.Popen[bytes] | None = None
        self.env_file = self.cwd / ".engram" / "dev.env"
        self.url = self.api_key = ""
        self.values: dict[str, str] = {}

    def __enter__(self) -> Self:
        started = time.monotonic()
        with self.log.open("wb") as out:  # a file, not a pipe: nothing blocks on a full pipe
            self.process = subprocess.Popen(
                self._command, cwd=self.cwd, env=self._env, stdout=out, stderr=subprocess.STDOUT
            )
        try:
            while READY not in self.output():
                if self.process.poll() is not None:
                    raise RuntimeError(f"the stack exited early:\n{self.output()}")
                if time.monotonic() - started > READY_TIMEOUT:
                    raise RuntimeError(f"the stack was not ready in {READY_TIMEOUT:.0f} s")
                time.sleep(0.1)
            values = dict(
                line.split("=", 1)
                for line in self.env_file.read_text().splitlines()
                if line and not line.startswith("#")
            )
            self.values = values  # .engram/dev.env: the emulator endpoint, table, queues
            self.url, self.api_key = values["ENGRAM_URL"], values["ENGRAM_API_KEY"]
            if not self.url.startswith(f"http://{HOST}:"):
                raise RuntimeError(f"unexpected stack URL {self.url}")
        except BaseException:
            self.stop()
            print(self.output()[-3000:], file=sys.stderr)
            self.cleanup()
            raise
        self.ready_s = time.monotonic() - started
        return self

    def __exit__(self, kind: type[BaseException] | None, *exc: object) -> None:
        if kind is not None and self.log.exists():
            kept = Path(tempfile.gettempdir()) / "engram-bench-stack.log"
            self.stop()
            kept.write_text(self.output())
            print(
                f"--- the stack's log, last lines (all of it in {kept}) ---\n"
                f"{self.output()[-3000:]}",
                file=sys.stderr,
            )
        self.stop()
        self.cleanup()

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)

    def cleanup(self) -> None:
        self._tmp.cleanup()

    def create_workspace(self, name: str) -> str:
        """A new workspace through the admin CLI against this stack's emulator; its API key."""
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "engram.cli",
                "--env-file",
                str(self.env_file),
                "admin",
                "create-workspace",
                name,
                "--json",
            ],
            cwd=self.cwd,
            env=self._env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return json.loads(done.stdout)["api_key"]


_VECTOR_FLAGS = ("avx512_vnni", "avx512f", "avx2")  # widest first


def cpu_note() -> str:
    """The CPU's model and widest vector extension (from /proc/cpuinfo, where there is one).
    The hosts this VM lands on differ: the same run was 2-2.5x slower for the model on an
    AVX2-only host than on the faster ones (docs/benchmarks.md), so each result names it."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "CPU unknown"
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in info.splitlines()
            if line.startswith("model name")
        ),
        "CPU unknown",
    )
    flags = next(
        (
            set(line.split(":", 1)[1].split())
            for line in info.splitlines()
            if line.startswith("flags")
        ),
        set(),
    )
    widest = next((flag for flag in _VECTOR_FLAGS if flag in flags), "no AVX2")
    return f"{model}, {widest}"


def machine_note() -> str:
    load = os.getloadavg()
    return (
        f"{os.cpu_count()} CPUs ({cpu_note()}) shared with other work; load average "
        f"{load[0]:.1f}/{load[1]:.1f}/{load[2]:.1f} (1/5/15 min) at the end"
    )
