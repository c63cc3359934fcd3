"""ReplClient against the scripted-world double: protocol, numbering, pickling and every fault."""

from __future__ import annotations

import time
from pathlib import Path

import psutil
import pytest

from doubles.repl_double import double_command
from lean_env.errors import LeanCrashed, LeanMemoryExceeded, LeanNotFound, LeanProtocolError, LeanTimeout
from lean_env.repl import CommandResult, ReplClient, ReplCommandError, TacticResult, parse_response

REPO = Path(__file__).resolve().parent.parent
WORLDS = Path(__file__).resolve().parent / "data" / "worlds"
BACKOFF = WORLDS / "backoff.json"
FAULTS = WORLDS / "faults.json"

IMP = "theorem imp_self' (p : Prop) : p → p"
TWO = "theorem two_add_two (n : Nat) (h : n = 2) : n + n = 4"
HEADER = "import Mathlib\nopen Nat"


def _client(world: Path = BACKOFF, *extra: str, **kw: object) -> ReplClient:
    kw.setdefault("timeout", 10.0)
    return ReplClient(double_command("--world", str(world), *extra), cwd=REPO, **kw)  # type: ignore[arg-type]


def test_env_and_proof_state_numbering_like_the_repl() -> None:
    with _client(header=HEADER) as c:
        assert c.header_env == 0
        r1 = c.command(IMP + " := by sorry", c.header_env)
        assert r1.env == 1 and [s.proof_state for s in r1.sorries] == [0]
        assert r1.sorries[0].goal == "p : Prop\n⊢ p → p"
        assert [m.data for m in r1.messages] == ["declaration uses `sorry`"] and not r1.errors
        t1 = c.run_tactic("intro hp", 0)
        assert (t1.proof_state, t1.goals, t1.proof_status) == (1, ["p : Prop\nhp : p\n⊢ p"], "Incomplete: open goals remain")
        t2 = c.run_tactic("exact hp", 1)
        assert (t2.proof_state, t2.goals, t2.proof_status, t2.complete) == (2, [], "Completed", True)
        # backtracking: proof state 1 is still there
        t3 = c.run_tactic("assumption", 1)
        assert t3.proof_state == 3 and t3.complete
        r2 = c.command(IMP + " := by sorry", c.header_env)
        assert r2.env == 2 and r2.sorries[0].proof_state == 4
        assert c.requests == 6 and c.generation == 1


def test_refusals_are_typed_and_leave_the_process_alone() -> None:
    with _client() as c:
        env = c.command("").env
        ps = c.command(IMP + " := by sorry", env).sorries[0].proof_state
        assert ps is not None
        with pytest.raises(ReplCommandError, match="unknown tactic") as ei:
            c.run_tactic("no_such_tactic", ps)
        assert ei.value.request == {"tactic": "no_such_tactic", "proofState": ps}
        with pytest.raises(ReplCommandError, match="simp made no progress"):
            c.run_tactic("simp", ps)
        with pytest.raises(ReplCommandError, match="Unknown proof state"):
            c.run_tactic("intro hp", 99)
        with pytest.raises(ReplCommandError, match="Unknown environment"):
            c.command("def x := 1", 42)
        assert c.run_tactic("intro hp", ps).goals == ["p : Prop\nhp : p\n⊢ p"]
        assert c.generation == 1 and c.faults == 0


def test_whole_proof_commands_report_errors_sorries_and_axioms() -> None:
    with _client() as c:
        env = c.command("").env
        ok = c.command(IMP + " := by\n  -- a thought\n  intro hp\n  exact hp\n\n#print axioms imp_self'", env)
        assert not ok.errors and [m.data for m in ok.messages] == ["'imp_self'' does not depend on any axioms"]
        bad = c.command(IMP + " := by\n  intro hp", env)
        assert [m.data for m in bad.errors] == ["unsolved goals\np : Prop\nhp : p\n⊢ p"]
        wrong = c.command(IMP + " := by\n  simp", env)
        assert wrong.errors[0].data == "simp made no progress" and wrong.errors[0].pos is not None
        assert (wrong.errors[0].pos.line, wrong.errors[0].pos.column) == (2, 2)
        sorry = c.command(IMP + " := by\n  intro hp\n  sorry\n#print axioms imp_self'", env)
        assert not sorry.errors and len(sorry.sorries) == 1
        assert "'imp_self'' depends on axioms: [sorryAx]" in [m.data for m in sorry.messages]


