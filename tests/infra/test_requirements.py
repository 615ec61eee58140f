"""The layer's requirements match pyproject's dependencies, and nothing edits sys.path."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
LAYER_REQUIREMENTS = ROOT / "layers/core/requirements.txt"
SYS_PATH_EDIT = re.compile(r"sys\.path\.(append|insert)\s*\(")
SCANNED = ("layers/core", "local", "functions", "tests", "bench")


def _normalised(lines: list[str]) -> dict[str, str]:
    """name → 'extras|specifier|marker', with names and extras canonicalised."""
    out: dict[str, str] = {}
    for line in lines:
        req = Requirement(line)
        name = canonicalize_name(req.name)
        assert name not in out, f"{name} is listed twice"
        extras = ",".join(sorted(canonicalize_name(e) for e in req.extras))
        out[name] = f"{extras}|{req.specifier}|{req.marker or ''}"
    return out


def _requirement_lines(path: Path) -> list[str]:
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line]


def test_layer_requirements_match_pyproject_dependencies():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    wanted = _normalised(pyproject["project"]["dependencies"])
    layer = _normalised(_requirement_lines(LAYER_REQUIREMENTS))
    assert layer == wanted, (
        "layers/core/requirements.txt must list exactly [project].dependencies of pyproject.toml"
    )


def test_layer_requirements_are_pinned():
    for line in _requirement_lines(LAYER_REQUIREMENTS):
        specs = list(Requirement(line).specifier)
        assert len(specs) == 1 and specs[0].operator == "==", f"not pinned: {line}"


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
