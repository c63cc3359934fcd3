"""The package layering, `prover > eval > (doubles | search) > (thoughts | lean_env) > core`, is
checked by import-linter (pyproject.toml [tool.importlinter], run by `.ci/run` as `lint-imports`).
Here: the repository keeps it, and the same contract does catch a violation, lazy imports included."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("core", "lean_env", "thoughts", "search", "doubles", "eval", "prover")


def _lint_imports() -> str:
    exe = Path(sys.executable).with_name("lint-imports")
    if not exe.is_file():
        found = shutil.which("lint-imports")
        if found is None:
            pytest.skip("import-linter is not installed (pip install -e '.[test]')")
        return found
    return str(exe)


def _contract() -> str:
    text = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    start = text.index("[tool.importlinter]")
    nxt = re.search(r"^\[(?!\[?tool\.importlinter)", text[start + 1:], re.M)
    return text[start: start + 1 + nxt.start()] if nxt else text[start:]


def test_the_repository_keeps_its_layers():
    p = subprocess.run([_lint_imports()], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "1 kept, 0 broken" in p.stdout


@pytest.mark.parametrize("module, source, words", [
    ("lean_env/bad.py", "from search import engine\n", "lean_env is not allowed to import search"),
    ("search/bad.py", "def later():\n    import doubles.scripted\n", "search is not allowed to import doubles"),
    ("core/bad.py", "def later():\n    from thoughts import format\n", "core is not allowed to import thoughts"),
    ("eval/bad.py", "import prover.factory\n", "eval is not allowed to import prover"),
])
def test_the_contract_catches_an_upward_or_sideways_import(tmp_path, module, source, words):
    for pkg in PACKAGES:
        (tmp_path / pkg).mkdir()
        (tmp_path / pkg / "__init__.py").write_text("")
    for name in ("engine.py", "scripted.py", "format.py", "factory.py"):
        for pkg in PACKAGES:
            (tmp_path / pkg / name).write_text("")
    (tmp_path / module).write_text(source)
    (tmp_path / "pyproject.toml").write_text(_contract())
    p = subprocess.run([_lint_imports()], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                       env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tmp_path)})
    assert p.returncode != 0 and words in p.stdout, p.stdout + p.stderr
