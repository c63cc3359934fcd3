"""ReplPool: header-warm processes, check out / return, recycling, restarts, waiting."""

from __future__ import annotations

import threading
from pathlib import Path

import psutil
import pytest

from doubles.repl_double import double_command
from lean_env.errors import LeanCrashed, LeanTimeout
from lean_env.pool import ReplPool

REPO = Path(__file__).resolve().parent.parent
WORLDS = Path(__file__).resolve().parent / "data" / "worlds"
BACKOFF = WORLDS / "backoff.json"
FAULTS = WORLDS / "faults.json"

IMP = "theorem imp_self' (p : Prop) : p → p := by sorry"
TWO = "theorem two_add_two (n : Nat) (h : n = 2) : n + n = 4 := by sorry"


def _pool(world=BACKOFF, **kw: object) -> ReplPool:
    kw.setdefault("timeout", 10.0)
    return ReplPool(double_command("--world", str(world)), cwd=REPO, header="import Mathlib", **kw)  # type: ignore[arg-type]


def test_processes_are_header_warm_and_shared_by_threads() -> None:
    with _pool(size=2) as pool:
        assert all(c.alive and c.header_env == 0 and c.requests == 1 for c in pool._clients)
        results: list[list[str]] = []
        errors: list[BaseException] = []

        def work() -> None:
            try:
                for _ in range(5):
                    with pool.client(timeout=10) as repl:
                        ps = repl.command(IMP, repl.header_env).sorries[0].proof_state
                        results.append(repl.run_tactic("intro hp", ps or 0).goals)
            except BaseException as e:   # surfaced below
                errors.append(e)

        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert not errors and len(results) == 20
        assert all(g == ["p : Prop\nhp : p\n⊢ p"] for g in results)
        assert pool.stats.checkouts == 20
        assert sum(c.generation for c in pool._clients) == 2     # no restarts


def test_recycles_after_max_requests() -> None:
    with _pool(size=1, max_requests=3) as pool:
        c = pool.checkout()
        pid = c.pid
        for _ in range(2):
            c.command(IMP, c.header_env)
        pool.checkin(c)          # header + 2 = 3 requests: recycled
        assert pool.stats.recycled_requests == 1
        with pool.client() as c2:
            assert c2 is c and c.pid != pid and c.generation == 2 and c.header_env == 0
            assert c.requests == 1
        assert pid is not None and not psutil.pid_exists(pid)


def test_recycles_past_the_memory_mark() -> None:
    with _pool(size=1, memory_mark_mb=1.0) as pool:    # any process is past 1 MiB
        with pool.client() as c:
            c.command(IMP, c.header_env)
        assert pool.stats.recycled_memory == 1
    with _pool(size=1, memory_mark_mb=10_000) as pool:
        with pool.client() as c:
            c.command(IMP, c.header_env)
        assert pool.stats.recycled_memory == 0


def test_a_client_killed_by_a_fault_comes_back_warm() -> None:
    with _pool(FAULTS, size=1) as pool:
        with pool.client() as c:
            ps = c.command(TWO, c.header_env).sorries[0].proof_state
            with pytest.raises(LeanCrashed):
                c.run_tactic("crash_now", ps or 0)
        assert pool.stats.restarted_dead == 1 and c.alive and c.header_env == 0
        with pool.client() as c:
            assert c.command(TWO, c.header_env).sorries


def test_checkout_waits_then_times_out() -> None:
    with _pool(size=1) as pool:
        held = pool.checkout()
        with pytest.raises(LeanTimeout, match="became free"):
            pool.checkout(timeout=0.2)
        threading.Timer(0.2, pool.checkin, args=(held,)).start()
        with pool.client(timeout=5) as c:
            assert c is held


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="size"):
        ReplPool(["true"], size=0)
    with _pool(size=1) as pool, pytest.raises(ValueError, match="does not belong"):
        other = _pool(size=1, warm=False)
        try:
            pool.checkin(other._clients[0])
        finally:
            other.close()
