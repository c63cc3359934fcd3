"""Issue 12: limits that hold without the parent, interruptions that stop everything, verdicts tied
to the Lean binary and binder names that do not matter.  Real embedded Lean throughout."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from lean_env.toolchain import LeanToolchain
from lean_env.verifier import Verifier, VerifierConfig

REPO = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data" / "verify"
HEADER = (DATA / "prelude.lean").read_text(encoding="utf-8")
AND_SWAP = "theorem and_swap (p q : Prop) (h : And p q) : And q p :="
SWAP = " And.rec (fun hp hq => And.intro hq hp) h"
HANG_HEADER = HEADER + """
class Loop (p : Prop) where
  val : p
instance loopInst {p : Prop} [Loop (And p p)] : Loop p := Loop.mk (And.rec (fun a _ => a) (Loop.val (p := And p p)))
set_option synthInstance.maxHeartbeats 0
set_option synthInstance.maxSize 100000000
set_option maxHeartbeats 0
"""
HONEST = {"name": "swap", "header": HEADER, "formal_statement": AND_SWAP, "proof": SWAP}
HANG = {"name": "hang", "header": HANG_HEADER, "formal_statement": "theorem hang : True :=", "proof": " (Loop.val : True)"}


def lean_processes(marker: str) -> list[psutil.Process]:
    """Live (not zombie) processes whose command line mentions `marker` (the test's own temp dir)."""
    out = []
    for p in psutil.process_iter(["cmdline", "status"]):
        try:
            if p.info["status"] != psutil.STATUS_ZOMBIE and any(marker in a for a in p.info["cmdline"] or []):
                out.append(p)
        except psutil.Error:
            continue
    return out


def wait_until(cond, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.02)
    return cond()


def scratch_left(tmp: Path) -> list[Path]:
    """Every folder or file the runs left in their private temp dir (the shared scratch root
    `lean-star-prover-UID` itself stays, as /tmp does)."""
    root = tmp / f"lean-star-prover-{os.getuid()}"
    return sorted(p for p in tmp.rglob("*") if p != root)


def env_with_tmp(tmp: Path) -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(REPO), TMPDIR=str(tmp), PROVER_CACHE=str(tmp.parent / "cache"))


# ------------------------------------------------------------------ the child's own limits


def my_lean_children() -> list[psutil.Process]:
    kids = []
    for c in psutil.Process().children(recursive=True):
        try:
            if c.status() != psutil.STATUS_ZOMBIE and any(a.endswith("Check.lean") for a in c.cmdline()):
                kids.append(c)
        except psutil.Error:
            continue
    return kids


def test_lean_children_carry_kernel_limits(lean_toolchain):
    """The memory and time limits are set in the child (RLIMIT_AS, RLIMIT_CPU): they hold with no parent."""
    from lean_env import process

    stop = threading.Event()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            process.run_lean(lean_toolchain, HANG_HEADER + "\ntheorem hang : True := (Loop.val : True)\n",
                             timeout=50, memory_mb=3000, cancel=stop)
        except BaseException as e:  # noqa: BLE001 - the cancellation lands here
            errors.append(e)

    t = threading.Thread(target=run)
    t.start()
    try:
        assert wait_until(lambda: my_lean_children(), 20)
        [child] = my_lean_children()
        limits = Path(f"/proc/{child.pid}/limits").read_text()
        cpu = next(line for line in limits.splitlines() if line.startswith("Max cpu time")).split()
        mem = next(line for line in limits.splitlines() if line.startswith("Max address space")).split()
        assert cpu[3] != "unlimited" and int(cpu[3]) == process.cpu_limit_s(50)
        assert mem[3] != "unlimited" and int(mem[3]) == process.address_space_limit_mb(3000) << 20
    finally:
        stop.set()
        t.join(10)
    assert not t.is_alive() and errors and type(errors[0]).__name__ == "LeanInterrupted"
    assert wait_until(lambda: not my_lean_children(), 2)


