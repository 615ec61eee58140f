"""infra/bytecode.py on a tree shaped like `sam build`'s output: afterwards a function's INIT
compiles nothing, even with every source dated 1980-01-01 as SAM's zip leaves it, and a
source changed after compiling is still compiled afresh."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "infra" / "bytecode.py"
VERSION = f"{sys.version_info.major}.{sys.version_info.minor}"
ZIP_EPOCH = 315532800  # 1980-01-01 UTC: the date SAM gives every zipped file
# Imports the handler as Lambda would and reports which modules were compiled from source.
PROBE = """
import importlib.machinery, json, sys
compiled = []
original = importlib.machinery.SourceFileLoader.source_to_code
def spy(self, data, path, *args, **kwargs):
    compiled.append(path)
    return original(self, data, path, *args, **kwargs)
importlib.machinery.SourceFileLoader.source_to_code = spy
import handler
print(json.dumps({"compiled": compiled, "answer": handler.answer()}))
"""


def _build(tmp_path: Path, runtime: str = VERSION) -> Path:
    build = tmp_path / "build"
    package = build / "CoreLayer" / "python" / "corepkg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "tools.py").write_text("def helper():\n    return 41\n")
    function = build / "HealthFunction"
    function.mkdir()
    (function / "handler.py").write_text(
        "from corepkg.tools import helper\n\ndef answer():\n    return helper() + 1\n"
    )
    (build / "template.yaml").write_text(
        f"Globals:\n  Function:\n    Runtime: python{runtime}\nResources:\n  CoreLayer:\n"
        f"    Metadata:\n      BuildMethod: python{runtime}\n"
    )
    return build


def _compile(build: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), str(build)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _as_zipped(build: Path) -> None:
    for path in build.rglob("*.py"):
        os.utime(path, (ZIP_EPOCH, ZIP_EPOCH))


def _init(build: Path) -> dict:
    env = {
        **os.environ,
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONPATH": os.pathsep.join([".", str(build / "CoreLayer" / "python")]),
    }
    out = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=build / "HealthFunction",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(out.stdout)


def _bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def test_without_it_every_cold_start_compiles_the_source(tmp_path):
    build = _build(tmp_path)
    _as_zipped(build)
    assert len(_init(build)["compiled"]) == 3


def test_after_it_init_compiles_nothing_though_the_zip_redated_the_sources(tmp_path):
    build = _build(tmp_path)
    result = _compile(build)
    assert result.returncode == 0, result.stderr
    # The size printed is the folder's, bytecode included: what make build shows for the layer.
    sizes = dict(
        re.findall(
            r"^(\S+): \d+ bytecode files, ([\d.]+) MB of files unzipped$",
            result.stdout,
            re.MULTILINE,
        )
    )
    layer = build / "CoreLayer" / "python"
    assert float(sizes["CoreLayer/python"]) == pytest.approx(_bytes(layer) / 1e6, abs=0.001)
    assert set(sizes) == {"CoreLayer/python", "HealthFunction"}
    assert "CoreLayer/python: 2 bytecode files" in result.stdout
    _as_zipped(build)
    init = _init(build)
    assert init["compiled"] == [] and init["answer"] == 42


def test_a_source_changed_after_compiling_is_compiled_afresh(tmp_path):
    build = _build(tmp_path)
    assert _compile(build).returncode == 0
    tools = build / "CoreLayer" / "python" / "corepkg" / "tools.py"
    tools.write_text("def helper():\n    return 99\n")
    _as_zipped(build)
    init = _init(build)
    assert init["answer"] == 100 and init["compiled"] == [str(tools)]


@pytest.mark.parametrize("runtime", ["3.0", "2.7"])
def test_bytecode_for_another_python_is_refused_with_a_sentence(tmp_path, runtime):
    build = _build(tmp_path, runtime)
    result = _compile(build)
    assert result.returncode != 0
    assert f"targets python{runtime}, but this is Python {VERSION}" in result.stderr
    assert not list(build.rglob("*.pyc"))


def test_a_missing_build_is_a_sentence(tmp_path):
    result = _compile(tmp_path / "nowhere")
    assert result.returncode != 0 and "run `sam build` first" in result.stderr


def test_make_build_runs_it_after_sam_build():
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile.split("\nbuild:", 1)[1].split("\n\n", 1)[0]
    assert recipe.index("sam build") < recipe.index("infra/bytecode.py .aws-sam/build")
