"""ReplEnv over several REPL processes (a ReplPool), against the scripted double: one batch answered
by several processes, the same outcomes as one process, states that go back to the process that
made them or are rebuilt by replay, and the env/policy specs that reach it from the CLI."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

from core.errors import MissingDependency
from core.types import Failed, Open, Proved, State
from doubles.repl_double import double_command
from doubles.scripted import ScriptedWorld
from lean_env.pool import ReplPool
from lean_env.repl_env import ReplEnv, ReplHandle
from prover.factory import check_env_spec, make_env, make_policy, parse_env_spec

REPO = Path(__file__).resolve().parent.parent
WORLDS = Path(__file__).resolve().parent / "data" / "worlds"
BACKOFF = WORLDS / "backoff.json"
FAULTS = WORLDS / "faults.json"
THMS = {t.name: t.theorem() for t in ScriptedWorld.load(BACKOFF).theorems}
AND_SWAP_STEPS = ["constructor", "obtain ⟨hp, hq⟩ := h", "simp", "exact ⟨h.2, h.1⟩", "bogus", "exact h.1"]


def _env(workers: int, world: Path = BACKOFF, **kw: object) -> ReplEnv:
    kw.setdefault("timeout", 10.0)
    return ReplEnv(double_command("--world", str(world)), cwd=REPO, workers=workers, **kw)  # type: ignore[arg-type]


def _summary(out: object) -> tuple:
    if isinstance(out, Open):
        return ("open", out.state.goals)
    if isinstance(out, Failed):
        return ("failed", out.message, out.kind)
    assert isinstance(out, Proved)
    return ("proved",)


def test_a_batch_is_answered_by_both_processes_with_the_outcomes_of_one():
    with _env(1) as one, _env(2) as two:
        assert two.workers == 2 and len({c.pid for c in two.clients}) == 2
        root1, root2 = one.start(THMS["and_swap"]), two.start(THMS["and_swap"])
        assert set(two.assign([root2.handle] * len(AND_SWAP_STEPS))) == {0, 1}  # split over both
        before = [c.total_requests for c in two.clients]
        outs1 = one.apply_batch([(root1, t) for t in AND_SWAP_STEPS])
        outs2 = two.apply_batch([(root2, t) for t in AND_SWAP_STEPS])
        assert [_summary(o) for o in outs2] == [_summary(o) for o in outs1]
        assert all(c.total_requests > b for c, b in zip(two.clients, before, strict=True))
        # the states made on either process keep working, wherever their next step runs
        opened = [(a.state, b.state) for a, b in zip(outs1, outs2, strict=True) if isinstance(a, Open)]
        nxt = ["exact h.2", "constructor", "exact ⟨hq, hp⟩"]
        ref = one.apply_batch([(a, t) for a, _ in opened for t in nxt])
        got = two.apply_batch([(b, t) for _, b in opened for t in nxt])
        assert [_summary(o) for o in got] == [_summary(o) for o in ref]
        assert {"open", "proved", "failed"} <= {_summary(o)[0] for o in got}


def test_a_state_goes_back_to_its_process_without_a_replay():
    with _env(2) as env:
        a, b = env.start(THMS["and_swap"]), env.start(THMS["imp_self'"])
        assert (a.handle.worker, b.handle.worker) == (0, 1)  # theorems take turns over the processes
        before = [c.total_requests for c in env.clients]
        out = env.apply(b, "intro hp")
        assert isinstance(out, Open) and out.state.handle.worker == 1
        after = [c.total_requests for c in env.clients]
        assert after == [before[0], before[1] + 1]  # one request, on the state's own process
        assert isinstance(env.apply(out.state, "exact hp"), Proved)


def test_assignment_counts_the_replay_of_a_state_moved_elsewhere():
    with _env(2) as env:
        root = env.start(THMS["and_swap"])
        deep = ReplHandle(root.handle.generation, root.handle.proof_state, root.handle.theorem,
                          ("t1", "t2", "t3", "t4", "t5", "t6"), root.handle.worker)
        # a deep state: moving one step costs 8 requests (root + 6 tactics + the step); staying costs 1
        assert env.assign([deep] * 3) == [deep.worker] * 3
        # the root state: a move costs 2 (root + the step), so of four steps the third moves: both
        # processes are then done after 3 requests (staying: 4); ties stay on the state's process
        assert env.assign([root.handle] * 4) == [0, 0, 1, 0]
        assert env.assign([root.handle] * 6) == [0, 0, 1, 0, 1, 0]


def test_states_of_a_restarted_process_are_rebuilt():
    two = ScriptedWorld.load(FAULTS).theorems[0].theorem()
    with _env(2, FAULTS, timeout=5.0) as env:
        root = env.start(two)
        w = root.handle.worker
        gen = env.clients[w].generation
        crash = env.apply(root, "crash_now")
        assert isinstance(crash, Failed) and crash.kind == "crash"
        after = env.apply(root, "rw [h]")  # the process died: the root is rebuilt by replay
        assert isinstance(after, Open)
        assert env.clients[after.state.handle.worker].generation >= gen
        assert isinstance(env.apply(after.state, "rfl"), Proved)
        assert env.check(two, "\n  rw [h]\n  rfl").ok


def test_an_env_on_a_shared_pool_leaves_it_running():
    pool = ReplPool(double_command("--world", str(BACKOFF)), cwd=REPO, size=2, timeout=10.0)
    try:
        with ReplEnv(pool=pool) as env:
            s = env.start(THMS["imp_self'"])
            assert isinstance(env.apply(s, "intro hp"), Open)
        assert all(c.alive for c in pool.clients)
        with pool.client(timeout=5) as c:  # every process was checked back in
            assert c.alive
    finally:
        pool.close()


def test_bad_constructions_are_refused():
    with pytest.raises(ValueError, match="workers"):
        ReplEnv(["true"], workers=0)
    with pytest.raises(ValueError, match="exactly one"):
        ReplEnv()
    with pytest.raises(ValueError, match="index"):
        ReplPool(["true"], size=1, warm=False).checkout(index=3)


# -- the specs that reach it from the CLI -----------------------------------------------------------


def test_env_spec_options_are_parsed_and_checked():
    assert parse_env_spec("repl") == ("repl", {})
    assert parse_env_spec("repl:workers=4") == ("repl", {"workers": 4})
    assert parse_env_spec("lean-term:workers=2") == ("lean-term", {"workers": 2})
    assert parse_env_spec("dojo:timeout=30,max_sessions=2") == ("dojo", {"timeout": 30, "max_sessions": 2})
    assert parse_env_spec(f"double:{BACKOFF},workers=2") == ("double", {"workers": 2})
    for bad, words in [("repl:workers=0", "positive integer"), ("repl:workers=two", "positive integer"),
                       ("repl:pool=2", "unknown option 'pool'"), ("dojo:workers=2", "unknown option"),
                       ("lean", "unknown env spec")]:
        with pytest.raises(ValueError, match=words):
            parse_env_spec(bad)
    with pytest.raises(ValueError, match="scripted world not found"):
        check_env_spec("double:nope.json", "cfg")
    check_env_spec(f"scripted:{BACKOFF}")


def test_the_double_spec_builds_a_pooled_env():
    with make_env(f"double:{BACKOFF}", workers=2, timeout=10.0) as env:
        assert isinstance(env, ReplEnv) and env.workers == 2
        s = env.start(THMS["imp_self'"])
        assert [type(o) for o in env.apply_batch([(s, "intro hp"), (s, "exact id"), (s, "simp")])] == [
            Open, Proved, Failed]


def test_the_dojo_spec_needs_lean_dojo_or_a_stand_in():
    from test_dojo_adapter import THM, make_factory

    try:
        import lean_dojo  # noqa: F401
    except ImportError:
        from lean_env.errors import LeanNotFound

        with pytest.raises(LeanNotFound, match=r"lean_dojo is not installed.*\[dojo\]"):
            make_env("dojo")
    opened: list[str] = []
    env = make_env("dojo:max_sessions=2,timeout=30", dojo_factory=make_factory(opened, []))
    assert env.max_sessions == 2
    root = env.start(THM)
    assert isinstance(env.apply(root, "constructor"), Open) and opened == ["and_swap"]
    env.close()


class _FakeLLM:
    """vLLM's `LLM` as the policy uses it: generate(prompts, params) -> RequestOutputs."""

    def __init__(self, model: str, seed: int = 0, **kw: object) -> None:
        self.model, self.seed = model, seed

    def generate(self, prompts, params, use_tqdm=False):
        one = types.SimpleNamespace(text="exact hp\n[END]", token_ids=[1, 2, 3], cumulative_logprob=-0.5,
                                    finish_reason="stop", stop_reason=None)
        return [types.SimpleNamespace(outputs=[one] * params.n) for _ in prompts]