def test_lean_dies_with_its_parent(lean_toolchain, tmp_path):
    """SIGKILL of the Python process running Lean: the kernel kills Lean too (PR_SET_PDEATHSIG)."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    code = ("import sys; from lean_env.process import run_lean; from lean_env.toolchain import LeanToolchain; "
            "from pathlib import Path; "
            "run_lean(LeanToolchain(lean=Path(sys.argv[1])), sys.stdin.read(), timeout=100)")
    parent = subprocess.Popen([sys.executable, "-c", code, str(lean_toolchain.lean)], stdin=subprocess.PIPE, text=True,
                              env=env_with_tmp(tmp), cwd=REPO, start_new_session=True)
    parent.stdin.write(HANG_HEADER + "\ntheorem hang : True := (Loop.val : True)\n")
    parent.stdin.close()
    try:
        assert wait_until(lambda: lean_processes(str(tmp)), 30), "lean never started"
        parent.kill()
        parent.wait(10)
        assert wait_until(lambda: not lean_processes(str(tmp)), 2), "lean outlived its parent"
    finally:
        for p in lean_processes(str(tmp)):
            p.kill()
    # the dead run's scratch folder is swept by the next run that uses Lean
    assert scratch_left(tmp)
    subprocess.run([sys.executable, "-c", code, str(lean_toolchain.lean)], input=HEADER + "\n", text=True,
                   env=env_with_tmp(tmp), cwd=REPO, check=True, timeout=60)
    assert scratch_left(tmp) == []


# ------------------------------------------------------------------ interrupting `prover verify`


def _start_verify(tmp_path: Path, lean: str) -> tuple[subprocess.Popen, Path, Path]:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text(json.dumps(HONEST) + "\n" + json.dumps(HANG) + "\n", encoding="utf-8")
    cmd = [sys.executable, "-m", "prover.cli", "verify", str(src), "--out", str(out), "--lean", lean,
           "--workers", "2", "--batch-size", "1", "--timeout", "100", "--no-cache", "--no-progress"]
    proc = subprocess.Popen(cmd, cwd=REPO, env=env_with_tmp(tmp), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    ok = wait_until(lambda: out.is_file() and out.read_text().count("\n") == 1 and lean_processes(str(tmp)), 60)
    assert ok, "the honest verdict and the hanging Lean never showed up"
    return proc, out, tmp


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupt_stops_verify_and_its_lean_at_once(lean_toolchain, tmp_path, sig):
    proc, out, tmp = _start_verify(tmp_path, str(lean_toolchain.lean))
    try:
        proc.send_signal(sig)
        rc = proc.wait(timeout=15)  # the hanging Lean would run for 100 s
    finally:
        if proc.poll() is None:
            proc.kill()
    assert rc == 128 + sig, proc.stderr.read()[-2000:]
    assert wait_until(lambda: not lean_processes(str(tmp)), 2)
    assert [r["name"] for r in map(json.loads, out.read_text().splitlines())] == ["swap"]  # finished rows kept
    assert scratch_left(tmp) == []


def test_sigkill_of_verify_leaves_no_lean_running(lean_toolchain, tmp_path):
    proc, out, tmp = _start_verify(tmp_path, str(lean_toolchain.lean))
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=15)
    assert wait_until(lambda: not lean_processes(str(tmp)), 2)
    assert [r["name"] for r in map(json.loads, out.read_text().splitlines())] == ["swap"]


# ------------------------------------------------------------------ verdicts tied to the binary


def _wrapper(path: Path, real: Path, body: str | None = None) -> LeanToolchain:
    """A `lean` that reports the real version string; runs the real Lean unless `body` says otherwise."""
    version = subprocess.run([str(real), "--version"], capture_output=True, text=True).stdout.strip()
    run = body if body is not None else f'exec "{real}" "$@"'
    path.write_text(f'#!/bin/sh\nif [ "$1" = "--version" ]; then echo "{version}"; exit 0; fi\n{run}\n')
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return LeanToolchain(lean=path)


def test_the_verdict_cache_is_keyed_on_the_binary_not_its_version_string(lean_toolchain, tmp_path):
    cfg = VerifierConfig(cache=True, cache_dir=tmp_path / "cache", timeout=30)
    good = _wrapper(tmp_path / "lean-a", lean_toolchain.lean)
    first = Verifier(good, cfg).verify([HONEST])[0]
    assert first.proved and not first.cached
    assert Verifier(good, cfg).verify([HONEST])[0].cached  # the same binary: a hit
    other = _wrapper(tmp_path / "lean-b", lean_toolchain.lean, body="exit 0")  # same version string
    v = Verifier(other, cfg).verify([HONEST])[0]
    assert not v.cached and v.verdict == "error"  # asked again, and this binary cannot answer


# ------------------------------------------------------------------ binder names


def test_a_code_row_that_only_renames_binders_is_proved(lean_toolchain):
    renamed = ("theorem and_swap (a b : Prop) (hab : And a b) : And b a :=\n"
               "  And.rec (fun x y => And.intro y x) hab")
    arrow = "theorem and_swap (a b : Prop) : And a b → And b a :=\n  fun h => And.rec (fun x y => And.intro y x) h"
    changed = "theorem and_swap (a b : Prop) (hab : And a b) : And a b :=\n  hab"
    items = [dict(HONEST, proof=None, code=c) for c in (renamed, arrow, changed)]
    items = [{k: v for k, v in it.items() if v is not None} for it in items]
    out = Verifier(lean_toolchain, VerifierConfig(cache=False, timeout=30)).verify(items)
    assert [v.verdict for v in out] == ["proved", "proved", "rejected"], [v.reason for v in out]
    assert "differs from the formal_statement" in out[2].reason


def test_a_run_that_finishes_past_its_deadline_is_a_timeout(monkeypatch):
    """A child that ends within the first poll, but after its deadline, is a timeout as a killed
    one is: its verdict never depends on the poll interval (a 0 s limit is always a timeout)."""
    from lean_env import process
    from lean_env.errors import LeanTimeout

    monkeypatch.setattr(process, "_POLL_S", 10.0)  # the child surely ends within the first poll
    with pytest.raises(LeanTimeout, match="past its 0 s limit"):
        process.run_process([sys.executable, "-c", "pass"], timeout=0.0, memory_mb=None)
    rc, _, _, _, _ = process.run_process([sys.executable, "-c", "pass"], timeout=30.0, memory_mb=None)
    assert rc == 0
