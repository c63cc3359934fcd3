"""The inference-time strategies beyond best-first: value-guided best-first, REBASE, MCTS (PUCT) and
RMaxTS, the evaluator seam, and FLOPs accounting."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pytest

from core.types import Candidate, Costed, State, Usage
from doubles.oracle import OracleEvaluator, TableEvaluator
from doubles.scripted import ScriptedEnv, ScriptedWorld
from doubles.scripted_policy import ScriptedPolicy
from search.budget import Budget
from search.rebase import rebase_widths
from search.strategies import run_strategy


def world(trans: dict, props: dict, goal: str = "⊢ g") -> ScriptedWorld:
    return ScriptedWorld.from_dict({"theorems": [{"name": "t", "statement": "theorem t : g", "goal": goal}],
                                    "transitions": trans, "proposals": props})


def dead_end_world(depth: int = 4, branch: int = 3) -> ScriptedWorld:
    """Every node has tactics t0..t{b-1}, t0 the likeliest; only the path that always takes the least
    likely tactic reaches a goal that `done` closes: the most likely branch is a dead end."""
    trans: dict = {}
    props: dict = {}

    def build(goal: str, d: int, ok: bool) -> None:
        if d == depth:
            trans[goal] = {"done": [] if ok else "done failed"}
            props[goal] = [["done", -0.01]]
            return
        trans[goal], props[goal] = {}, []
        for i in range(branch):
            trans[goal][f"t{i}"] = [f"{goal}.{i}"]
            props[goal].append([f"t{i}", -0.1 * (i + 1)])
            build(f"{goal}.{i}", d + 1, ok and i == branch - 1)

    build("⊢ g", 0, True)
    return world(trans, props)


def run(strategy: str, w: ScriptedWorld, budget: Budget | None = None, evaluator=None, **cfg):
    return run_strategy(strategy, w.theorems[0].theorem(), ScriptedEnv(w), ScriptedPolicy(w), budget or Budget(),
                        evaluator=evaluator, **cfg)


# --------------------------------------------------------------------------- REBASE


def test_rebase_widths_pinned():
    assert rebase_widths([0.0, 0.0, math.log(3)], 1.0, 5) == [1, 1, 3]
    wide = rebase_widths([0.0, 0.3, 0.9], 1e9, 5)  # beta -> infinity: as equal as whole numbers allow
    assert sum(wide) == 5 and max(wide) - min(wide) <= 1
    assert rebase_widths([0.0, 0.3, 0.9], 1e-9, 5) == [0, 0, 5]  # beta -> 0: all to the best
    for rewards, beta, b in [([0.1, 0.2, 0.25, -3.0], 0.3, 7), ([1.0], 2.0, 4), ([0.5] * 6, 1.0, 4)]:
        assert sum(rebase_widths(rewards, beta, b)) == b
    assert rebase_widths([], 1.0, 3) == []
    with pytest.raises(ValueError, match="beta"):
        rebase_widths([0.0], 0.0, 3)


def test_rebase_shares_the_width_and_ends_at_the_proof():
    w = dead_end_world(depth=3)
    res = run("rebase", w, width=3, beta=1e-3, evaluator=OracleEvaluator(w))
    assert res.status == "proved" and res.proof == ["t2", "t2", "t2", "done"]
    # every level gives all its width to the one node the oracle likes: one expansion per level
    assert res.accounting.expansions == 4 and res.accounting.evaluator_calls == 3
    # flat rewards: every node of a level gets width 1, so each follows its likeliest tactic, and a
    # deterministic policy then never takes t2 below the root: 1 + 3 + 3 + 3 expansions, no proof
    even = run("rebase", w, width=3, beta=1e6)
    assert even.status == "failed" and even.accounting.expansions == 10 and even.extra["depth"] == 4


# --------------------------------------------------------------------------- MCTS


def puct_world() -> ScriptedWorld:
    """root --a--> A --a1--> A1 (a dead end), root --b--> B --b1--> B1 --b2--> (proof)."""
    return world({"⊢ g": {"a": ["⊢ A"], "b": ["⊢ B"]}, "⊢ A": {"a1": ["⊢ A1"]}, "⊢ A1": {"x": "x failed"},
                  "⊢ B": {"b1": ["⊢ B1"]}, "⊢ B1": {"b2": []}},
                 {"⊢ g": [["a", -0.1], ["b", -2.0]], "⊢ A": [["a1", -0.1]], "⊢ A1": [["x", -0.1]],
                  "⊢ B": [["b1", -0.1]], "⊢ B1": [["b2", -0.1]]})


def test_mcts_visits_and_values_match_a_hand_computation():
    """c_puct = 1, priors softmax(-0.1, -2.0) = (0.870, 0.130), values V(g)=0.5, V(A)=0.2, V(B)=0.9.
    it 1: expand g, back up 0.5 (no edge).  it 2: U(a)=0.870 > U(b)=0.130: expand A, back up 0.2.
    it 3: U(a) = 0.2 + 0.870*sqrt(2)/2 = 0.815 > U(b) = 0.130*sqrt(2) = 0.184; at A the only edge:
    expand A1, a dead end (its one tactic fails): value 0.  it 4: A is failed now, so b: expand B,
    back up 0.9.  So after 4 expansions: N(a)=2, Q(a)=0.1, N(b)=1, Q(b)=0.9."""
    w = puct_world()
    ev = TableEvaluator({"⊢ g": 0.5, "⊢ A": 0.2, "⊢ B": 0.9})
    res = run("mcts", w, Budget(expansions=4), evaluator=ev, n=2, c_puct=1.0)
    assert res.extra["root_visits"] == {"a": 2, "b": 1}
    assert res.extra["values"] == [0.5, 0.2, 0.0, 0.9]
    assert ev.seen == ["⊢ g", "⊢ A", "⊢ B"]  # a failed leaf needs no evaluator call
    assert res.status == "budget"
    done = run("mcts", w, Budget(expansions=5), evaluator=ev, n=2, c_puct=1.0)
    assert done.status == "proved" and done.proof == ["b", "b1", "b2"]


def test_mcts_is_deterministic_under_a_seed_and_needs_its_value():
    w = dead_end_world(depth=3)
    pol = ScriptedPolicy(w, sample=True)
    rows = [run_strategy("mcts", w.theorems[0].theorem(), ScriptedEnv(w), pol, Budget(expansions=12), seed=s,
                         value="rollout", n=2).to_row() for s in (5, 6, 5)]
    strip = [{k: v for k, v in r.items() if "seconds" not in k and k != "first_proof_at"} for r in rows]
    assert strip[0] == strip[2] and strip[0] != strip[1]
    with pytest.raises(ValueError, match="needs an evaluator"):
        run("mcts", w)


def test_rmaxts_rewards_only_new_states():
    """`a` makes no progress, `b` reaches a new state B; B leads back to the root and on to a new C; C
    only leads back to B.  Rewards: root (B new) 1, B (C new) 1, C (nothing new) 0; then every state
    is expanded and the search space has run out."""
    w = world({"⊢ g": {"a": ["⊢ g"], "b": ["⊢ B"]}, "⊢ B": {"back": ["⊢ g"], "c": ["⊢ C"]},
               "⊢ C": {"back": ["⊢ B"]}},
              {"⊢ g": [["a", -0.1], ["b", -0.5]], "⊢ B": [["back", -0.1], ["c", -0.3]], "⊢ C": [["back", -0.1]]})
    res = run("rmaxts", w, Budget(expansions=3), n=2)
    assert res.extra["values"] == [1.0, 1.0, 0.0]
    assert res.status == "failed" and res.accounting.expansions == 3
    again = run("rmaxts", w, Budget(expansions=3), n=2)
    assert again.to_row()["values"] == res.to_row()["values"] and len(again.tree) == len(res.tree)


def test_rmaxts_discounts_old_visits():
    from search.mcts import EdgeStats, Stats, backup
    from search.tree import SearchTree

    tree = SearchTree(State(("⊢ g",)))
    root = tree.root
    a = tree.add_child(root, Candidate("a", logprob=-0.1), State(("⊢ A",)), 0.0)
    b = tree.add_child(root, Candidate("b", logprob=-0.2), State(("⊢ B",)), 0.0)
    assert a is not None and b is not None
    st = Stats()
    ea, eb = root.children
    st.edges[id(ea)], st.edges[id(eb)] = EdgeStats(0.5), EdgeStats(0.5)
    backup(st, root, [ea], 1.0, gamma=0.5)
    backup(st, root, [eb], 0.0, gamma=0.5)
    assert st.edge(ea).visits == pytest.approx(0.5) and st.edge(ea).value_sum == pytest.approx(0.5)
    assert st.edge(eb).visits == pytest.approx(1.0) and st.edge(eb).q == 0.0


# --------------------------------------------------------------------------- the oracle makes the difference


@pytest.mark.parametrize("strategy,cfg", [
    ("best-first", {"n": 3, "value_weight": 1.0}),
    ("best-first", {"n": 3, "value_weight": 0.5}),
    ("rebase", {"width": 3, "beta": 0.1}),
    ("mcts", {"n": 3}),
])
def test_the_oracle_beats_logprob_best_first_on_a_dead_end_world(strategy, cfg):
    w = dead_end_world(depth=4)
    plain = run("best-first", w, n=3)
    guided = run(strategy, w, evaluator=OracleEvaluator(w), **cfg)
    assert plain.status == guided.status == "proved"
    assert guided.proof == plain.proof == ["t2", "t2", "t2", "t2", "done"]
    assert guided.accounting.expansions < plain.accounting.expansions, (guided.accounting, plain.accounting)
    assert guided.accounting.evaluator_calls > 0 and guided.accounting.evaluator_states > 0


def test_value_guided_best_first_needs_an_evaluator_and_a_valid_weight():
    w = dead_end_world(depth=2)
    with pytest.raises(ValueError, match="needs an evaluator"):
        run("best-first", w, value_weight=0.5)
    with pytest.raises(ValueError, match="value_weight=1.5"):
        run("best-first", w, evaluator=OracleEvaluator(w), value_weight=1.5)

    class Wrong:
        def score(self, states: Sequence[State]) -> list[float]:
            return [2.0 for _ in states]

    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        run("best-first", w, evaluator=Wrong(), value_weight=1.0)


# --------------------------------------------------------------------------- FLOPs


class CostedPolicy:
    """The scripted policy, reporting a fixed usage per call: 10 prompt tokens a state, the
    candidates' tokens generated, 1000 parameters."""

    def __init__(self, w: ScriptedWorld) -> None:
        self.inner = ScriptedPolicy(w)
        self.usages: list[Usage] = []

    def propose(self, states: Sequence[State], n: int) -> list[list[Candidate]]:
        out = self.inner.propose(states, n)
        u = Usage(10 * len(states), sum(c.tokens for cs in out for c in cs), 1000)
        self.usages.append(u)
        return Costed(out, u)


