"""What keeps the API functions' INIT short (bench/cold_start.py measures it), checked in
fresh interpreters as Lambda's INIT is: a function does not import the routes of another,
and pydantic models and FastAPI's adapters are built on first use (`engram.bootstrap`)."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import subprocess
import sys
import warnings
from pathlib import Path

from pydantic import BaseModel
from pydantic.warnings import UnsupportedFieldAttributeWarning

ROOT = Path(__file__).resolve().parents[2]


def run_python(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=ROOT,
    )
    return done.stdout.strip()


def test_the_sessions_function_does_not_declare_the_memories_routes():
    out = run_python(
        "import sys, functions.sessions.handler\nprint('engram.memories.routes' in sys.modules)"
    )
    assert out == "False"


def test_importing_an_api_function_builds_no_model_until_it_is_used():
    out = run_python(
        "import functions.sessions.handler\n"
        "from fastapi.openapi.models import OpenAPI, Schema\n"
        "from engram.sessions.models import SessionCreate\n"
        "from engram.sessions.routes import router\n"
        "route = next(r for r in router.routes if r.path == '/v1/sessions' and 'POST' in r.methods)\n"
        "adapter = route.body_field._type_adapter\n"
        "print(OpenAPI.__pydantic_complete__ or Schema.__pydantic_complete__,\n"
        "      SessionCreate.__pydantic_complete__,\n"
        "      adapter.pydantic_complete)\n"
        "SessionCreate(agent_id='a')\n"
        "adapter.validate_python({'agent_id': 'a'})\n"
        "print(SessionCreate.__pydantic_complete__, adapter.pydantic_complete)"
    )
    assert out.splitlines() == ["False False False", "True True"]


def test_no_engram_model_relies_on_the_silenced_field_warning():
    """engram.bootstrap silences UnsupportedFieldAttributeWarning for FastAPI's deferred
    adapters; every model of ours must build without it."""
    import engram

    for module in pkgutil.walk_packages(engram.__path__, "engram."):
        if not module.name.startswith("engram.adapters."):
            importlib.import_module(module.name)
    models = [m for m in _subclasses(BaseModel) if m.__module__.startswith("engram.")]
    assert len(models) > 40
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnsupportedFieldAttributeWarning)
        for model in models:
            model.model_rebuild(force=True)


def _subclasses(cls: type) -> set[type]:
    found = set()
    for sub in cls.__subclasses__():
        found |= {sub, *_subclasses(sub)}
    return found


def test_the_deferred_builds_give_the_same_document():
    """/openapi.json with fastapi.openapi.models and the routes' field adapters deferred
    (engram/fastapi_compat.py) is the one FastAPI writes when it builds them at import and
    at route declaration. Writing it uses every field's adapter, so a field whose adapter
    cannot be built fails here as FastAPI would have failed at declaration."""
    write = (
        "import json\n"
        "from engram_local.app import build_app\n"
        "print(json.dumps(build_app().openapi(), sort_keys=True))"
    )
    undeferred = (
        "from engram import bootstrap\n"
        "bootstrap._applied.update(pydantic=False, fastapi=False)  # as if refused\n"
        "import fastapi.openapi.models as m\n"
        "assert m.Schema.__pydantic_complete__\n"
    )
    assert run_python(write) == run_python(undeferred + write)


def test_a_routes_field_adapters_are_built_on_first_use_only():
    out = run_python(
        "import functions.memories.handler\n"
        "from engram.memories.routes import router\n"
        "fields = [f for r in router.routes for f in (*r.dependant.query_params,\n"
        "                                             *r.dependant.path_params)]\n"
        "built = lambda: sum('_type_adapter' in f.__dict__ for f in fields)\n"
        "print(len(fields) > 10, built())\n"
        "limit = next(f for f in fields if f.name == 'limit')\n"
        "print(limit.validate('0')[1][0]['type'], limit.validate('7'), built())"
    )
    assert out.splitlines() == ["True 0", "greater_than_equal (7, []) 1"]


def test_a_forced_or_first_use_rebuild_still_builds_an_openapi_model():
    out = run_python(
        "from engram.bootstrap import bootstrap\n"
        "bootstrap()\n"
        "from fastapi.openapi.models import Operation, Schema\n"
        "print(Schema.model_rebuild(), Schema.__pydantic_complete__)\n"
        "Operation(responses={'200': {'description': 'ok'}})\n"
        "print(Operation.__pydantic_complete__, Schema.model_rebuild(force=True))"
    )
    assert out.splitlines() == ["None False", "True True"]


def test_every_api_function_bootstraps_before_its_first_import():
    """In one process the first handler's bootstrap() covers the rest, so the import checks
    below cannot see a handler without it: each API handler is read here."""
    late = []
    for handler in sorted((ROOT / "functions").glob("*/handler.py")):
        if "create_app" not in handler.read_text():
            continue  # not an API function (workers, authorizer, setup)
        body = ast.parse(handler.read_text()).body[1:]  # after the docstring
        first_call = next(i for i, n in enumerate(body) if not isinstance(n, ast.ImportFrom))
        imports = [n.module for n in body[:first_call] if isinstance(n, ast.ImportFrom)]
        if imports != ["engram.bootstrap"] or "bootstrap()" not in ast.unparse(body[first_call]):
            late.append(handler.parent.name)
    assert late == []


def test_no_api_function_imports_pydantic_v1_at_init():
    """engram.fastapi_compat: FastAPI's v1-model checks answer without importing pydantic.v1."""
    functions = sorted(p.parent.name for p in (ROOT / "functions").glob("*/handler.py"))
    code = (
        "import importlib, sys\n"
        f"for name in {functions!r}:\n"
        "    importlib.import_module(f'functions.{name}.handler')\n"
        "print('pydantic.v1' in sys.modules)"
    )
    assert run_python(code) == "False"


