"""Byte-compiles a `sam build` output so that Lambda's INIT loads bytecode instead of
compiling every module it imports. Run it with the functions' Python (`make build` does):

    python3.12 infra/bytecode.py [.aws-sam/build]

Why it is needed: the layer's build (layers/core/Makefile) unpacks wheels and copies our source
with no `.pyc` at all, and Lambda's code directories are read-only, so every cold start compiled
fastapi, pydantic, boto3 and the rest again (measured in docs/benchmarks.md, "As deployed").
The bytecode is hash-based (PEP 552, checked): SAM zips every file dated 1980-01-01, which
no timestamp-based `.pyc` survives, while a checked hash stays valid whatever the dates say
and still catches a source changed after compiling. Standard library only: it runs outside
the project's virtual environment.
"""

from __future__ import annotations

import compileall
import py_compile
import re
import sys
from pathlib import Path

_RUNTIME = re.compile(r"^\s*(?:Runtime|BuildMethod):\s*python(\d+\.\d+)\s*$", re.MULTILINE)


def runtimes(build_dir: Path) -> set[str]:
    """The Python versions the built template names (Runtime and layer BuildMethod)."""
    template = build_dir / "template.yaml"
    if not template.is_file():
        raise SystemExit(f"{build_dir} has no template.yaml: run `sam build` first.")
    return set(_RUNTIME.findall(template.read_text()))


def check_interpreter(build_dir: Path) -> None:
    """Bytecode is specific to a Python minor version: it must be this interpreter's."""
    ours = f"{sys.version_info.major}.{sys.version_info.minor}"
    wanted = runtimes(build_dir)
    if wanted != {ours}:
        names = ", ".join(f"python{v}" for v in sorted(wanted)) or "no Python runtime"
        raise SystemExit(
            f"The build targets {names}, but this is Python {ours}; run this "
            "script with the functions' Python (e.g. python3.12)."
        )


def artifacts(build_dir: Path) -> list[Path]:
    """The code folder of each built layer (its python/) and function."""
    found = []
    for folder in sorted(p for p in build_dir.iterdir() if p.is_dir()):
        if (folder / "python").is_dir():
            found.append(folder / "python")
        elif any(folder.glob("*.py")):
            found.append(folder)
    return found


def compile_artifact(folder: Path) -> bool:
    """True if every module compiled. A file that does not compile (a package's Python 2
    test data, say) is reported and left as source, as Lambda would find it anyway. (Paths
    in the bytecode need no rewriting: the import system sets them to where it finds it.)"""
    return bool(
        compileall.compile_dir(
            folder,
            quiet=1,
            workers=0,
            invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH,
        )
    )


def _mb(size: int) -> str:
    """A folder's size as Lambda counts it against its 250 MB (files, unzipped)."""
    return f"{size / 1e6:.{1 if size >= 1e5 else 3}f} MB of files unzipped"


def main(argv: list[str]) -> int:
    build_dir = Path(argv[0] if argv else ".aws-sam/build")
    if not build_dir.is_dir():
        raise SystemExit(f"{build_dir} does not exist: run `sam build` first.")
    check_interpreter(build_dir)
    found = artifacts(build_dir)
    if not found:
        raise SystemExit(f"{build_dir} holds no built layer or function.")
    for folder in found:
        complete = compile_artifact(folder)
        count = sum(1 for _ in folder.rglob("*.pyc"))
        note = "" if complete else " (some files did not compile; they stay source)"
        size = sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())
        print(f"{folder.relative_to(build_dir)}: {count} bytecode files, {_mb(size)}{note}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
