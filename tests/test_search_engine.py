"""The strategy engine on scripted worlds: back-off, exhaustion, budgets, dedup, the verifier gate,
determinism, prefix-monotone budgets."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from core.types import Candidate, ProofCheck, State, Theorem
from doubles.oracle import TableEvaluator
from doubles.scripted import ScriptedEnv, ScriptedWorld
from doubles.scripted_policy import ScriptedPolicy
from search.budget import Budget
from search.engine import logprob_score
from search.sampling import SampleConfig
from search.strategies import STRATEGIES, get_strategy, make_config, run_strategy
from search.tree import NO_GOALS, Status

FAILED, OPEN, PROVED = Status.FAILED, Status.OPEN, Status.PROVED

WORLD = Path(__file__).resolve().parent / "data" / "worlds" / "search_backoff.json"
G0 = "p q : Prop\nhp : p\nhq : q\n⊢ p ∧ q"
G1 = "p q : Prop\nhp : p\nhq : q\n⊢ q ∧ p ∧ True"
GP = "case left\np q : Prop\nhp : p\nhq : q\n⊢ p"
GQ = "case right\np q : Prop\nhp : p\nhq : q\n⊢ q"
SPLIT = GP + "\n\n" + GQ


def best_first(theorem, env, pol, budget, config=None):
    return run_strategy("best-first", theorem, env, pol, budget, config)


def only(strategy: str, **cfg) -> dict:
    """The fields of `cfg` that strategy's config has (tests give one dict to several strategies)."""
    names = get_strategy(strategy).config.__dataclass_fields__
    return {k: v for k, v in cfg.items() if k in names}


def world() -> ScriptedWorld:
    return ScriptedWorld.load(WORLD)


def thm(name: str, w: ScriptedWorld | None = None) -> Theorem:
    return (w or world()).find(name).theorem()


def policy(**kw) -> ScriptedPolicy:
    return ScriptedPolicy.from_file(WORLD, **kw)


def tree_world(depth: int = 5, branch: int = 3, good: int | None = None) -> ScriptedWorld:
    """A full tree: every node has `branch` tactics t0..t{b-1} (t0 likeliest); only the path that
    always takes tactic `good` (default: the least likely) reaches a goal that `done` closes."""
    good = branch - 1 if good is None else good
    trans: dict = {}
    props: dict = {}

    def build(goal: str, d: int, ok: bool) -> None:
        if d == depth:
            trans[goal] = {"done": [] if ok else "done failed"}
            props[goal] = [["done", -0.01]]
            return
        trans[goal], props[goal] = {}, []
        for i in range(branch):
            child = f"{goal}.{i}"
            trans[goal][f"t{i}"] = [child]
            props[goal].append([f"t{i}", -0.1 * (i + 1)])
            build(child, d + 1, ok and i == good)

    build("⊢ g", 0, True)
    return ScriptedWorld.from_dict({"theorems": [{"name": "tree", "statement": "theorem tree : g", "goal": "⊢ g"}],
                                    "transitions": trans, "proposals": props})


class RejectingEnv(ScriptedEnv):
    """The scripted env whose whole-proof check rejects proofs using a given tactic (all if None)."""

    def __init__(self, w: ScriptedWorld, bad: str | None = None) -> None:
        super().__init__(w)
        self.bad = bad
        self.checked: list[list[str]] = []

    def check(self, theorem: Theorem, proof: str) -> ProofCheck:
        self.checked.append(proof)
        if self.bad is None or self.bad in proof:
            return ProofCheck(False, "", "rejected by the test")
        return super().check(theorem, proof)


class RecordingPolicy:
    """Wraps a policy and records the batch size of every call."""

    def __init__(self, inner: ScriptedPolicy) -> None:
        self.inner = inner
        self.calls: list[int] = []

    def propose(self, states: Sequence[State], n: int) -> list[list[Candidate]]:
        self.calls.append(len(states))
        return self.inner.propose(states, n)


# --------------------------------------------------------------------------- budgets and config


def test_budget_parse_and_errors():
    b = Budget.parse("expansions=64, tokens=5000,seconds=2.5")
    assert (b.expansions, b.env_calls, b.tokens, b.seconds) == (64, None, 5000, 2.5)
    assert Budget.parse("") == Budget()
    assert str(Budget.parse(str(b))) == str(b)
    for bad, part in [("expansion=3", "expansion=3"), ("tokens=x", "tokens=x"), ("seconds", "seconds"),
                      ("expansions=1,expansions=2", "expansions=2"), ("env_calls=1.5", "env_calls=1.5")]:
        with pytest.raises(ValueError, match=part):
            Budget.parse(bad)
    with pytest.raises(ValueError, match="non-negative"):
        Budget(expansions=-1)


