"""What keeps the API functions' INIT short (bench/cold_start.py measures it), checked in
fresh interpreters as Lambda's INIT is: a function does not import the routes of another."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_python(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=True, cwd=ROOT)
    return done.stdout.strip()


def test_the_sessions_function_does_not_declare_the_memories_routes():
    out = run_python("import sys, functions.sessions.handler\n"
                     "print('engram.memories.routes' in sys.modules)")
    assert out == "False"