def test_pickling_round_trips(tmp_path: Path) -> None:
    with _client() as c:
        env = c.command("").env
        ps = c.command(IMP + " := by sorry", env).sorries[0].proof_state
        assert ps is not None
        assert c.pickle_env(env, tmp_path / "e.olean") == env
        env2 = c.unpickle_env(tmp_path / "e.olean")
        assert env2 == 2
        pk = c.pickle_proof_state(ps, tmp_path / "p.olean")
        assert pk.goals == ["p : Prop\n⊢ p → p"] and pk.proof_state == ps + 1
        back = c.unpickle_proof_state(tmp_path / "p.olean", env2)
        assert back.goals == pk.goals and back.proof_state == ps + 2
        assert c.run_tactic("intro hp", back.proof_state).goals == ["p : Prop\nhp : p\n⊢ p"]
        with pytest.raises(ReplCommandError, match="no such file"):
            c.unpickle_env(tmp_path / "missing.olean")


def test_parse_response_rejects_bad_shapes() -> None:
    with pytest.raises(LeanProtocolError):
        parse_response({"cmd": "x"}, {"messages": []})                # no env
    with pytest.raises(LeanProtocolError):
        parse_response({"tactic": "x", "proofState": 0}, {"proofState": 1})   # no goals
    with pytest.raises(LeanProtocolError):
        parse_response({"cmd": "x"}, {"env": 0, "messages": "oops"})
    with pytest.raises(ReplCommandError):
        parse_response({"cmd": "x"}, {"message": "Unknown environment."})
    assert isinstance(parse_response({"cmd": "x"}, {"env": 3}), CommandResult)
    assert isinstance(parse_response({"pickleTo": "a", "proofState": 0}, {"proofState": 1, "goals": []}), TacticResult)


def test_missing_repl_binary_is_lean_not_found(tmp_path: Path) -> None:
    c = ReplClient([str(tmp_path / "no-such-repl")], timeout=5)
    with pytest.raises(LeanNotFound, match="cannot start the REPL"):
        c.command("")


def _fault_client(**kw: object) -> tuple[ReplClient, int]:
    c = _client(FAULTS, header=HEADER, **kw)
    c.start()
    res = c.command(TWO + " := by sorry", c.header_env)
    ps = res.sorries[0].proof_state
    assert ps is not None
    return c, ps


def _check_recovered(c: ReplClient, old_pid: int | None, generation: int) -> None:
    """After a fault: the old process is gone, the next call starts a fresh one with the header
    elaborated again (env 0), and it works."""
    assert old_pid is not None and not psutil.pid_exists(old_pid) or psutil.Process(old_pid).status() == "zombie"
    res = c.command(TWO + " := by sorry", c.header_env if c.alive else None)
    assert c.generation == generation + 1 and c.header_env == 0
    t = c.run_tactic("rw [h]", res.sorries[0].proof_state or 0)
    assert t.goals == ["n : Nat\nh : n = 2\n⊢ 2 + 2 = 4"]


def test_crash_raises_lean_crashed_and_recovers() -> None:
    c, ps = _fault_client()
    with c:
        pid, gen = c.pid, c.generation
        with pytest.raises(LeanCrashed, match="exited with code 1.*INTERNAL PANIC"):
            c.run_tactic("crash_now", ps)
        assert not c.alive and c.faults == 1
        _check_recovered(c, pid, gen)


def test_hang_raises_lean_timeout_within_the_deadline_and_recovers() -> None:
    c, ps = _fault_client(timeout=5.0)
    with c:
        pid, gen = c.pid, c.generation
        t0 = time.monotonic()
        with pytest.raises(LeanTimeout):
            c.run_tactic("spin", ps, timeout=0.5)
        assert time.monotonic() - t0 < 2.0
        _check_recovered(c, pid, gen)


