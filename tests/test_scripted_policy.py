"""The scripted policy and the env/policy factories."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from core.proof_text import render_tactic_proof as tactics_text
from core.types import Candidate, Policy, Proved, State, Theorem, WholeProofPolicy
from doubles.scripted import ScriptedEnv, ScriptedWorld
from doubles.scripted_policy import ScriptedPolicy
from prover.factory import make_env, make_policy

WORLD = Path(__file__).resolve().parent / "data" / "worlds" / "search_backoff.json"
G0 = "p q : Prop\nhp : p\nhq : q\n⊢ p ∧ q"
GP = "case left\np q : Prop\nhp : p\nhq : q\n⊢ p"
GQ = "case right\np q : Prop\nhp : p\nhq : q\n⊢ q"


def test_top_n_with_logprobs_thoughts_and_tokens():
    pol = ScriptedPolicy.from_file(WORLD)
    assert isinstance(pol, Policy) and isinstance(pol, WholeProofPolicy)
    [cands] = pol.propose([State((G0,))], 3)
    assert [(c.tactic, c.logprob) for c in cands] == [("simp", -0.1), ("skip", -0.3), ("constructor", -0.6)]
    assert cands[2].thought == "A conjunction: prove each side separately."
    assert cands[2].tokens == len(cands[2].thought.split()) + 1 and cands[1].tokens == 1
    # a state of two goals is looked up by its first goal; an unknown state gets nothing
    two, unknown = pol.propose([State((GP, GQ)), State(("⊢ nothing here",))], 5)
    assert [c.tactic for c in two] == ["exact hq", "exact hp"] and unknown == []
    with pytest.raises(ValueError, match="n must be at least 1"):
        pol.propose([State((G0,))], 0)


def test_sampling_follows_the_logprobs_and_the_seed():
    w = ScriptedWorld.load(WORLD)
    pol = ScriptedPolicy(w, seed=5, sample=True, temperature=1.0)
    draws = Counter(pol.propose([State((G0,))], 1)[0][0].tactic for _ in range(3000))
    # p ∝ exp(logprob): simp (-0.1) is drawn about e^0.5 ≈ 1.65 times as often as constructor (-0.6)
    assert 1.3 < draws["simp"] / draws["constructor"] < 2.1
    assert set(draws) == {t for t, _ in w.proposals[G0]}
    hot = ScriptedPolicy(w, seed=5, sample=True, temperature=100.0)
    flat = Counter(hot.propose([State((G0,))], 1)[0][0].tactic for _ in range(3000))
    assert max(flat.values()) / min(flat.values()) < 1.35  # a high temperature flattens the choice
    a = ScriptedPolicy(w, seed=1, sample=True)
    b = ScriptedPolicy(w, seed=1, sample=True)
    seq_a = [c.tactic for _ in range(20) for c in a.propose([State((G0,))], 3)[0]]
    assert seq_a == [c.tactic for _ in range(20) for c in b.propose([State((G0,))], 3)[0]]
    a.reseed(1)
    assert seq_a == [c.tactic for _ in range(20) for c in a.propose([State((G0,))], 3)[0]]
    # n draws are distinct tactics
    assert len({c.tactic for c in a.propose([State((G0,))], 6)[0]}) == 6
    # temperature 0 or sample=False: the top candidates, whatever the seed
    cold = ScriptedPolicy(w, seed=9, sample=True, temperature=0.0)
    assert [c.tactic for c in cold.propose([State((G0,))], 2)[0]] == ["simp", "skip"]
    with pytest.raises(ValueError, match="temperature"):
        ScriptedPolicy(w, temperature=-1)


def test_whole_proofs():
    pol = ScriptedPolicy.from_file(WORLD)
    th = Theorem("and_intro", "", "theorem and_intro (p q : Prop) (hp : p) (hq : q) : p ∧ q := by")
    [top] = pol.propose_proofs([th], 2)
    assert [c.tactic for c in top] == ["simp\ntrivial", "constructor\nexact hq\nexact hq"]
    assert pol.propose_proofs([Theorem("other", "", "theorem other : True := by")], 3) == [[]]
    sampler = ScriptedPolicy.from_file(WORLD, sample=True, seed=3)
    drawn = sampler.propose_proofs([th], 40)[0]
    assert len(drawn) == 40 and len({c.tactic for c in drawn}) == 3  # independent draws repeat
    assert all(isinstance(c, Candidate) and c.tokens == len(c.tactic.split()) for c in drawn)


def test_a_whole_script_runs_in_the_scripted_env():
    w = ScriptedWorld.load(WORLD)
    env = ScriptedEnv(w)
    th = w.find("and_intro").theorem()
    root = env.start(th)
    assert isinstance(env.apply(root, "constructor\n  -- the left side\n  exact hp\nexact hq"), Proved)
    assert "type mismatch" in env.apply(root, "constructor\nexact hq").message
    assert env.check(th, tactics_text(["constructor\nexact hp\nexact hq"])).ok


def test_bad_world_extras_are_reported(tmp_path):
    data = json.loads(WORLD.read_text(encoding="utf-8"))
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**data, "proofs": {"t": [["only a script"]]}}), encoding="utf-8")
    with pytest.raises(ValueError, match="bad.json: 'proofs'"):
        ScriptedPolicy.from_file(bad)
    bad.write_text(json.dumps({**data, "thoughts": {"g": "not an object"}}), encoding="utf-8")
    with pytest.raises(ValueError, match="'thoughts'"):
        ScriptedPolicy.from_file(bad)


def test_factories_build_the_scripted_pair_and_reject_bad_specs(tmp_path):
    env = make_env(f"scripted:{WORLD}")
    pol = make_policy(f"scripted:{WORLD}", seed=4, temperature=0.5, sample=True, fmt="thought")
    assert isinstance(env, ScriptedEnv) and isinstance(pol, ScriptedPolicy)
    assert pol.sampling and pol.temperature == 0.5
    for spec in ("scripted", "scripted:"):
        with pytest.raises(ValueError, match="give the world file"):
            make_env(spec)
    with pytest.raises(FileNotFoundError, match="nope.json"):
        make_policy(f"scripted:{tmp_path / 'nope.json'}")
    with pytest.raises(ValueError, match="unknown env spec 'lean'"):
        make_env("lean")
    with pytest.raises(ValueError, match="unknown policy spec"):
        make_policy("gpt")
    with pytest.raises(ValueError, match="unknown option"):
        make_policy(f"scripted:{WORLD}", beams=3)
    with pytest.raises(ValueError, match="checkpoint"):
        make_policy("model:")


def test_repl_env_needs_a_repl_binary():
    from lean_env.errors import LeanNotFound

    with pytest.raises(LeanNotFound, match="REPL"):
        make_env("repl", lean="embedded")


@pytest.mark.slow
def test_model_policy_through_the_factory(tmp_path):
    """A micro model trained on the world's own solutions, built by the factory from its folder with
    the options applied, proves the world's theorem in best-first search; the untrained model it
    started from does not."""
    from doubles.scripted import ScriptedEnv
    from prover.tiny import examples_from_world
    from prover.train import TrainConfig, train_sft
    from search.budget import Budget
    from search.strategies import run_strategy

    w = ScriptedWorld.load(WORLD)
    thm = w.find("and_intro").theorem()
    cfg = TrainConfig(epochs=80, lr=0.005, batch_size=8, device="cpu", tiny_size="micro", log_every=1000)
    final = train_sft(examples_from_world(w), tmp_path / "m", cfg, fmt="tactic", progress=False)
    results = {}
    for name, path in (("trained", final), ("untrained", tmp_path / "m" / "init")):
        pol = make_policy(f"model:{path}", fmt="tactic", device="cpu", temperature=0.7, seed=3,
                          generation={"max_new_tokens": 8})
        assert (pol.config.temperature, pol.config.seed, pol.config.max_new_tokens) == (0.7, 3, 8)
        results[name] = run_strategy("best-first", thm, ScriptedEnv(w), pol, Budget(expansions=6), n=4)
    res = results["trained"]
    assert res.status == "proved" and ScriptedEnv(w).check(thm, res.proof_text).ok
    assert res.accounting.model_seconds > 0 and res.accounting.tokens > 0
    assert results["untrained"].status != "proved"
