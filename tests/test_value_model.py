"""The learned evaluator: a tiny value model trained on a synthetic world's search trees separates
solvable from dead-end states of held-out theorems; training resumes exactly; the model plugs into
value-guided search through `evaluator:DIR` with its FLOPs counted."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch

from core.types import State
from doubles.scripted import ScriptedEnv, ScriptedWorld
from doubles.scripted_policy import ScriptedPolicy
from prover.cli import main as prover
from prover.factory import make_evaluator
from prover.train import TrainConfig
from prover.value_data import rows_from_trees, split_by_theorem
from prover.value_model import VALUE_FILE, ModelEvaluator, train_evaluator
from prover.value_report import auc, evaluator_report
from search.budget import Budget
from search.export import to_data
from search.strategies import run_strategy

torch.set_num_threads(1)

NAMES = ["p", "q", "r", "s", "a", "b", "c", "x", "y", "z"]


def synthetic_world(n: int = 48, seed: int = 0) -> ScriptedWorld:
    return ScriptedWorld.from_dict(synthetic_world_data(n, seed))


def synthetic_world_data(n: int = 48, seed: int = 0) -> dict:
    """Theorem i: the likeliest tactic leads into a dead end one or two steps deep (every step there
    fails), a less likely one to a state that `exact h` closes.  Dead-end goals are `Stuck ...`,
    solvable ones `Ready ...`, amid varying hypotheses: a learnable cue that must carry over to
    theorems never seen in training."""
    rng = random.Random(seed)
    theorems, trans, props = [], {}, {}
    for i in range(n):
        p, q = rng.sample(NAMES, 2)
        hyps = "\n".join(f"h{j} : {rng.choice(NAMES)}" for j in range(rng.randint(1, 3)))
        ctx = f"{p} {q} : Prop\n{hyps}"
        root, good = f"{ctx}\n⊢ Goal {p} {q}", f"{ctx}\n⊢ Ready {q} {p}"
        dead = [f"{ctx}\n⊢ Stuck {p} {q}"] + ([f"{ctx}\n⊢ Stuck {q} ({p} {q})"] if i % 2 else [])
        trans[root] = {"intro": [dead[0]], "apply": [good]}
        props[root] = [["intro", -0.1], ["apply", -0.6]]
        for d, nxt in zip(dead, [*dead[1:], None], strict=True):
            trans[d] = {"cases h0": [nxt]} if nxt else {"exact h0": "type mismatch"}
            props[d] = [["cases h0", -0.1]] if nxt else [["exact h0", -0.1]]
        trans[good], props[good] = {"exact h0": []}, [["exact h0", -0.2]]
        theorems.append({"name": f"syn{i}", "statement": f"theorem syn{i} : Goal {p} {q}", "goal": root})
    return {"theorems": theorems, "transitions": trans, "proposals": props}


def world_rows(w: ScriptedWorld) -> list[dict]:
    trees = []
    for t in w.theorems:
        res = run_strategy("best-first", t.theorem(), ScriptedEnv(w), ScriptedPolicy(w), Budget(expansions=16), n=4)
        assert res.proved
        trees.append((t.name, to_data(res.tree), "synthetic"))
    return rows_from_trees(trees, {t.name: 1 + int(t.name[3:]) % 4 for t in w.theorems})


def micro_config(**kw: object) -> TrainConfig:
    base = dict(epochs=40, lr=3e-3, batch_size=16, max_len=64, seed=0, log_every=5, tiny_size="micro", device="cpu")
    return TrainConfig(**{**base, **kw})  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict], list[dict]]:
    rows = world_rows(synthetic_world())
    train, test = split_by_theorem(rows, 0.25, seed=0)
    final = train_evaluator(train, tmp_path_factory.mktemp("ev") / "run", micro_config(max_steps=80), progress=False)
    return final, train, test


def test_labels_of_the_synthetic_world():
    rows = world_rows(synthetic_world(4))
    stuck = [r for r in rows if "Stuck" in r["state"]]
    assert stuck and all(r["label"] == 0.0 for r in stuck)
    assert all(r["label"] == 1.0 for r in rows if "Stuck" not in r["state"])
    assert len(rows) == 4 * 2 + len(stuck)  # the root and the solvable state of each theorem


def test_tiny_evaluator_separates_solvable_from_dead_ends_on_held_out_theorems(trained):
    final, train, test = trained
    assert {r["theorem"] for r in train}.isdisjoint({r["theorem"] for r in test})
    ev = make_evaluator(f"evaluator:{final}", device="cpu")
    assert isinstance(ev, ModelEvaluator)
    labels = [int(r["label"]) for r in test]
    assert 0 < sum(labels) < len(labels)
    scores = ev.score([State(tuple(r["state"].split("\n\n"))) for r in test])
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert auc(labels, scores) > 0.8
    report = evaluator_report(ev, test, reps=50)
    assert report["overall"]["auc"] == pytest.approx(auc(labels, scores))
    assert report["overall"]["states"] == len(test) and set(report["by_band"]) == {"<=4", "5", ">=6"}
    assert sum(report["calibration"]["counts"]) == len(test)


def test_scores_are_batched_and_costed(trained):
    final, _, test = trained
    ev = ModelEvaluator.load(final, device="cpu", batch_size=3)
    states = [State((r["state"],)) for r in test[:7]]
    one_by_one = [ev.score([s])[0] for s in states]
    out = ev.score(states)
    assert out == pytest.approx(one_by_one, abs=1e-5)  # padding does not change a score
    assert out.usage.parameters == ev.num_parameters > 0 and out.usage.generated_tokens == 0
    assert out.usage.prompt_tokens >= sum(len(ev.tokenizer(r["state"])["input_ids"]) for r in test[:7])
    assert ev.score([]) == []


def test_value_guided_search_uses_the_model_and_counts_its_flops(trained):
    final, _, _ = trained
    w = synthetic_world()
    ev = make_evaluator(f"evaluator:{final}", device="cpu")
    t = w.theorems[-1].theorem()  # a held-out or training theorem alike: the run must work
    for strategy, cfg in (("best-first", {"n": 4, "value_weight": 1.0}), ("rebase", {"width": 2, "beta": 0.1}),
                          ("mcts", {"n": 4})):
        res = run_strategy(strategy, t, ScriptedEnv(w), ScriptedPolicy(w), Budget(expansions=16), cfg, evaluator=ev)
        acc = res.accounting
        assert res.proved, strategy
        assert acc.evaluator_calls > 0 and acc.evaluator_parameters == ev.num_parameters
        assert acc.evaluator_tokens > 0 and acc.flops >= 2 * ev.num_parameters * acc.evaluator_tokens


def test_resume_after_a_kill_gives_the_same_weights(tmp_path: Path):
    rows = world_rows(synthetic_world(12))
    cfg = micro_config(epochs=3, batch_size=8, save_every=2, max_steps=7)
    a = train_evaluator(rows, tmp_path / "a", cfg, progress=False)

    class Killed(Exception):
        pass

    def kill_at_5(step: int, loss: float) -> None:
        if step == 5:
            raise Killed

    with pytest.raises(Killed):
        train_evaluator(rows, tmp_path / "b", cfg, progress=False, on_step=kill_at_5)
    assert not (tmp_path / "b" / "final").exists()
    assert [p.name for p in sorted((tmp_path / "b" / "checkpoints").iterdir())] == ["step-000002", "step-000004"]
    b = train_evaluator(rows, tmp_path / "b", cfg, progress=False)
    wa = ModelEvaluator.load(a, device="cpu").model.state_dict()
    wb = ModelEvaluator.load(b, device="cpu").model.state_dict()
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    assert json.loads((b / VALUE_FILE).read_text())["kind"] == "value"
    assert train_evaluator(rows, tmp_path / "b", cfg, progress=False) == b  # finished: returns at once
    with pytest.raises(ValueError, match="another config"):
        train_evaluator(rows, tmp_path / "b", micro_config(epochs=3, batch_size=4, max_steps=7), progress=False)


def test_backbone_of_a_policy_with_a_value_head(tmp_path: Path):
    from prover.tiny import make_tiny_model

    rows = world_rows(synthetic_world(6))
    policy = make_tiny_model([r["state"] for r in rows], tmp_path / "policy", size="micro")
    final = train_evaluator(rows, tmp_path / "ev", micro_config(max_steps=3), init=str(policy), progress=False)
    ev = ModelEvaluator.load(final, device="cpu")
    assert type(ev.model).__name__ == "LlamaForSequenceClassification" and ev.model.config.num_labels == 1
    assert len(ev.score([State(("⊢ p",))])) == 1


def test_evaluator_specs(tmp_path: Path):
    assert make_evaluator("none") is None and make_evaluator(None) is None
    world = tmp_path / "w.json"
    world.write_text(json.dumps({"theorems": [], "transitions": {"⊢ p": {"t": []}}}), encoding="utf-8")
    oracle = make_evaluator(f"oracle:{world}")
    assert oracle.score([State(("⊢ p",)), State(("⊢ q",))]) == [1.0, 0.0]
    with pytest.raises(ValueError, match="unknown evaluator spec"):
        make_evaluator("critic:x")
    with pytest.raises(FileNotFoundError, match="evaluator folder not found"):
        make_evaluator(f"evaluator:{tmp_path / 'nope'}")
    with pytest.raises(FileNotFoundError, match="not an evaluator folder"):
        make_evaluator(f"evaluator:{tmp_path}")


def test_the_three_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    # trees from `prover search --save-trees` (the campaign runner's layout), then the evaluator's
    # data, training and report, then `prover search --evaluator` with the trained model
    world = tmp_path / "world.json"
    world.write_text(json.dumps(synthetic_world_data(16)), encoding="utf-8")
    common = ["search", "--theorems", str(world), "--env", f"scripted:{world}", "--policy", f"scripted:{world}",
              "--strategy", "best-first", "--n", "4", "--budget", "expansions=16", "--no-progress"]
    assert prover([*common, "--out", str(tmp_path / "run" / "s.jsonl"), "--save-trees"]) == 0
    trees = tmp_path / "run" / "s.trees.jsonl"
    capsys.readouterr()
    data, test = tmp_path / "train.jsonl", tmp_path / "test.jsonl"
    assert prover(["evaluator-data", "--trees", str(trees), "--out", str(data), "--test-fraction", "0.25",
                   "--test-out", str(test), "--source", "search"]) == 0
    out = capsys.readouterr().out
    assert "16 trees of 16 theorems" in out and "test rows:" in out
    assert prover(["train-evaluator", "--data", str(data), "--out", str(tmp_path / "ev"), "--tiny-size", "micro",
                   "--max-steps", "4", "--batch-size", "8", "--lr", "0.003", "--device", "cpu", "--no-progress"]) == 0
    assert "evaluator saved to" in capsys.readouterr().out
    final = tmp_path / "ev" / "final"
    assert prover(["evaluate-evaluator", "--evaluator", f"evaluator:{final}", "--data", str(test),
                   "--out", str(tmp_path / "rep"), "--bootstrap", "20", "--device", "cpu", "--no-progress"]) == 0
    assert "ROC-AUC" in capsys.readouterr().out
    rep = json.loads((tmp_path / "rep" / "report.json").read_text())
    assert rep["overall"]["states"] == sum(1 for _ in test.open()) and (tmp_path / "rep" / "reliability.png").stat().st_size > 0
    assert "baselines" in rep and "_scores" not in rep
    assert prover([*common, "--out", str(tmp_path / "guided.jsonl"), "--evaluator", f"evaluator:{final}",
                   "--config", "value_weight=0.5", "--device", "cpu"]) == 0
    guided = [json.loads(line) for line in (tmp_path / "guided.jsonl").read_text().splitlines()]
    assert len(guided) == 16 and all(r["evaluator_calls"] > 0 and r["evaluator_parameters"] > 0 for r in guided)
    # a malformed row: the command names the file and line, exit code 2
    lines = data.read_text(encoding="utf-8").splitlines()
    lines[1] = json.dumps({**json.loads(lines[1]), "label": "yes"})
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert prover(["train-evaluator", "--data", str(data), "--out", str(tmp_path / "ev2"), "--no-progress"]) == 2
    assert "train.jsonl:2: 'label' must be a number" in capsys.readouterr().err


def test_report_figures_by_hand(tmp_path: Path):
    from doubles.oracle import TableEvaluator
    from prover.value_report import within_group_auc, write_evaluator_report

    rows = [{"state": s, "label": y, "theorem": t, "difficulty": d} for s, y, t, d in [
        ("⊢ a1", 1, "a", 2), ("⊢ a0", 0, "a", 2), ("⊢ b1", 1, "b", 7), ("⊢ b0", 0, "b", 7), ("⊢ c0", 0, "c", 5)]]
    ev = TableEvaluator({"⊢ a1": 0.9, "⊢ a0": 0.1, "⊢ b1": 0.2, "⊢ b0": 0.8, "⊢ c0": 0.05})
    rep = evaluator_report(ev, rows, bins=10, reps=0)
    o = rep["overall"]
    # pooled: positives 0.9, 0.2 against negatives 0.1, 0.8, 0.05: 5 of 6 pairs right (0.2 < 0.8)
    assert o["auc"] == pytest.approx(5 / 6) and o["states"] == 5 and o["positives"] == 2 and o["theorems"] == 3
    assert (o["auc_within_theorem"], o["theorems_with_both_labels"]) == (0.5, 2)  # a: 1, b: 0, c: one label
    assert within_group_auc([1, 0], [0.3, 0.3], ["x", "x"]) == (0.5, 1)
    assert rep["by_difficulty"]["2"]["auc"] == 1.0 and rep["by_difficulty"]["7"]["auc"] == 0.0
    assert rep["by_difficulty"]["5"]["auc"] is None and rep["by_band"]["<=4"]["states"] == 2
    cal = rep["calibration"]
    assert sum(cal["counts"]) == 5 and cal["brier"] == pytest.approx((0.01 + 0.01 + 0.64 + 0.64 + 0.0025) / 5)
    paths = write_evaluator_report(rep, tmp_path, "hand")
    assert "0.833" in paths["md"].read_text() and paths["plot"].stat().st_size > 0
    assert "_scores" not in json.loads(paths["json"].read_text())
