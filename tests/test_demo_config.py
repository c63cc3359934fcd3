"""The demo recipes (configs/demo.json, demo_thought.json, demo_thought_micro.json): loading, checking,
command-line overrides and the evaluation it runs (an EvalSpec handed to the campaign runner, no command-line round trip)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from prover.commands.demo import DEFAULT_CONFIG, DemoConfig, add_parser, eval_spec, resolve


def _args(*argv: str) -> argparse.Namespace:
    ap = argparse.ArgumentParser()
    add_parser(ap.add_subparsers())
    return ap.parse_args(["demo", *argv])


@pytest.mark.parametrize("path", [DEFAULT_CONFIG, DEFAULT_CONFIG.with_name("demo_thought.json"),
                                  DEFAULT_CONFIG.with_name("demo_thought_micro.json")],
                         ids=["demo", "demo_thought", "demo_thought_micro"])
def test_shipped_recipes_load_and_are_checked(path: Path) -> None:
    cfg = DemoConfig.load(path)
    assert cfg.fmt in ("tactic", "thought") and cfg.n >= 1 and cfg.train_steps >= 1
    assert cfg.budget.startswith("expansions=")
    assert cfg.generation.get("engine") == "ct2" and cfg.lean_workers == 2


def test_flags_override_the_recipe(tmp_path: Path) -> None:
    cfg = resolve(_args("--fmt", "thought", "--n", "4", "--train-steps", "7", "--budget", "expansions=8"))
    assert (cfg.fmt, cfg.n, cfg.train_steps, cfg.budget) == ("thought", 4, 7, "expansions=8")
    assert cfg.train == DemoConfig.load(DEFAULT_CONFIG).train  # untouched fields come from the file
    tc = tmp_path / "tc.json"
    tc.write_text(json.dumps({"lr": 0.01, "tiny_size": "tiny"}))
    assert resolve(_args("--train-config", str(tc))).train == {"lr": 0.01, "tiny_size": "tiny"}


def test_eval_spec_carries_beams_generation_and_search(tmp_path: Path) -> None:
    path = tmp_path / "demo.json"
    path.write_text(json.dumps({"fmt": "tactic", "n": 6, "max_new_tokens": {"tactic": 24},
                                "generation": {"length_normalize": True}, "search": {"expand_batch": 2}}))
    args = _args("--config", str(path), "--out", str(tmp_path / "run"), "--limit", "3", "--no-progress")
    spec = eval_spec(resolve(args), Path("m/final"), args)
    assert spec.config == {"n": 6, "expand_batch": 2}
    assert spec.generation == {"num_beams": 6, "max_new_tokens": 24, "length_normalize": True}
    assert (spec.fmt, spec.limit, spec.policy, spec.strategy) == ("tactic", 3, "model:m/final", "best-first")
    assert spec.out == tmp_path / "run" / "eval" and spec.progress is False and spec.device == "cpu"
    with pytest.raises(ValueError, match="max_new_tokens needs a positive integer for 'thought'"):
        resolve(_args("--config", str(path), "--fmt", "thought"))  # this recipe has no thought budget
    default = eval_spec(resolve(_args("--fmt", "thought")), Path("m"), _args())
    assert default.generation["max_new_tokens"] == 96  # thoughts get more tokens
    assert spec.env == "lean-term"
    path.write_text(json.dumps({"lean_workers": 2}))
    two = eval_spec(resolve(_args("--config", str(path))), Path("m"), _args())
    assert two.env == "lean-term:workers=2"  # one expansion's candidates go to two Lean processes


@pytest.mark.parametrize("bad, words", [
    ({"fmt": "proof"}, "unknown step format"),
    ({"n": 0}, "n must be a positive integer"),
    ({"lean_workers": 0}, "lean_workers must be a positive integer"),
    ({"colour": 1}, "unknown field(s) colour"),
    ({"generation": {"num_beams": 4}}, "top-level 'n'"),
    ({"generation": {"max_new_tokens": 40}}, "top-level 'max_new_tokens'"),
    ({"generation": {"top_p": 0}}, "top_p"),
    ({"train": {"lr_typo": 1}}, "lr_typo"),
    ({"search": {"expand_batch": 0}}, "expand_batch"),
])
def test_bad_recipes_raise_naming_the_problem(tmp_path: Path, bad: dict, words: str) -> None:
    path = tmp_path / "demo.json"
    path.write_text(json.dumps(bad))
    with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(")", r"\)")):
        DemoConfig.load(path)


def test_missing_recipe_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="demo config not found"):
        DemoConfig.load(tmp_path / "nope.json")


def test_extra_theorems_decoding_and_a_stale_examples_file(tmp_path: Path) -> None:
    from core.jsonl import write_jsonl_atomic
    from eval.logic import EXTRA, EXTRA_VARIED, load_split
    from prover.commands.demo import check_examples, training_theorems

    path = tmp_path / "demo.json"
    path.write_text(json.dumps({"extra_theorems": 5, "decoding": "sample", "n": 4, "generation": {"temperature": 0.8}}))
    cfg = DemoConfig.load(path)
    names = [t.name for t in training_theorems(cfg)]
    assert len(names) == 292 + 5 and names[-5:] == [t.name for t in load_split(EXTRA)[:5]]
    spec = eval_spec(cfg, Path("m"), _args("--out", str(tmp_path)))
    assert spec.generation["num_beams"] == 0 and spec.generation["temperature"] == 0.8
    ex = tmp_path / "examples.jsonl"
    write_jsonl_atomic(ex, [{"theorem": n, "state": "s", "tactic": "t"} for n in names])
    check_examples(ex, training_theorems(cfg))
    with pytest.raises(ValueError, match="made for another recipe"):
        check_examples(ex, training_theorems(DemoConfig(extra_theorems=0)))
    path.write_text(json.dumps({"extra_theorems": 2, "varied_theorems": 3}))
    names = [t.name for t in training_theorems(DemoConfig.load(path))]
    assert names[292:] == [t.name for t in load_split(EXTRA)[:2]] + [t.name for t in load_split(EXTRA_VARIED)[:3]]
    for bad, words in (({"decoding": "greedy"}, "decoding must be one of"), ({"extra_theorems": -1}, "extra_theorems"),
                       ({"extra_theorems": 10**6}, "logic:extra has"), ({"varied_theorems": -2}, "varied_theorems"),
                       ({"varied_theorems": 10**6}, "logic:extra_varied has")):
        path.write_text(json.dumps(bad))
        with pytest.raises(ValueError, match=words):
            training_theorems(DemoConfig.load(path))
