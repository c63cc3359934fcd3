"""The warm Lean worker (lean_env/lean_server.py) against the real embedded Lean: the same
messages as a fresh `lean --json` run, one process across calls, the limits of a fresh process
(deadline, memory cap, kernel limits, stop_all), and LeanTermEnv's use of it: the same verdicts as
without it, a fresh process whenever it fails, and no warm worker once its verdicts disagree."""

from __future__ import annotations

import io
import json
import queue
import threading
import time
from collections import Counter

import psutil
import pytest

from core.types import Failed, Open, Theorem
from eval.logic import prelude_text
from lean_env.errors import LeanCrashed, LeanInterrupted, LeanMemoryExceeded, LeanTimeout
from lean_env.lean_server import _EOF, WarmLean, _read_frames, utf16_to_column
from lean_env.process import LeanRun, address_space_limit_mb, resume_all, run_lean, stop_all
from lean_env.term_env import LeanTermEnv

CANDIDATES = [
    "theorem A0 (p q : Prop) (hp : p) (hq : q) : And p q :=\n  And.intro ?_ hq\n",
    "theorem A1 (p q : Prop) (hp : p) : Or p q :=\n  (Or.inr hp)\n",  # a type error
    "theorem A2 (p : Prop) (h : p) : p :=\n  h\n",  # fine
    "theorem A3 (p : Prop) : p :=\n  sorry\n",  # no `sorry` in the prelude: unknown identifier
    "theorem A4 (α : Type) (P : α → Prop) (h : ∀ x, P x) (a : α) : Exists fun x => P x :=\n  Exists.intro ?_ ?_\n",
    "theorem A5 (p : Prop) (hp : p) : p := -- 𝔸𝔹 an astral comment, then an error on the next line\n  (q hp)\n",
    "theorem A6 (p : Prop) : p :=\n  let 𝔸 := True.intro; (𝔸 ?_)\n",  # astral characters before an error column
]


def file(header: str, parts: list[str]) -> str:
    return header.rstrip("\n") + "\n\n" + "\n".join(parts)


def key(run: LeanRun) -> Counter:
    return Counter((m.severity, m.pos.line, m.pos.column, m.end_pos, m.data) for m in run.messages)


@pytest.fixture(scope="module")
def header() -> str:
    return prelude_text()


def test_utf16_offsets_become_code_point_columns() -> None:
    assert utf16_to_column("abc", 2) == 2
    assert utf16_to_column("⊢ p", 2) == 2  # BMP: one unit a character
    assert utf16_to_column("𝔸x y", 3) == 2  # 𝔸 takes two units
    assert utf16_to_column("𝔸𝔹 z", 5) == 3


def test_warm_messages_are_those_of_a_fresh_run(lean_toolchain, header) -> None:
    warm = WarmLean(lean_toolchain, timeout=60)
    try:
        for rnd in range(3):  # the same worker, new texts: only the changed commands are elaborated
            parts = [c.replace("theorem A", f"theorem R{rnd}A") for c in CANDIDATES]
            text = file(header, parts)
            got, want = warm.run(text), run_lean(lean_toolchain, text, extra_args=("-DmaxErrors=0",))
            assert key(got) == key(want) and len(got.messages) >= 8
            assert got.returncode == want.returncode == 1
        assert warm.starts == 1 and warm.calls == 3
        many = file(header, [f"theorem B{i} (p : Prop) : p :=\n  (nope{i} ?_)\n" for i in range(120)])
        got, want = warm.run(many), run_lean(lean_toolchain, many, extra_args=("-DmaxErrors=0",))
        assert key(got) == key(want) and sum(m.severity == "error" for m in got.messages) >= 120  # nothing cut
        # the messages came a few at a time (Lean's incremental diagnostics), not all so far after each command
        assert warm.reports["incremental"] >= 10 and warm.reports["full"] <= 2
        ok = file(header, ["theorem C0 (p : Prop) (h : p) : p :=\n  h\n"])
        assert warm.run(ok).messages == [] and warm.run(ok).returncode == 0
    finally:
        warm.close()


