"""Expert iteration that trains the learned evaluator every round: round r's search trees become
labelled states, E_r is trained on them, and round r+1 searches with E_r (its FLOPs counted)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.jsonl import read_jsonl
from prover.expert_iteration import EIConfig, run_expert_iteration
from prover.value_model import ModelEvaluator


def make_world(d: Path) -> tuple[Path, Path, Path]:
    """Two families of theorems: on `a` ones `apply p_of_q` leads to a proof (their reference
    proofs are the seed set), on `b` ones it leads to a dead end (`Q yI` where every step fails)
    and only `apply p_of_r` works.  A policy trained on the seed set walks into the dead ends, so
    round 0's trees hold both labels.  (world, train theorems, valid theorems)"""
    theorems, trans, rows = [], {}, []
    for fam, n in (("a", 5), ("b", 5)):
        for i in range(n):
            v = f"{'x' if fam == 'a' else 'y'}{i}"
            goal = f"{v} : Nat\n⊢ P {v}"
            q, r = f"{v} : Nat\n⊢ Q {v}", f"{v} : Nat\n⊢ R {v}"
            if fam == "a":
                trans[goal], trans[q] = {"apply p_of_q": [q]}, {"exact q_all": []}
            else:
                trans[goal], trans[r] = {"apply p_of_q": [q], "apply p_of_r": [r]}, {"exact r_all": []}
            name = f"{fam}{i}"
            theorems.append({"name": name, "statement": f"theorem {name} ({v} : Nat) : P {v}", "goal": goal})
            ref = ["apply p_of_q", "exact q_all"] if fam == "a" else []
            rows.append({"name": name, "header": "", "formal_statement": f"theorem {name} ({v} : Nat) : P {v} := by",
                         "reference_proof": ref, "difficulty": 2})
    world = d / "world.json"
    world.write_text(json.dumps({"theorems": theorems, "transitions": trans}), encoding="utf-8")
    train, valid = d / "train.jsonl", d / "valid.jsonl"
    valid_names = {"a4", "b4"}
    train.write_text("".join(json.dumps(r) + "\n" for r in rows if r["name"] not in valid_names), encoding="utf-8")
    valid.write_text("".join(json.dumps(r) + "\n" for r in rows if r["name"] in valid_names), encoding="utf-8")
    return world, train, valid


def config(d: Path, **kw) -> EIConfig:
    """A micro policy and a micro evaluator on `make_world`; REBASE, which round 0 runs on
    log-probabilities (no evaluator yet) and round 1 on E_0's values."""
    world, train, valid = make_world(d)
    cfg = dict(
        run_dir=str(d / "run"), train=f"jsonl:{train}", valid=f"jsonl:{valid}",
        rounds=1, seed_count=2, env=f"scripted:{world}", strategy="rebase", budget="expansions=4",
        search={"width": 2}, attempts=1, fmt="tactic", teacher=None, tiny_size="micro",
        device="cpu", generation={"max_new_tokens": 12, "temperature": 0.7, "batch_size": 8},
        train_config={"epochs": 70, "lr": 0.005, "batch_size": 6, "device": "cpu", "log_every": 100},
        search_solved=True, evaluator=None, train_evaluator=True,
        evaluator_config={"epochs": 3, "lr": 0.001, "batch_size": 8, "max_len": 64, "device": "cpu"},
    )
    cfg.update(kw)
    return EIConfig(**cfg)


@pytest.mark.slow
def test_every_round_trains_an_evaluator_and_the_next_round_searches_with_it(tmp_path: Path):
    metrics = run_expert_iteration(config(tmp_path), progress=False)
    assert [m["round"] for m in metrics] == [0, 1]
    e0 = tmp_path / "run" / "round0" / "evaluator" / "final"
    assert metrics[0]["searched_with"] is None and metrics[0]["evaluator"] == str(e0)
    assert metrics[1]["searched_with"] == f"evaluator:{e0}"
    rows = list(read_jsonl(tmp_path / "run" / "round0" / "evaluator_data.jsonl"))
    assert rows and {r["label"] for r in rows} == {0.0, 1.0} and metrics[0]["evaluator_states"] == len(rows)
    assert all(r["source"] == "expert-iteration" and r["difficulty"] is not None for r in rows)
    params = ModelEvaluator.load(e0, device="cpu").num_parameters
    searched = list(read_jsonl(tmp_path / "run" / "round1" / "train.jsonl"))
    assert searched and all(r["evaluator_parameters"] == params and r["evaluator_calls"] > 0
                            for r in searched if r["expansions"] > 0)
    assert (tmp_path / "run" / "round1" / "evaluator" / "final" / "prover_value.json").is_file()
    again = run_expert_iteration(config(tmp_path), progress=False)  # finished: nothing to redo
    assert [m["round"] for m in again] == [0, 1]


def test_the_evaluator_fields_are_checked(tmp_path: Path):
    with pytest.raises(ValueError, match="round 0: .*needs an evaluator"):
        config(tmp_path, strategy="best-first", search={"n": 3, "value_weight": 0.5})
    assert config(tmp_path, strategy="best-first", search={"n": 3, "value_weight": 0.5},
                  evaluator=f"oracle:{tmp_path / 'world.json'}").strategy == "best-first"
    with pytest.raises(ValueError, match="evaluator_from"):
        config(tmp_path, evaluator_from="critic")
    with pytest.raises(ValueError, match="unknown evaluator spec"):
        config(tmp_path, evaluator="critic:x")
    with pytest.raises(ValueError, match="evaluator_config"):
        config(tmp_path, evaluator_config={"epochs": 0})
