"""`prover setup`: the generated files, the fast failure without network, and the steps (with fake tools)."""

from __future__ import annotations

import json
import socket
import stat
import threading
from pathlib import Path

import pytest

import lean_env.setup as setup_mod
from lean_env.errors import SetupError
from lean_env.setup import (
    REPL_BINARY,
    SetupConfig,
    check_reachable,
    check_tools,
    repo_lean_toolchain,
    run_setup,
    version_tag,
    workspace_files,
)
from prover.cli import main as prover_main

REPO = Path(__file__).resolve().parent.parent


def test_pinned_toolchain_and_tags():
    assert repo_lean_toolchain() == (REPO / "lean-toolchain").read_text().strip() == "leanprover/lean4:v4.24.0"
    assert version_tag("leanprover/lean4:v4.24.0") == "v4.24.0"
    with pytest.raises(SetupError, match="--mathlib-rev"):
        version_tag("leanprover/lean4:nightly")
    assert SetupConfig(dir=Path("x")).revs() == ("v4.24.0", "v4.24.0")
    assert SetupConfig(dir=Path("x"), lean_toolchain="weird", mathlib_rev="abc", repl_rev="def").revs() == ("abc", "def")


def test_workspace_files_are_correct():
    files = workspace_files("leanprover/lean4:v4.24.0", "v4.24.0", "v4.24.0")
    assert files["lean-toolchain"] == "leanprover/lean4:v4.24.0\n"
    lakefile = files["lakefile.toml"]
    tomllib = pytest.importorskip("tomllib")
    cfg = tomllib.loads(lakefile)
    reqs = {r["name"]: r for r in cfg["require"]}
    assert reqs["mathlib"] == {"name": "mathlib", "git": "https://github.com/leanprover-community/mathlib4",
                               "rev": "v4.24.0"}
    assert reqs["REPL"] == {"name": "REPL", "git": "https://github.com/leanprover-community/repl", "rev": "v4.24.0"}
    assert cfg["lean_lib"] == [{"name": "ProverWorkspace"}] and cfg["defaultTargets"] == ["ProverWorkspace"]
    assert files["ProverWorkspace.lean"].rstrip().endswith("import Mathlib")
    assert REPL_BINARY == Path(".lake/packages/REPL/.lake/build/bin/repl")  # where lean_env.repl_env looks


def test_reachability_check_names_what_failed(tmp_path):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    dead_port = closed.getsockname()[1]
    closed.close()
    try:
        assert check_reachable([("127.0.0.1", port)], timeout=2.0) == []
        failed = check_reachable([("127.0.0.1", dead_port), ("no-such-host.invalid", 443)], timeout=2.0)
        assert len(failed) == 2 and f"127.0.0.1:{dead_port}" in failed[0] + failed[1]
        assert any("no-such-host.invalid:443" in f for f in failed)
    finally:
        server.close()


def test_reachability_check_gives_up_on_a_host_that_never_answers(monkeypatch):
    """Every probe gets the connect timeout, and one that hangs anyway (name resolution can) is
    reported as unanswered instead of holding the check up.  (How long it takes: bench/bench_setup.py.)"""
    seen: list[tuple[str, float]] = []
    release = threading.Event()

    def fake_connect(address, timeout):
        seen.append((address[0], timeout))
        if address[0] == "hangs.example":
            release.wait()  # never returns while the check waits
        raise OSError("refused")

    monkeypatch.setattr(setup_mod.socket, "create_connection", fake_connect)
    try:
        failed = check_reachable([("hangs.example", 443), ("refuses.example", 443)], timeout=0.2)
    finally:
        release.set()
    assert sorted(seen) == [("hangs.example", 0.2), ("refuses.example", 0.2)]
    assert sorted(failed) == ["hangs.example:443 (no answer within 0.2 s)", "refuses.example:443 (OSError: refused)"]


def _spy_reachable(monkeypatch) -> list[float]:
    """Record the timeout each real reachability check is run with."""
    timeouts: list[float] = []
    real = setup_mod.check_reachable

    def spy(hosts, timeout):
        timeouts.append(timeout)
        return real(hosts, timeout)

    monkeypatch.setattr(setup_mod, "check_reachable", spy)
    return timeouts