def test_progress_and_reference_frames_are_not_decoded() -> None:
    def frame(obj: dict) -> bytes:
        body = json.dumps(obj, separators=(",", ":")).encode()
        return b"Content-Length: %d\r\n\r\n" % len(body) + body

    stream = io.BytesIO(frame({"jsonrpc": "2.0", "method": "$/lean/fileProgress", "params": {"x": 1}})
                        + frame({"jsonrpc": "2.0", "method": "$/lean/ileanInfoUpdate", "params": {}})
                        + frame({"jsonrpc": "2.0", "method": "textDocument/publishDiagnostics", "params": {}})
                        + frame({"id": "w", "jsonrpc": "2.0", "result": {}}))
    out: queue.Queue = queue.Queue()
    _read_frames(stream, out)
    got = [out.get_nowait() for _ in range(out.qsize())]
    assert [g.get("method", g.get("id")) if isinstance(g, dict) else g for g in got] == [
        "textDocument/publishDiagnostics", "w", _EOF]


def test_the_worker_runs_under_the_limits_of_a_fresh_process(lean_toolchain, header) -> None:
    warm = WarmLean(lean_toolchain, timeout=30, memory_mb=2048, max_cpu_s=100)
    try:
        warm.run(file(header, CANDIDATES[:1]))
        proc = psutil.Process(warm._proc.pid)
        soft_as, _ = proc.rlimit(psutil.RLIMIT_AS)
        assert soft_as >= address_space_limit_mb(2048) << 20  # the cap plus the worker's thread reservations
        soft_cpu, _ = proc.rlimit(psutil.RLIMIT_CPU)
        assert 100 < soft_cpu <= 100 + 2 * 30 + 5
    finally:
        warm.close()
    assert not psutil.pid_exists(proc.pid) or proc.status() == psutil.STATUS_ZOMBIE


def test_the_worker_dies_with_a_killed_parent(lean_toolchain, header, tmp_path) -> None:
    """PR_SET_PDEATHSIG: SIGKILL the Python process that started a worker; the worker goes too."""
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    (tmp_path / "h.lean").write_text(file(header, CANDIDATES[:1]), encoding="utf-8")
    code = ("import sys; from pathlib import Path; from lean_env.lean_server import WarmLean; "
            "from lean_env.toolchain import LeanToolchain; "
            f"w = WarmLean(LeanToolchain(lean=Path({str(lean_toolchain.lean)!r}), embedded=True)); "
            f"w.run(Path({str(tmp_path / 'h.lean')!r}).read_text()); print(w._proc.pid, flush=True); "
            "import time; time.sleep(60)")
    root = Path(__file__).resolve().parent.parent
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=root,
                              env={**os.environ, "PYTHONPATH": str(root)})
    try:
        pid = int(parent.stdout.readline())
        assert psutil.pid_exists(pid)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 5
        while psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
            assert time.monotonic() < deadline, "the worker outlived its parent"
            time.sleep(0.05)
    finally:
        if parent.poll() is None:
            parent.kill()


def test_timeouts_memory_and_stop_all_kill_the_worker_and_a_later_call_starts_anew(lean_toolchain, header) -> None:
    text = file(header, CANDIDATES)
    warm = WarmLean(lean_toolchain, timeout=0.0)
    try:
        with pytest.raises(LeanTimeout):
            warm.run(text)
        assert warm._proc is None
        warm.timeout = 60
        assert key(warm.run(text)) == key(run_lean(lean_toolchain, text, extra_args=("-DmaxErrors=0",)))
        assert warm.starts == 2
    finally:
        warm.close()
    small = WarmLean(lean_toolchain, timeout=60, memory_mb=20)  # Lean alone holds more than 20 MiB
    try:
        with pytest.raises(LeanMemoryExceeded):
            small.run(text)
    finally:
        small.close()
    big = file(header, [c.replace("theorem A", f"theorem S{i}A") for i in range(40) for c in CANDIDATES])
    warm = WarmLean(lean_toolchain, timeout=60)
    try:
        warm.run(file(header, CANDIDATES[:1]))
        timer = threading.Timer(0.05, stop_all)
        timer.start()
        with pytest.raises(LeanInterrupted):
            warm.run(big)
        timer.join()
        with pytest.raises(LeanInterrupted):  # nothing starts while stopping
            warm.run(text)
    finally:
        resume_all()
        warm.close()


