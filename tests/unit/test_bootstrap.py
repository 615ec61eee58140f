"""Importing engram changes no other library; `bootstrap()` applies the start-up speed-ups,
for the pinned FastAPI and pydantic only (engram/bootstrap.py). Each case runs in a fresh
interpreter, as a Lambda INIT or a webhook receiver would."""

from __future__ import annotations

from tests.unit.test_cold_start import ROOT, run_python

# What the speed-ups touch in pydantic, FastAPI and the warnings module (the filters about
# pydantic's warnings and ours), as comparable values (functions and descriptors by identity).
STATE = """
import warnings
import fastapi.dependencies.utils, fastapi.routing
from fastapi._compat import shared, v2
from pydantic import BaseModel

def state():
    return (
        dict(BaseModel.model_config),
        BaseModel.__dict__["model_rebuild"],
        shared.is_pydantic_v1_model_class,
        shared.is_pydantic_v1_model_instance,
        v2.ModelField.__post_init__,
        v2.ModelField.__dict__.get("_type_adapter"),
        fastapi.routing.run_in_threadpool,
        fastapi.dependencies.utils.run_in_threadpool,
        [f for f in warnings.filters if f[2].__module__.startswith("pydantic") or ours(f[1])],
    )


def ours(message):  # a filter engram installs (other libraries add their own on import)
    return message is not None and "metrics" in message.pattern

before = state()
"""


def run(code: str) -> list[str]:
    return run_python(code).split()


def test_importing_the_webhook_verifier_changes_no_library():
    assert run(STATE + "from engram.webhooks import verify\nprint(state() == before)") == ["True"]


def test_importing_every_engram_module_changes_no_library():
    code = STATE + (
        "import importlib, pkgutil, engram\n"
        "names = [m.name for m in pkgutil.walk_packages(engram.__path__, 'engram.')]\n"
        "for name in names:\n"
        "    importlib.import_module(name)\n"
        "print(len(names) > 50, state() == before)"
    )
    assert run(code) == ["True", "True"]


def test_the_state_check_sees_what_bootstrap_changes():
    code = STATE + (
        "from engram.bootstrap import bootstrap\n"
        "print(bootstrap(), state() == before, BaseModel.model_config.get('defer_build'))"
    )
    assert run(code) == ["True", "False", "True"]


def test_a_worker_bootstrap_leaves_fastapi_unimported():
    code = (
        "import sys\n"
        "from engram.bootstrap import bootstrap\n"
        "from pydantic import BaseModel\n"
        "print(bootstrap(api=False), BaseModel.model_config.get('defer_build'),\n"
        "      'fastapi' in sys.modules)"
    )
    assert run(code) == ["True", "True", "False"]


def test_another_version_is_refused_with_a_reason_and_runs_unpatched():
    code = STATE + (
        "import warnings\n"
        "from engram import bootstrap\n"
        "bootstrap.PINNED['fastapi'] = '0.1.0'\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always')\n"
        "    applied = bootstrap.bootstrap()\n"
        "message = str(caught[0].message)\n"
        "print(applied, caught[0].category.__name__, state() == before)\n"
        "print('fastapi 0.165.0 (patched for 0.1.0)' in message, 'unpatched' in message)\n"
        "from fastapi.testclient import TestClient\n"
        "from engram_local.app import build_app\n"
        "print(TestClient(build_app()).get('/health').status_code)"
    )
    assert run(code) == ["False", "UnpinnedVersion", "True", "True", "True", "200"]


def test_another_pydantic_is_refused_for_workers_too():
    code = (
        "import warnings\n"
        "from pydantic import BaseModel\n"
        "from engram import bootstrap\n"
        "bootstrap.PINNED['pydantic'] = '2.0.0'\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always')\n"
        "    print(bootstrap.bootstrap(api=False), 'defer_build' in BaseModel.model_config)\n"
        "print('pydantic 2.13.5 (patched for 2.0.0)' in str(caught[0].message))"
    )
    assert run(code) == ["False", "False", "True"]


def test_the_pins_are_the_projects_pins():
    from engram.bootstrap import PINNED, installed_versions

    pyproject = (ROOT / "pyproject.toml").read_text()
    for name, version in PINNED.items():
        assert f'"{name}=={version}"' in pyproject
    assert installed_versions() == PINNED