def test_config_rejects_unknown_and_bad_values():
    with pytest.raises(ValueError, match="widht"):
        make_config("beam", {"widht": 3})
    with pytest.raises(ValueError, match="width"):  # a field of another strategy is unknown here
        make_config("best-first", {"width": 3})
    with pytest.raises(ValueError, match="n=0"):
        make_config("best-first", {"n": 0})
    with pytest.raises(ValueError, match="stop_at_first=1"):
        make_config("sample", {"stop_at_first": 1})
    with pytest.raises(ValueError, match="samples=2.5 must be an integer"):
        make_config("sample", {"samples": 2.5})
    assert make_config("sample", SampleConfig(samples=2), retries=3) == SampleConfig(samples=2, retries=3)
    with pytest.raises(ValueError, match="unknown search strategy"):
        run_strategy("dfs", thm("and_intro"), ScriptedEnv(world()), policy(), Budget())
    with pytest.raises(ValueError, match="Budget"):
        best_first(thm("and_intro"), ScriptedEnv(world()), policy(), {"expansions": 3})  # type: ignore[arg-type]


# --------------------------------------------------------------------------- best-first


def test_best_first_backs_off_from_the_greedy_choice():
    w = world()
    # the greedy step-by-step choice (`simp`, then `trivial`) is a dead end
    greedy = run_strategy("sample", thm("and_intro", w), ScriptedEnv(w), policy(), Budget(), samples=1, retries=3)
    assert greedy.status == "failed"
    res = best_first(thm("and_intro", w), ScriptedEnv(w), policy(), Budget(expansions=20), {"n": 3})
    assert res.status == "proved"
    assert res.proof == ["constructor", "exact hp", "exact hq"]
    assert res.thoughts == ["A conjunction: prove each side separately.", "hp is exactly the left side.", ""]
    assert "-- A conjunction: prove each side separately.\n  constructor" in res.proof_text
    g = res.tree.to_networkx()
    assert g.nodes[G0]["status"] == PROVED and g.nodes[SPLIT]["status"] == PROVED
    # G1 loops back to the root (`simp_all`), so once the root is proved G1 is proved through it
    assert g.has_edge(G1, G0) and g.nodes[G1]["status"] == PROVED
    assert [f["tactic"] for f in g.nodes[G1]["failures"]] == ["trivial", "assumption"]
    assert any(f["tactic"] == "skip" and f["kind"] == "no_progress" for f in g.nodes[G0]["failures"])
    assert res.failures["no_progress"] >= 1 and res.to_row()["failures"] == res.failures
    assert res.to_row()["states"] == [G0, SPLIT, GQ]  # the state each proof step was applied to
    # the dead end was tried first: the greedy node was expanded before the split
    assert g.nodes[G1]["expanded_at"] < g.nodes[SPLIT]["expanded_at"]
    assert res.first_proof_at is not None and res.first_proof_at.expansions == res.accounting.expansions == 4


def test_best_first_fails_when_the_space_runs_out():
    res = best_first(thm("em_stuck"), ScriptedEnv(world()), policy(), Budget(expansions=100))
    assert res.status == "failed" and res.proof == [] and res.first_proof_at is None
    assert res.accounting.expansions == 4
    assert all(n.status == FAILED for n in res.tree.nodes.values())


def test_best_first_stops_on_budget():
    res = best_first(thm("and_intro"), ScriptedEnv(world()), policy(), Budget(expansions=2), {"n": 3})
    assert res.status == "budget" and res.accounting.expansions == 2 and res.proof == []


def test_same_state_twice_is_one_node():
    w = world()
    res = best_first(thm("and_intro", w), ScriptedEnv(w), policy(), Budget(expansions=20), {"n": 4})
    g = res.tree.to_networkx()
    # `constructor` and `refine ⟨?_, ?_⟩` reach the same goals; `simp_all` leads back to the root
    assert list(g.nodes).count(SPLIT) == 1
    assert g.has_edge(G1, G0)
    assert len(g) == len({G0, G1, SPLIT, GQ, NO_GOALS})
    assert res.extra["nodes"] == len(g)
    expanded = [k for k, d in g.nodes(data=True) if d["expanded_at"] is not None]
    assert sorted(d["expanded_at"] for k, d in g.nodes(data=True) if k in expanded) == list(
        range(1, res.accounting.expansions + 1))  # every expansion a distinct node


