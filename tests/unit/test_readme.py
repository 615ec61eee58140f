"""The README stays true: it opens with the two commands, and documents every setting."""

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
