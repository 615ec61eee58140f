"""The lock and the layer's requirements agree with pyproject and with each other (`make lock`
writes both: requirements.lock from pyproject, layers/core/requirements.txt resolved within
it), and nothing edits sys.path."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements.lock"
LAYER_REQUIREMENTS = ROOT / "layers/core/requirements.txt"
LAYER_UNUSED = ROOT / "infra/layer-unused.txt"
SYS_PATH_EDIT = re.compile(r"sys\.path\.(append|insert)\s*\(")
SCANNED = ("layers/core", "local", "functions", "tests", "bench")
RERUN = "run `make lock` after changing pyproject's dependencies"
# Lambda's environment for markers: the template's python3.12 on arm64.
LAMBDA = {
    "python_version": "3.12",
    "python_full_version": "3.12.0",
    "platform_machine": "aarch64",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "os_name": "posix",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
    "extra": "",
}


def requirement_lines(path: Path) -> list[str]:
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line]


def pins(path: Path, environment: dict[str, str] | None = None) -> dict[str, str]:
    """name -> pinned version, of the lines whose marker holds (in `environment`, if given)."""
    found: dict[str, str] = {}
    for line in requirement_lines(path):
        req = Requirement(line)
        if environment and req.marker and not req.marker.evaluate(environment):
            continue
        (spec,) = req.specifier
        assert spec.operator == "==", f"{path.name}: not pinned: {line}"
        name = canonicalize_name(req.name)
        assert name not in found, f"{path.name}: {name} is listed twice"
        found[name] = spec.version
    return found


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_the_lock_pins_every_requirement_of_pyproject_at_its_pin():
    project = _pyproject()["project"]
    wanted = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        wanted += extra
    lock = pins(LOCK, {**LAMBDA, "python_version": "3.11", "platform_machine": "x86_64"})
    for line in wanted:
        req = Requirement(line)
        if canonicalize_name(req.name) == "engram":
            continue  # the extras refer to each other
        (spec,) = req.specifier
        assert lock.get(canonicalize_name(req.name)) == spec.version, f"{line}: {RERUN}"


def test_the_lock_satisfies_the_clients_requirements():
    clients = tomllib.loads((ROOT / "clients/python/pyproject.toml").read_text())["project"]
    wanted = list(clients["dependencies"])
    for extra in clients["optional-dependencies"].values():
        wanted += extra
    lock = pins(LOCK, {**LAMBDA, "python_version": "3.11", "platform_machine": "x86_64"})
    for line in wanted:
        req = Requirement(line)
        assert req.specifier.contains(lock.get(canonicalize_name(req.name), "")), RERUN


def test_the_layer_pins_what_the_lock_pins():
    lock = pins(LOCK, LAMBDA)
    layer = pins(LAYER_REQUIREMENTS)
    assert {name: lock.get(name) for name in layer} == layer, RERUN


def test_the_layer_holds_pyprojects_dependencies_and_all_they_need_but_the_unused():
    """The layer is installed with --no-deps, so it must list every package that its
    dependencies require (on Lambda), but for infra/layer-unused.txt's and what only they
    need; and nothing more. Walked here from the installed distributions' metadata."""
    unused = {canonicalize_name(n) for n in requirement_lines(LAYER_UNUSED)}
    pending = [Requirement(line) for line in _pyproject()["project"]["dependencies"]]
    needed: set[str] = set()
    walked: set[tuple[str, frozenset[str]]] = set()
    while pending:
        req = pending.pop()
        name = canonicalize_name(req.name)
        if name in unused or (name, frozenset(req.extras)) in walked:
            continue
        walked.add((name, frozenset(req.extras)))
        needed.add(name)
        environments = [{**LAMBDA, "extra": e} for e in req.extras] or [LAMBDA]
        for child in map(Requirement, metadata.distribution(name).requires or []):
            marker: Marker | None = child.marker
            if marker is None or any(marker.evaluate(env) for env in environments):
                pending.append(child)
    assert set(pins(LAYER_REQUIREMENTS)) == needed, RERUN
    assert unused and not unused & needed


def test_no_sys_path_edits():
    this = Path(__file__).resolve()
    offenders = []
    for folder in SCANNED:
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path.resolve() == this or ".venv" in path.parts:
                continue
            for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
                if SYS_PATH_EDIT.search(line):
                    offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offenders, "sys.path edits (use the one import path):\n" + "\n".join(offenders)