class CostedEvaluator(OracleEvaluator):
    def score(self, states: Sequence[State]) -> list[float]:
        return Costed(super().score(states), Usage(5 * len(states), 0, 200))


def test_flops_sum_policy_and_evaluator_and_are_a_budget():
    w = dead_end_world(depth=3)
    pol = CostedPolicy(w)
    res = run_strategy("best-first", w.theorems[0].theorem(), ScriptedEnv(w), pol, Budget(), n=3,
                       value_weight=0.5, evaluator=CostedEvaluator(w))
    acc = res.accounting
    want_policy = sum(u.flops for u in pol.usages)
    want_eval = 2 * 200 * 5 * acc.evaluator_states
    assert acc.flops == pytest.approx(want_policy + want_eval) and want_policy > 0
    assert acc.prompt_tokens == 10 * acc.expansions and acc.policy_parameters == 1000
    assert acc.evaluator_parameters == 200 and acc.evaluator_tokens == 5 * acc.evaluator_states
    for cap in (0.0, 3e4, 6e4, 1e5):
        small = run_strategy("best-first", w.theorems[0].theorem(), ScriptedEnv(w), CostedPolicy(w),
                             Budget(flops=cap), n=3, value_weight=0.5, evaluator=CostedEvaluator(w))
        # only the first call can overshoot (its cost is not known before it runs)
        assert small.accounting.flops <= cap or small.accounting.model_calls == 1, (cap, small.accounting)
    assert Budget.parse("flops=1e12").flops == 1e12