def test_length_normalisation_sets_priorities():
    assert logprob_score(True)(-1.2, 3, None) == pytest.approx(-0.4) and logprob_score(False)(-1.2, 3, None) == -1.2
    w = tree_world(depth=5, branch=2, good=0)
    plain = best_first(thm("tree", w), ScriptedEnv(w), policy_for(w), Budget(), {"n": 2})
    norm = best_first(thm("tree", w), ScriptedEnv(w), policy_for(w), Budget(), {"n": 2, "length_normalize": True})
    node = "⊢ g.0.1"
    assert plain.tree[node].priority == pytest.approx(-0.3)
    assert norm.tree[node].priority == pytest.approx(-0.15)
    assert plain.status == norm.status == "proved"
    # summed logprobs punish depth: the plain run expands breadth first, the normalised one dives
    assert norm.accounting.expansions < plain.accounting.expansions


def policy_for(w: ScriptedWorld, **kw) -> ScriptedPolicy:
    return ScriptedPolicy(w, **kw)


def test_expand_batch_proposes_for_several_nodes_at_once():
    w = tree_world(depth=3, branch=3)
    one = best_first(thm("tree", w), ScriptedEnv(w), policy_for(w), Budget(), {"n": 3})
    rec = RecordingPolicy(policy_for(w))
    batched = best_first(thm("tree", w), ScriptedEnv(w), rec, Budget(), {"n": 3, "expand_batch": 4})
    assert batched.status == one.status == "proved" and batched.proof == one.proof == ["t2", "t2", "t2", "done"]
    assert rec.calls[0] == 1 and max(rec.calls) == 4 and sum(rec.calls) == batched.accounting.expansions
    assert len(rec.calls) < batched.accounting.expansions


# --------------------------------------------------------------------------- budgets honoured exactly


@pytest.mark.parametrize("strategy", list(STRATEGIES))
def test_budgets_are_honoured_exactly(strategy):
    w = tree_world(depth=4, branch=3)
    pol = policy_for(w, sample=strategy in ("sample", "whole"))
    pol.proofs = {"tree": [("t0\nt0\nt0\nt0\ndone", -1.0), ("t2\nt2\nt2\nt2\ndone", -2.0), ("t1\nt1", -3.0)]}
    cfg = {"n": 3, "samples": 6, "width": 2, "retries": 1, "proof_batch": 2}
    for n in range(0, 12):
        for field in ("expansions", "env_calls", "tokens"):
            res = run_strategy(strategy, thm("tree", w), ScriptedEnv(w), pol, Budget(**{field: n}), seed=n,
                               evaluator=TableEvaluator({}, default=0.5), **only(strategy, **cfg))
            if field == "tokens" and res.accounting.tokens > n:  # the documented exception:
                assert res.accounting.model_calls == 1  # the first call, whose cost nobody knows
            else:
                assert getattr(res.accounting, field) <= n, (field, n, res.accounting)
            if res.status == "budget":
                assert res.proof == []
            if res.first_proof_at is not None:
                assert getattr(res.first_proof_at, field) <= getattr(res.accounting, field)


def test_seconds_budget_stops_the_search():
    w = tree_world(depth=8, branch=3)
    res = best_first(thm("tree", w), ScriptedEnv(w), policy_for(w), Budget(seconds=0.0), {"n": 3})
    assert res.status == "budget" and res.accounting.expansions == 0


def test_best_first_is_prefix_monotone():
    """A run with a smaller budget does exactly the first part of a larger run, so `first_proof_at`
    of the large run decides every smaller budget."""
    w = tree_world(depth=3, branch=3)
    big = best_first(thm("tree", w), ScriptedEnv(w), policy_for(w), Budget(expansions=500), {"n": 3})
    assert big.status == "proved"
    fe, fc = big.first_proof_at.expansions, big.first_proof_at.env_calls
    assert fe > 5 and fc < big.accounting.env_calls + 1
    for n in range(fe - 3, fe + 3):
        small = best_first(thm("tree", w), ScriptedEnv(w), policy_for(w), Budget(expansions=n), {"n": 3})
        assert small.status == ("proved" if n >= fe else "budget"), n
        if small.proved:
            assert small.proof == big.proof and small.first_proof_at.expansions == fe
    for c in (fc - 1, fc):
        small = best_first(thm("tree", w), ScriptedEnv(w), policy_for(w), Budget(env_calls=c), {"n": 3})
        assert small.status == ("proved" if c >= fc else "budget")
        assert small.accounting.env_calls == c


