"""The README stays true: it opens with the two commands, and documents every setting."""

import re
from pathlib import Path

from engram.config import Settings

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_readme_opens_with_the_two_commands():
    first_block = README.split("```")[1]
    assert "make dev" in first_block and "make test" in first_block


def test_every_setting_is_in_the_settings_table():
    table = README.split("## Settings", 1)[1]
    missing = [name.upper() for name in Settings.model_fields if f"`{name.upper()}`" not in table]
    assert not missing, f"undocumented settings: {missing}"


def test_ci_runs_the_readme_test_command():
    ci = (Path(__file__).resolve().parents[2] / ".ci" / "run").read_text()
    assert "make test" in ci


def _layout() -> str:
    """The code block under "What Engram is" that lays out the tree."""
    section = README.split("## What Engram is", 1)[1].split("\n## ", 1)[0]
    return next(block for block in section.split("```")[1::2] if "layers/core/engram/" in block)


def test_the_layout_names_every_top_level_part_of_the_package():
    import engram

    words = set(re.findall(r"[A-Za-z_]+/?", _layout()))
    package = Path(engram.__file__).parent
    parts = [
        f"{p.name}/" if p.is_dir() else p.stem
        for p in package.iterdir()
        if (p.is_dir() and (p / "__init__.py").exists())
        or (p.suffix == ".py" and p.stem != "__init__")
    ]
    assert len(parts) > 30
    assert not [p for p in parts if p not in words], "add them to the README's layout"


def test_the_layout_names_folders_that_exist():
    root = Path(__file__).resolve().parents[2]
    folders = re.findall(r"^([a-z][\w./-]*/)\s", _layout(), flags=re.MULTILINE)
    assert "layers/core/engram/" in folders and "bench/" in folders
    assert not [f for f in folders if not (root / f).is_dir()]
