"""Cold-start benchmark: the import time of each function's handler module in a fresh
Python process (median of 5 runs, after one warm-up run), with the project's bytecode
compiled first, and the slowest top-level imports from `python -X importtime`.

    .venv/bin/python bench/cold_start.py [--runs 5] [--top 5]

With --build, the same import as deployed instead: each function of a `sam build` output
(`make build` or plain `sam build`) imported by the template's Python (--python, default
python3.12) from its own folder, with the layer's python/ on the path, nothing else on it
(-S), no bytecode written and every source dated 1980-01-01 as SAM's zip leaves it:

    .venv/bin/python bench/cold_start.py --build .aws-sam/build [--python python3.12]

Prints a markdown table. A benchmark, not a test: the exit code is always 0.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

from stack import cpu_note

ROOT = Path(__file__).resolve().parents[1]
# A handler imports FastAPI and its own code: its import may take at most this many times
# `import fastapi` alone, measured the same way in the same run (a ratio: hosts differ 2x).
TARGET_RATIO = 1.5
BASELINE = "fastapi"
# CPU time (process_time) is the measure of the ratio: it barely moves when other processes
# compete for the cores, where wall time (printed beside it) can double. Each run of a handler
# is paired with a run of the baseline right before it, so both meet the same host.
PROBE = (
    "import time; t, c = time.perf_counter(), time.process_time(); import {module}; "
    "print((time.perf_counter() - t) * 1000, (time.process_time() - c) * 1000)"
)


def compile_bytecode() -> None:
    """Compiles engram and the handlers, as a deployment package that ships its bytecode
    does. A warm-up import alone does not: with PYTHONDONTWRITEBYTECODE set (it is, on this
    machine) every fresh process would compile the project's source again."""
    import compileall

    for folder in (ROOT / "layers" / "core" / "engram", ROOT / "functions"):
        compileall.compile_dir(folder, quiet=1)


def functions() -> list[str]:
    return sorted(p.parent.name for p in (ROOT / "functions").glob("*/handler.py"))


def _python(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, check=True, timeout=120
    )


def import_ms(module: str) -> tuple[float, float]:
    """(wall ms, CPU ms) of importing `module` in a fresh interpreter."""
    wall, cpu = _python("-c", PROBE.format(module=module)).stdout.split()
    return float(wall), float(cpu)


def slowest_imports(module: str, top: int) -> list[tuple[str, float]]:
    """Third-party top-level packages by the cumulative import time of their outermost
    module, from `-X importtime`. Times nest: botocore's cost is also inside aws_xray_sdk
    when aws_xray_sdk imports it first."""
    stderr = _python("-X", "importtime", "-c", f"import {module}").stderr
    own = {"engram", module.split(".")[0]}
    found: dict[str, float] = {}
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = line[len("import time:") :].split("|")
        package = name.strip().split(".")[0]
        if package in own or package in sys.stdlib_module_names or package.startswith("_"):
            continue
        # A package's outermost module carries its largest cumulative time.
        found[package] = max(found.get(package, 0.0), int(cumulative) / 1000)
    return sorted(found.items(), key=lambda r: -r[1])[:top]


ZIP_EPOCH = 315532800  # 1980-01-01 UTC


def deployed_import_ms(
    build: Path, function: Path, python: str, module: str = "handler"
) -> tuple[float, float]:
    """(wall ms, CPU ms) of `import handler` (or `module`) laid out as Lambda lays it out
    (/var/task, /opt/python)."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONPATH": os.pathsep.join([".", str(build / "CoreLayer" / "python")]),
        "AWS_REGION": "us-east-1",
        "ORT_DISABLE_TELEMETRY": "1",
    }
    probe = PROBE.format(module=module)
    out = subprocess.run(
        [python, "-S", "-c", probe],
        cwd=function,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    wall, cpu = out.stdout.split()
    return float(wall), float(cpu)


def deployed(build: Path, python: str, runs_each: int) -> None:
    for path in build.rglob("*.py"):
        os.utime(path, (ZIP_EPOCH, ZIP_EPOCH))
    sources = sum(1 for _ in (build / "CoreLayer").rglob("*.py"))
    compiled = sum(1 for _ in (build / "CoreLayer").rglob("*.pyc"))
    # The interpreter's own path: a version manager's shim needs the environment dropped below.
    python, version = subprocess.run(
        [python, "-c", "import sys; print(sys.executable, sys.version.split()[0])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    print(
        f"Python {version}, {os.cpu_count()} CPUs ({cpu_note()}), load average {load_average()}; "
        f"{build}: CoreLayer has {sources} .py and {compiled} .pyc files; median of {runs_each}, "
        f"each run after a fresh `import {BASELINE}` from the layer\n"
    )
    functions = sorted(p for p in build.glob("*Function") if (p / "handler.py").is_file())
    print(
        f"| function (as deployed) | median wall (ms) | min | max | median CPU (ms) | "
        f"`import {BASELINE}` CPU (ms) | x fastapi | result |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for function in functions:
        bases, runs = [], []
        for _ in range(runs_each):
            bases.append(deployed_import_ms(build, function, python, BASELINE)[1])
            runs.append(deployed_import_ms(build, function, python))
        times = [wall for wall, _ in runs]
        cpu, base = statistics.median(c for _, c in runs), statistics.median(bases)
        verdict = "pass" if cpu / base <= TARGET_RATIO else "**FAIL**"
        print(
            f"| {function.name} | {statistics.median(times):.0f} | {min(times):.0f} | "
            f"{max(times):.0f} | {cpu:.0f} | {base:.0f} | {cpu / base:.2f} | {verdict} |",
            flush=True,
        )


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--top", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="= --runs 2")
    parser.add_argument("--build", type=Path, help="a `sam build` output to measure as deployed")
    parser.add_argument("--python", default="python3.12", help="with --build: Lambda's Python")
    args = parser.parse_args()
    if args.quick:
        args.runs = 2
    if args.build:
        deployed(args.build, args.python, args.runs)
        return

    compile_bytecode()
    import_ms(BASELINE)
    print(
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs ({cpu_note()}), load average "
        f"{load_average()} at start; median of {args.runs} fresh processes, each after a fresh "
        f"`import {BASELINE}`; target: a handler's import CPU <= {TARGET_RATIO}x `import "
        f"{BASELINE}`'s\n"
    )
    print(
        "| function | median wall (ms) | min | max | median CPU (ms) | `import fastapi` CPU (ms) "
        "| x fastapi | result | slowest third-party imports (cumulative ms) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---|---|")
    for name in functions():
        module = f"functions.{name}.handler"
        import_ms(module)  # warm-up: compiles .pyc files so every run measures the same thing
        bases, runs = [], []
        for _ in range(args.runs):
            bases.append(import_ms(BASELINE)[1])
            runs.append(import_ms(module))
        times = [wall for wall, _ in runs]
        median, cpu = statistics.median(times), statistics.median(cpu for _, cpu in runs)
        base = statistics.median(bases)
        slow = ", ".join(f"`{n}` {ms:.0f}" for n, ms in slowest_imports(module, args.top))
        ratio = cpu / base
        verdict = "pass" if ratio <= TARGET_RATIO else "**FAIL**"
        print(
            f"| {name} | {median:.0f} | {min(times):.0f} | {max(times):.0f} | "
            f"{cpu:.0f} | {base:.0f} | {ratio:.2f} | {verdict} | {slow} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