def test_tokens_first_proof_and_accounting_fields():
    w = tree_world(depth=2, branch=2)
    res = best_first(thm("tree", w), ScriptedEnv(w), policy_for(w), Budget(), {"n": 2})
    row = res.to_row()
    for k in ("expansions", "env_calls", "tokens", "model_seconds", "lean_seconds", "wall_seconds"):
        assert k in row and k in row["first_proof_at"]
    # one token a one-word tactic: a node costs as many tokens as it got candidates
    expanded = [k for k, n in res.tree.nodes.items() if n.expanded_at is not None]
    assert row["tokens"] == sum(min(2, len(w.proposals[k])) for k in expanded) > 0
    assert row["model_calls"] == row["expansions"] == len(expanded)
    assert row["lean_seconds"] > 0 and row["wall_seconds"] >= row["model_seconds"] + row["lean_seconds"] - 1e-9


# --------------------------------------------------------------------------- the verifier gate


def test_a_rejected_proof_is_not_proved():
    w = world()
    env = RejectingEnv(w)
    res = best_first(thm("and_intro", w), env, policy(), Budget(expansions=50), {"n": 6})
    assert res.status == "failed" and res.proof == [] and res.proof_text == ""
    assert res.extra["rejected_proofs"] == len(env.checked) >= 2
    assert res.tree[G0].status != PROVED
    assert res.failures["check_rejected"] == len(env.checked)


def test_search_goes_on_after_a_rejected_proof():
    w = world()
    env = RejectingEnv(w, bad="⟨hp, hq⟩")
    res = best_first(thm("and_intro", w), env, policy(), Budget(expansions=50), {"n": 6})
    assert res.status == "proved" and res.proof == ["constructor", "exact hp", "exact hq"]
    assert env.checked[0] == "\n  exact ⟨hp, hq⟩" and res.extra["rejected_proofs"] == 1
    assert res.accounting.checks == 2


@pytest.mark.parametrize("strategy", ["beam", "sample", "whole"])
def test_every_strategy_is_gated(strategy):
    w = world()
    env = RejectingEnv(w)
    res = run_strategy(strategy, thm("and_intro", w), env, policy(sample=True), Budget(expansions=60), seed=1,
                       **only(strategy, n=6, samples=8, width=3))
    assert res.status != "proved" and res.proof == [] and env.checked


# --------------------------------------------------------------------------- other strategies


def test_beam_width_one_follows_the_greedy_path_and_wider_beams_back_off():
    w = world()
    narrow = run_strategy("beam", thm("and_intro", w), ScriptedEnv(w), policy(), Budget(), n=3, width=1)
    wide = run_strategy("beam", thm("and_intro", w), ScriptedEnv(w), policy(), Budget(), n=3, width=2)
    assert narrow.status == "failed"
    assert wide.status == "proved" and wide.proof == ["constructor", "exact hp", "exact hq"]
    assert wide.extra["depth"] == 2


def test_step_sampling_pass_at_k_and_successes():
    w = world()
    res = run_strategy("sample", thm("and_intro", w), ScriptedEnv(w), policy(sample=True, temperature=1.0),
                       Budget(), seed=7, samples=16, retries=2, max_depth=6)
    assert res.status == "proved"
    assert 1 <= res.extra["successes"] <= 16 and res.extra["samples"] == 16
    assert res.extra["finished"] == 16
    assert env_replays(w, "and_intro", res.proof)


def env_replays(w: ScriptedWorld, name: str, tactics: list[str]) -> bool:
    from core.proof_text import render_tactic_proof

    return ScriptedEnv(w).check(thm(name, w), render_tactic_proof(tactics)).ok


def test_step_sampling_resamples_a_failed_step_r_times():
    w = world()

    class AlwaysWrong:
        def propose(self, states, n):
            return [[Candidate("exact hp", "", -0.1, 1)] for _ in states]

    for r in (0, 1, 3):
        res = run_strategy("sample", thm("and_intro", w), ScriptedEnv(w), AlwaysWrong(), Budget(), samples=5,
                           retries=r)
        assert res.status == "failed" and res.accounting.expansions == 5 * (r + 1)


def test_sampling_is_deterministic_under_a_seed():
    w = world()

    def go(seed: int, pol: ScriptedPolicy) -> dict:
        row = run_strategy("sample", thm("and_intro", w), ScriptedEnv(w), pol, Budget(), seed=seed,
                           samples=6).to_row()
        return {k: v for k, v in row.items() if "seconds" not in k and k != "first_proof_at"}

    shared = policy(sample=True)
    a = go(3, shared)
    go(4, shared)  # another search in between must not change what seed 3 gives
    assert go(3, shared) == a == go(3, policy(sample=True, seed=99))
    assert len({str(go(s, shared)) for s in range(8)}) > 1