def test_the_cli_takes_an_evaluator_and_refuses_a_strategy_that_needs_one(tmp_path, capsys):
    import json

    from prover.cli import main

    w = tmp_path / "w.json"
    d = dead_end_world(depth=3)
    w.write_text(json.dumps({"theorems": [{"name": "t", "statement": "theorem t : g", "goal": "⊢ g"}],
                             "transitions": d.transitions, "proposals": {k: [list(x) for x in v]
                                                                         for k, v in d.proposals.items()}}))
    base = ["search", "--theorems", str(w), "--env", f"scripted:{w}", "--policy", f"scripted:{w}",
            "--budget", "expansions=40", "--no-progress"]
    assert main([*base, "--strategy", "mcts", "--out", str(tmp_path / "none.jsonl")]) == 2
    assert "needs an evaluator" in capsys.readouterr().err and not (tmp_path / "none.jsonl").exists()
    out = tmp_path / "bf.jsonl"
    assert main([*base, "--strategy", "best-first", "--n", "3", "--config", "value_weight=1.0",
                 "--evaluator", f"oracle:{w}", "--out", str(out)]) == 0
    row = json.loads(out.read_text().splitlines()[0])
    assert row["status"] == "proved" and row["expansions"] == 4 and row["evaluator_calls"] == 3
    run = json.loads((tmp_path / "bf.run.json").read_text())
    assert run["evaluator"] == f"oracle:{w}" and run["evaluator_id"]