def test_garbage_raises_protocol_error_and_recovers() -> None:
    c, ps = _fault_client()
    with c:
        pid, gen = c.pid, c.generation
        with pytest.raises(LeanProtocolError, match="not a JSON response"):
            c.run_tactic("babble", ps)
        _check_recovered(c, pid, gen)


def test_invalid_json_response_is_a_protocol_error() -> None:
    # a process that answers with a brace but not JSON, then a blank line
    script = "import sys\nfor line in sys.stdin:\n    if not line.strip():\n        print('{not json', flush=True); print(flush=True)\n"
    with ReplClient([__import__("sys").executable, "-c", script], timeout=5) as c:
        with pytest.raises(LeanProtocolError, match="invalid JSON"):
            c.command("")


def test_memory_cap_kills_and_recovers() -> None:
    c, ps = _fault_client(memory_mb=150, timeout=20.0)
    with c:
        pid, gen = c.pid, c.generation
        t0 = time.monotonic()
        with pytest.raises(LeanMemoryExceeded, match="cap 150 MiB"):
            c.run_tactic("hog", ps)
        assert time.monotonic() - t0 < 10.0
        _check_recovered(c, pid, gen)


def test_process_that_dies_while_idle_is_restarted() -> None:
    with _client(header=HEADER) as c:
        pid = c.pid
        assert pid is not None
        psutil.Process(pid).kill()
        psutil.Process(pid).wait(5)
        res = c.command(IMP + " := by sorry", c.header_env)
        assert c.generation == 2 and res.sorries and c.header_env == 0


def test_close_leaves_no_process() -> None:
    c = _client()
    c.start()
    pid = c.pid
    c.close()
    assert pid is not None and not psutil.pid_exists(pid)
    c.close()   # idempotent


def test_a_process_that_never_reads_cannot_block_the_write() -> None:
    import sys
    with ReplClient([sys.executable, "-c", "import time; time.sleep(60)"], timeout=5) as c:
        t0 = time.monotonic()
        with pytest.raises(LeanTimeout, match="room for the request"):
            c.command("x" * (4 << 20), timeout=0.5)    # far more than a pipe buffer holds
        assert time.monotonic() - t0 < 3.0 and not c.alive


@pytest.mark.parametrize("from_thread", [False, True])
def test_the_repl_process_carries_kernel_limits_and_dies_with_its_parent(tmp_path: Path, from_thread: bool) -> None:
    """RLIMIT_AS from `memory_mb` (as for `lean`), no CPU limit (one process serves many requests);
    a SIGKILLed parent takes the REPL with it: PR_SET_PDEATHSIG when the main thread started it, the
    end of its stdin when a worker thread did (the signal would fire when that thread ends)."""
    import subprocess
    import sys

    from lean_env.process import address_space_limit_mb

    with _client(memory_mb=2000) as c:
        assert c.pid is not None
        limits = Path(f"/proc/{c.pid}/limits").read_text().splitlines()
        space = next(line for line in limits if line.startswith("Max address space")).split()
        cpu = next(line for line in limits if line.startswith("Max cpu time")).split()
        assert int(space[3]) == address_space_limit_mb(2000) << 20 and cpu[3] == "unlimited"
    pid_file = tmp_path / "pid"
    code = ("import sys, time; from pathlib import Path; from doubles.repl_double import double_command; "
            "from lean_env.repl import ReplClient; "
            f"c = ReplClient(double_command('--world', {str(BACKOFF)!r}), cwd={str(REPO)!r}); "
            + ("import threading; t = threading.Thread(target=c.start); t.start(); t.join(); " if from_thread
               else "c.start(); ")
            + f"Path({str(pid_file)!r}).write_text(str(c.pid)); time.sleep(60)")
    parent = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while not (pid_file.is_file() and pid_file.read_text()) and time.monotonic() < deadline:
            time.sleep(0.05)
        child = psutil.Process(int(pid_file.read_text()))
        time.sleep(0.5)  # the starting thread has ended: the REPL must still be serving
        assert child.is_running() and child.status() != psutil.STATUS_ZOMBIE
        parent.kill()
        parent.wait(10)
        child.wait(5)  # gone: psutil.TimeoutExpired otherwise
        assert not child.is_running()
    finally:
        parent.kill()
