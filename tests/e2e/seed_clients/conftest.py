"""The seed products' clients drive the session's one running stack (`running_stack`);
webhook deliveries to a receiver on 127.0.0.1 need a stack that allows private URLs."""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.stack import Stack


class Engram:
    """A running stack as the client tests see it: URL, the dev workspace's admin key, and
    more keys made through the API."""

    def __init__(self, env: dict[str, str]) -> None:
        self.url = env["ENGRAM_URL"]
        self.key = env["ENGRAM_API_KEY"]

    def make_key(self, **body) -> str:
        response = httpx.post(
            f"{self.url}/v1/api-keys",
            headers={"Authorization": f"Bearer {self.key}"},
            json={"name": "test", **body},
            timeout=20,
        )
        assert response.status_code == 201, response.text
        return response.json()["api_key"]

    def workspace_id(self, key: str | None = None) -> str:
        response = httpx.get(
            f"{self.url}/v1/auth/me", headers={"Authorization": f"Bearer {key or self.key}"}
        )
        assert response.status_code == 200, response.text
        return response.json()["workspace"]["workspace_id"]


@pytest.fixture(scope="session")
def engram(running_stack) -> Engram:
    return Engram(running_stack.env)


@pytest.fixture(scope="module")
def private_webhooks_engram(tmp_path_factory):
    """A stack of its own with WEBHOOK_ALLOW_PRIVATE=true: the shared one refuses webhook
    URLs on 127.0.0.1, as a deployment does."""
    running = Stack(tmp_path_factory.mktemp("webhooks-stack"), {"WEBHOOK_ALLOW_PRIVATE": "true"})
    try:
        yield Engram(running.wait_ready())
    finally:
        running.kill()


# ---- Neuroloom's MCP server: Python >= 3.12 and mcp < 2, so an interpreter of its own ----

NEUROLOOM = ("neuroloom-mcp==0.1.0", "mcp==1.30.0")  # its server API is 1.x


def _venv_cache() -> Path:
    """Once per machine, not per checkout: keyed by the pins, in the user's cache directory
    (ENGRAM_TEST_VENVS moves it)."""
    digest = hashlib.sha256("\n".join(NEUROLOOM).encode()).hexdigest()[:12]
    root = os.environ.get("ENGRAM_TEST_VENVS") or Path(
        os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache", "engram", "test-venvs"
    )
    return Path(root) / f"neuroloom-{digest}"


def _python_312() -> str | None:
    """A Python >= 3.12: `python3.12`/`python3.13` on the PATH, or pyenv's 3.12.1."""
    candidates: list[tuple[list[str], dict[str, str]]] = [
        ([name], {}) for name in ("python3.12", "python3.13") if shutil.which(name)
    ]
    if shutil.which("pyenv"):
        candidates.append((["python"], {"PYENV_VERSION": "3.12.1"}))
    for command, env in candidates:
        probe = subprocess.run(
            [*command, "-c", "import sys; print(sys.version_info >= (3, 12), sys.executable)"],
            capture_output=True,
            text=True,
            env={**os.environ, **env},
            timeout=60,
            check=False,
        )
        ok, _, executable = probe.stdout.strip().partition(" ")
        if probe.returncode == 0 and ok == "True":
            return executable
    return None


@pytest.fixture(scope="session")
def neuroloom_server() -> Path:
    """The `neuroloom-mcp` executable of a cached venv, made on first use on this machine:
    one build at a time (a file lock); the stamp, written last, marks a finished one."""
    venv = _venv_cache()
    executable = venv / "bin" / "neuroloom-mcp"
    stamp = venv / ".complete"
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / f"{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (stamp.is_file() and executable.exists()):
            python = _python_312()
            if python is None:
                pytest.skip("neuroloom-mcp needs Python >= 3.12 and none was found on this host")
            shutil.rmtree(venv, ignore_errors=True)
            subprocess.run([python, "-m", "venv", str(venv)], check=True, timeout=300)
            pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
            subprocess.run([*pip, *NEUROLOOM], check=True, timeout=900)
            stamp.touch()
    return executable