class _FakeParams:
    def __init__(self, n: int = 1, **kw: object) -> None:
        self.n, self.kw = n, kw


def test_the_vllm_spec_says_what_is_missing_and_works_with_a_stand_in(monkeypatch):
    try:
        import vllm  # noqa: F401
    except ImportError:
        with pytest.raises(MissingDependency, match="vllm is not installed.*GPU"):
            make_policy("vllm:some/model")
    else:
        pytest.skip("vllm is installed; the missing-package path cannot be exercised")
    monkeypatch.setitem(sys.modules, "vllm", types.SimpleNamespace(LLM=_FakeLLM, SamplingParams=_FakeParams))
    pol = make_policy("vllm:some/model", fmt="tactic", temperature=0.5, seed=7, generation={"max_new_tokens": 9})
    assert (pol.llm.model, pol.config.temperature, pol.config.seed, pol.config.max_new_tokens) == (
        "some/model", 0.5, 7, 9)
    cands = pol.propose([State(("p : Prop\nhp : p\n⊢ p",))], 2)
    assert [c.tactic for c in cands[0]] == ["exact hp"]


def test_the_cli_prints_a_missing_backend_instead_of_a_traceback(tmp_path, capsys):
    try:
        import vllm  # noqa: F401
        pytest.skip("vllm is installed")
    except ImportError:
        pass
    from prover.cli import main

    rc = main(["search", "--theorems", str(BACKOFF), "--env", f"scripted:{BACKOFF}", "--policy", "vllm:x",
               "--out", str(tmp_path / "r.jsonl"), "--no-progress"])
    assert rc == 1 and "vllm is not installed" in capsys.readouterr().err
