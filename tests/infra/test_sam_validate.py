"""`sam validate --lint` passes on template.yaml. aws-sam-cli pins its own boto3, so it is not
a project dependency: this runs when a `sam` is on the PATH (or at SAM_CLI) and is skipped,
saying so, when there is none."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_sam_validate_lint_passes():
    sam = os.environ.get("SAM_CLI") or shutil.which("sam")
    if not sam:
        pytest.skip("no `sam` on the PATH (aws-sam-cli lives in its own venv; set SAM_CLI)")
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0", "AWS_DEFAULT_REGION": "us-east-1"}
    done = subprocess.run(
        [sam, "validate", "--lint", "--template", "template.yaml"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