# Each costs tens of milliseconds at INIT, and no function needs one before a request does.
DEFERRED_AT_INIT = ("boto3", "aws_xray_sdk", "onnxruntime", "opensearchpy", "tokenizers")


def test_no_function_imports_boto3_or_the_heavy_clients_at_init():
    """Named is the first function whose import brings one in (a module-level
    `attr(...)` condition did, for the webhooks and deliver functions: +90 ms)."""
    functions = sorted(p.parent.name for p in (ROOT / "functions").glob("*/handler.py"))
    code = (
        "import importlib, sys\n"
        f"for name in {functions!r}:\n"
        "    importlib.import_module(f'functions.{name}.handler')\n"
        f"    found = [m for m in {DEFERRED_AT_INIT!r} if m in sys.modules]\n"
        "    if found:\n"
        "        print(name, found)\n"
        "        break"
    )
    assert run_python(code) == ""


def test_the_v1_checks_answer_as_fastapis_own():
    from fastapi._compat import shared

    from engram import fastapi_compat

    fastapi_compat.apply()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pydantic import v1

    class Old(v1.BaseModel):
        x: int = 1

    class New(BaseModel):
        x: int = 1

    assert shared.is_pydantic_v1_model_class(Old) and not shared.is_pydantic_v1_model_class(New)
    assert shared.is_pydantic_v1_model_instance(Old()) and not shared.is_pydantic_v1_model_instance(
        New()
    )
    assert shared.annotation_is_pydantic_v1(list[Old]) and not shared.annotation_is_pydantic_v1(
        New | None
    )
    out = run_python(
        "import sys\n"
        "from engram.bootstrap import bootstrap\n"
        "bootstrap()\n"
        "import engram.auth\n"
        "from fastapi._compat import shared\n"
        "print(shared.is_pydantic_v1_model_class(int), 'pydantic.v1' in sys.modules)"
    )
    assert out == "False False"