@pytest.fixture
def offline():
    """These tests run the real check; where GitHub answers they would start a real setup: skip."""
    if not check_reachable(setup_mod.DEFAULT_HOSTS, timeout=3.0):
        pytest.skip("GitHub is reachable from here: the offline failure cannot be observed")


def test_setup_fails_fast_without_network(offline, tmp_path, monkeypatch):
    """Here (no internet) the real check must fail, with the short connect timeout, and say what was
    unreachable, before anything is written."""
    timeouts = _spy_reachable(monkeypatch)
    with pytest.raises(SetupError, match="needs the network.*github.com:443"):
        run_setup(SetupConfig(dir=tmp_path / "ws", connect_timeout=3.0))
    assert timeouts == [3.0]
    assert not (tmp_path / "ws").exists()  # nothing written before the checks pass


def test_prover_setup_command_fails_fast(offline, tmp_path, capsys, monkeypatch):
    timeouts = _spy_reachable(monkeypatch)
    assert prover_main(["setup", "--dir", str(tmp_path / "ws"), "--connect-timeout", "2"]) == 1
    assert timeouts == [2.0]
    assert "SetupError" in capsys.readouterr().err
    assert not (tmp_path / "ws").exists()


def test_missing_tools_are_named():
    with pytest.raises(SetupError, match="missing git, lake.*elan"):
        check_tools(which=lambda name: None)
    assert check_tools(which=lambda name: f"/usr/bin/{name}" if name != "elan" else None) == {
        "git": "/usr/bin/git", "lake": "/usr/bin/lake"}


def _fake_tools(folder: Path, log: Path) -> None:
    """A `lake` that records its calls and does what the real one would leave behind."""
    folder.mkdir()
    lake = folder / "lake"
    lake.write_text(f"""#!/bin/sh
echo "$(pwd) $*" >> {log}
case "$1" in
  update) mkdir -p .lake/packages/REPL .lake/packages/mathlib && touch .lake/packages/REPL/lakefile.lean ;;
  build) if [ "$(basename "$(pwd)")" = REPL ]; then mkdir -p .lake/build/bin && touch .lake/build/bin/repl; fi ;;
esac
exit 0
""")
    git = folder / "git"
    git.write_text("#!/bin/sh\nexit 0\n")
    for p in (lake, git):
        p.chmod(p.stat().st_mode | stat.S_IEXEC)


def test_setup_steps_with_fake_tools(tmp_path, monkeypatch):
    log = tmp_path / "calls.log"
    _fake_tools(tmp_path / "bin", log)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:/usr/bin:/bin")
    monkeypatch.setattr(setup_mod, "check_reachable", lambda hosts, timeout: [])
    ws = tmp_path / "ws"
    result = run_setup(SetupConfig(dir=ws))
    calls = log.read_text().splitlines()
    assert calls == [f"{ws} update", f"{ws} exe cache get", f"{ws}/.lake/packages/REPL build", f"{ws} build"]
    assert result.repl_binary == ws / REPL_BINARY and result.repl_binary.is_file()
    assert (ws / "lean-toolchain").read_text() == "leanprover/lean4:v4.24.0\n"
    marker = json.loads((ws / "prover-workspace.json").read_text())
    assert marker["mathlib_rev"] == "v4.24.0" and marker["repl_binary"] == str(REPL_BINARY)
    # a rerun with the same settings is fine; a different lakefile is not overwritten without --force
    run_setup(SetupConfig(dir=ws))
    with pytest.raises(SetupError, match="exists with other contents"):
        run_setup(SetupConfig(dir=ws, mathlib_rev="v4.23.0", repl_rev="v4.23.0"))
    run_setup(SetupConfig(dir=ws, mathlib_rev="v4.23.0", repl_rev="v4.23.0", force=True))
    assert 'rev = "v4.23.0"' in (ws / "lakefile.toml").read_text()


def test_a_failing_step_is_a_setup_error(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in (("lake", 'echo "cache server said no" >&2; exit 7'), ("git", "exit 0")):
        p = bin_dir / name
        p.write_text(f"#!/bin/sh\n{body}\n")
        p.chmod(p.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    monkeypatch.setattr(setup_mod, "check_reachable", lambda hosts, timeout: [])
    with pytest.raises(SetupError, match="fetch dependencies.*exit code 7:\ncache server said no"):
        run_setup(SetupConfig(dir=tmp_path / "ws"))