def test_whole_proof_sampling():
    w = world()
    env = ScriptedEnv(w)
    greedy = run_strategy("whole", thm("and_intro", w), env, policy(), Budget(), samples=4, proof_batch=2)
    # a greedy policy repeats its top two scripts; each distinct script is tried once
    assert greedy.status == "failed" and greedy.accounting.env_calls == 2 and greedy.accounting.expansions == 4
    res = run_strategy("whole", thm("and_intro", w), env, policy(), Budget(), samples=3, proof_batch=3)
    assert res.status == "proved" and res.proof == ["constructor\nexact hp\nexact hq"]
    assert res.extra == {**res.extra, "samples": 3, "successes": 1}
    assert res.first_proof_at.expansions == 3 and res.accounting.model_calls == 1
    sampled = run_strategy("whole", thm("and_intro", w), env, policy(sample=True), Budget(), seed=2, samples=30)
    assert sampled.status == "proved" and sampled.accounting.env_calls <= 3  # one env call per distinct script
    with pytest.raises(TypeError, match="propose_proofs"):
        run_strategy("whole", thm("and_intro", w), env, RecordingPolicy(policy()), Budget())


def test_policy_output_is_validated():
    w = world()

    class Short:
        def propose(self, states, n):
            return []

    with pytest.raises(ValueError, match="0 lists for 1 states"):
        best_first(thm("and_intro", w), ScriptedEnv(w), Short(), Budget())


@pytest.mark.parametrize("strategy,cfg", [("sample", {"samples": 8}), ("whole", {"samples": 10, "proof_batch": 4})])
def test_sampling_is_prefix_monotone_with_the_scripted_policy(strategy, cfg):
    w = world()
    found = 0
    for seed in range(4):
        big = run_strategy(strategy, thm("and_intro", w), ScriptedEnv(w), policy(sample=True), Budget(), seed=seed,
                           stop_at_first=True, **cfg)
        if big.first_proof_at is None:
            continue
        found += 1
        f = big.first_proof_at.expansions
        for b, status in ((f - 1, "budget"), (f, "proved")):
            small = run_strategy(strategy, thm("and_intro", w), ScriptedEnv(w), policy(sample=True),
                                 Budget(expansions=b), seed=seed, **cfg)
            assert small.status == status and (status != "proved" or small.proof == big.proof)
    assert found >= 3


@pytest.mark.parametrize("cfg", [{"n": 2, "expand_batch": 4}, {"n": 2, "expand_batch": 3}, {"n": 2}])
def test_graph_statuses_stay_consistent(cfg):
    """Expanded nodes hold every outcome of their candidates (none cut short by the proof that ended the
    batch), and every status agrees with the children's."""
    w = tree_world(depth=3, branch=2, good=0)
    for strategy in ("best-first", "beam"):
        res = run_strategy(strategy, thm("tree", w), ScriptedEnv(w), policy_for(w), Budget(),
                           **only(strategy, width=3, **cfg))
        assert res.status == "proved"
        g = res.tree.to_networkx()
        for k, d in g.nodes(data=True):
            kids = [g.nodes[c]["status"] for c in g.successors(k)]
            if d["expanded"] and k != NO_GOALS:
                assert len(kids) + len(d["failures"]) == min(2, len(w.proposals[k])), (strategy, k)
            want = PROVED if (k == NO_GOALS or PROVED in kids) else (
                FAILED if d["expanded"] and all(s == FAILED for s in kids) else OPEN)
            assert d["status"] == want, (strategy, k)


def test_a_new_strategy_is_one_module_and_one_registry_line():
    import greedy_strategy  # noqa: F401  (registers "greedy"; nothing else in the project changes)

    assert STRATEGIES["greedy"].config is greedy_strategy.GreedyConfig
    w = world()
    res = run_strategy("greedy", thm("and_intro", w), ScriptedEnv(w), policy(), Budget(), n=3)
    # greedy follows the likeliest child (`simp`), a dead end: best-first backs off, greedy cannot
    assert res.status == "failed" and res.extra["depth"] == 1 and res.to_row()["failures"]
    w2 = tree_world(depth=3, branch=2, good=0)
    ok = run_strategy("greedy", thm("tree", w2), ScriptedEnv(w2), policy_for(w2), Budget(expansions=9), n=2)
    assert ok.status == "proved" and ok.proof == ["t0", "t0", "t0", "done"] and ok.accounting.expansions == 4
    with pytest.raises(ValueError, match="unknown field"):
        run_strategy("greedy", thm("and_intro", w), ScriptedEnv(w), policy(), Budget(), width=2)