def test_a_worker_that_died_between_calls_is_replaced_and_one_that_dies_in_a_call_raises(lean_toolchain,
                                                                                          header) -> None:
    text = file(header, CANDIDATES)
    warm = WarmLean(lean_toolchain, timeout=60)
    try:
        warm.run(text)
        warm._proc.kill()
        warm._proc.wait()
        assert key(warm.run(text)) == key(run_lean(lean_toolchain, text, extra_args=("-DmaxErrors=0",)))
        assert warm.starts == 2
        big = file(header, [c.replace("theorem A", f"theorem K{i}A") for i in range(40) for c in CANDIDATES])
        pid = warm._proc.pid
        threading.Timer(0.05, lambda: psutil.Process(pid).kill()).start()
        with pytest.raises(LeanCrashed):
            warm.run(big)
    finally:
        warm.close()


STEPS_THEOREMS = [
    ("and_swap", "theorem and_swap (p q : Prop) : And p q → And q p :=",
     ["fun h => ?_", "And.intro ?_ ?_", "h.1", "h.2", "h", "And.intro h.2 h.1", "Or.inl ?_", "fun x => x"]),
    ("ex_mono", "theorem ex_mono (α : Type) (P Q : α → Prop) (h : ∀ x : α, P x → Q x) "
                "(he : Exists fun x => P x) : Exists fun x => Q x :=",
     ["Exists.elim he (fun x hx => ?_)", "Exists.intro ?_ ?_", "he", "Exists.intro x ?_", "nope ?_", "fun y => ?_"]),
]


def _steps(env: LeanTermEnv, header: str) -> list:
    thms = [Theorem(n, header, s) for n, s, _ in STEPS_THEOREMS]
    starts = env.start_many(thms)
    steps = [(st, f) for st, (_, _, fs) in zip(starts, STEPS_THEOREMS, strict=True) for f in fs]
    firsts = env.apply_batch(steps)
    deeper = [(o.state, f) for o in firsts if isinstance(o, Open) for f in ("h.2", "?_", "And.intro ?_ ?_", "x")]
    return firsts + env.apply_batch(deeper)


def test_term_env_verdicts_are_the_same_warm_and_cold(lean_toolchain, header) -> None:
    with LeanTermEnv(lean_toolchain, warm=False) as cold, LeanTermEnv(lean_toolchain, warm=True) as warm:
        want, got = _steps(cold, header), _steps(warm, header)
        assert got == want
        assert any(isinstance(o, Open) for o in got) and any(isinstance(o, Failed) for o in got)
        assert cold.warm_runs == 0 and warm.warm_runs == warm.lean_runs == cold.lean_runs >= 3
        assert warm.warm_checks == 1 and warm.warm_disabled is None and warm.warm_fallbacks == 0
    with LeanTermEnv(lean_toolchain, warm=True, warm_max_candidates=2) as capped:
        assert _steps(capped, header) == want
        assert capped.warm_runs < capped.lean_runs  # the larger files ran cold


def test_term_env_falls_back_to_a_fresh_process_and_gives_up_warm_on_disagreement(lean_toolchain, header,
                                                                                   monkeypatch) -> None:
    with LeanTermEnv(lean_toolchain, warm=False) as cold:
        want = _steps(cold, header)

    def crash(self, source, cancel=None):
        raise LeanCrashed("simulated")

    with monkeypatch.context() as m:
        m.setattr(WarmLean, "run", crash)
        with LeanTermEnv(lean_toolchain, warm=True) as env:
            assert _steps(env, header) == want
            assert env.warm_runs == 0 and env.warm_fallbacks == env.lean_runs >= 3

    real = WarmLean.run

    def lossy(self, source, cancel=None):  # a worker that loses messages must not be trusted
        run = real(self, source, cancel)
        return LeanRun(run.returncode, run.messages[1:], "", "", run.seconds)

    with monkeypatch.context() as m:
        m.setattr(WarmLean, "run", lossy)
        with LeanTermEnv(lean_toolchain, warm=True) as env:
            assert _steps(env, header) == want
            assert env.warm_disabled is not None and env.warm_runs == 1


def test_no_worker_outlives_its_env(lean_toolchain, header) -> None:
    with LeanTermEnv(lean_toolchain, warm=True, workers=2, batch_size=4) as env:
        _steps(env, header)
        pids = [w._proc.pid for w in env._warm_idle if w._proc is not None]
        assert pids
    time.sleep(0.1)
    assert all(not psutil.pid_exists(p) or psutil.Process(p).status() == psutil.STATUS_ZOMBIE for p in pids)
