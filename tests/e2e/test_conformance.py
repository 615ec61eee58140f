"""Conformance: schemathesis with every check (coverage, fuzzing and stateful phases) against
the running local stack over HTTP, as a client would meet it: no 5xx, every status declared,
schema-violating input refused (422), schema-valid input accepted except where
tests/e2e/schemathesis.toml says why not, `Allow` on 405, auth never ignored. A fixed seed
and a bounded number of cases per operation, so a failure reproduces."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.e2e

CONFIG = Path(__file__).with_name("schemathesis.toml")
SEED = 42
EXAMPLES_PER_OPERATION = 10
TIMEOUT_SECONDS = 900


def _access_token(url: str) -> str:
    """A user's access token (every scope) rather than the stack's development key: the
    fuzzer revokes the API keys it can list, its own among them."""
    body = {
        "email": f"fuzz-{secrets.token_hex(4)}@example.com",
        "password": "correct horse 42",
        "workspace_name": "conformance",
    }
    response = httpx.post(f"{url}/v1/auth/register", json=body, timeout=30)
    assert response.status_code == 201, response.text
    return response.json()["access_token"]


@pytest.mark.timeout(TIMEOUT_SECONDS + 60)
def test_schemathesis_finds_nothing(running_stack, tmp_path):
    url = running_stack.env["ENGRAM_URL"]
    token = _access_token(url)
    schemathesis = Path(sys.executable).with_name("schemathesis")
    command = [
        str(schemathesis),
        "--config-file",
        str(CONFIG),
        "--no-color",
        "run",
        f"{url}/openapi.json",
        "--header",
        f"Authorization: Bearer {token}",
        "--checks",
        "all",
        "--phases",
        "coverage,fuzzing,stateful",
        "--seed",
        str(SEED),
        "--max-examples",
        str(EXAMPLES_PER_OPERATION),
        "--generation-database",
        "none",
        "--include-path-regex",
        "^/(v1|health)",  # the dialects answer in their seeds' shapes; their clients test them
        "--workers",
        "1",
        "--request-timeout",
        "30",
    ]
    done = subprocess.run(
        command,
        check=False,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        env={**os.environ, "SCHEMATHESIS_TELEMETRY": "false"},
    )
    summary = done.stdout[-4000:]
    assert done.returncode == 0, f"schemathesis found failures:\n{done.stdout[-20000:]}"
    generated = re.search(r"(\d+) generated", summary)
    assert generated and int(generated.group(1)) >= 500, summary
    print(summary)
