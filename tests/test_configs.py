"""One unknown-key and type check for every config (core.config.from_dict): a train config with
`batch_size: 2.5` or `lr: "fast"`, an unknown device, a bad expert-iteration config: each is an error
naming the input and the field, raised before any work starts (no traceback from deep inside)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import prover.expert_iteration as ei
from prover.cli import main as prover_main
from prover.device import check_device
from prover.expert_iteration import EIConfig
from prover.policy import GenerationConfig
from prover.train import TrainConfig

DATA = Path(__file__).resolve().parent / "data"
WORLD = DATA / "ei_world.json"


@pytest.mark.parametrize("bad, words", [
    ({"batch_size": 2.5}, "train.json: batch_size=2.5 must be an integer"),
    ({"lr": "fast"}, "train.json: lr='fast' must be a number"),
    ({"max_steps": "10"}, "max_steps='10' must be an integer or null"),
    ({"bf16": 1}, "bf16=1 must be true or false"),
    ({"device": "tpu"}, "unknown device 'tpu'"),
    ({"tiny_size": "huge"}, "tiny_size 'huge' is unknown"),
    ({"lr_typo": 1}, "unknown field(s) lr_typo"),
])
def test_a_bad_train_config_names_the_file_and_the_field(tmp_path, bad, words):
    path = tmp_path / "train.json"
    path.write_text(json.dumps(bad))
    with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(")", r"\)")):
        TrainConfig.load(path)


def test_the_train_command_reports_config_errors_without_a_traceback(tmp_path, capsys):
    path = tmp_path / "train.json"
    path.write_text(json.dumps({"batch_size": 2.5}))
    argv = ["train", "--world", str(WORLD), "--out", str(tmp_path / "run")]
    assert prover_main([*argv, "--config", str(path)]) == 2
    assert "batch_size=2.5 must be an integer" in capsys.readouterr().err
    assert prover_main([*argv, "--device", "tpu"]) == 2
    assert "unknown device 'tpu'" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()  # refused before anything was written


def test_devices_are_checked_by_name():
    for good in ("auto", "cpu", "cuda", "cuda:1", "mps"):
        assert check_device(good) == good
    for bad in ("tpu", "gpu", "cuda:", "CPU", "", None, 0):
        with pytest.raises(ValueError, match="unknown device"):
            check_device(bad, "where")


def test_generation_config_fields_are_typed():
    assert GenerationConfig.from_dict({"stop": ["[END]"], "temperature": 1}).stop == ("[END]",)
    with pytest.raises(ValueError, match="g.json: batch_size=2.5 must be an integer"):
        GenerationConfig.from_dict({"batch_size": 2.5}, where="g.json")
    with pytest.raises(ValueError, match="unknown field.*beams"):
        GenerationConfig.from_dict({"beams": 2})
    with pytest.raises(ValueError, match="temperature='hot'"):
        GenerationConfig(temperature="hot")  # type: ignore[arg-type]  # built in code: checked too


def ei_config(tmp_path: Path, **kw) -> dict:
    cfg = dict(run_dir=str(tmp_path / "run"), train=f"jsonl:{DATA / 'ei_train.jsonl'}",
               valid=f"jsonl:{DATA / 'ei_valid.jsonl'}", rounds=1, seed_count=2, env=f"scripted:{WORLD}",
               budget="expansions=2", search={"n": 2}, fmt="tactic", teacher=None, tiny_size="micro",
               device="cpu", train_config={"epochs": 1, "device": "cpu"})
    cfg.update(kw)
    return cfg


@pytest.mark.parametrize("bad, words", [
    ({"train_config": {"batch_size": 2.5}}, "train_config: batch_size=2.5 must be an integer"),
    ({"train_config": {"lr": "fast"}}, "train_config: lr='fast' must be a number"),
    ({"train_config": {"device": "tpu"}}, "unknown device 'tpu'"),
    ({"device": "tpu"}, "device: unknown device 'tpu'"),
    ({"generation": {"top_p": "high"}}, "generation: top_p='high' must be a number"),
    ({"search": {"n": 0}}, "n"),
    ({"env": "scripted:nope.json"}, "env: .*scripted world not found"),
    ({"env": "lean-termm"}, "env: unknown env spec"),
    ({"teacher": "rules"}, "teacher: unknown teacher 'rules'"),
    ({"tiny_size": "huge"}, "tiny_size 'huge' is unknown"),
    ({"rounds": "2"}, "rounds='2' must be an integer"),
    ({"budget": "expansions=x"}, "budget"),
    ({"roundz": 3}, "unknown field(s) roundz"),
])
def test_an_expert_iteration_config_is_checked_whole_before_any_work(tmp_path, monkeypatch, bad, words):
    def no_work(*a, **k):
        raise AssertionError("work started before the config was checked")

    for name in ("search_many", "replay_states", "init_ray"):
        monkeypatch.setattr(ei, name, no_work)
    path = tmp_path / "ei.json"
    path.write_text(json.dumps(ei_config(tmp_path, **bad)))
    with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(")", r"\)")):
        ei.run_expert_iteration(EIConfig.load(path), progress=False)
    assert not (tmp_path / "run").exists()


def test_the_expert_iteration_command_reports_a_bad_device(tmp_path, capsys):
    path = tmp_path / "ei.json"
    path.write_text(json.dumps(ei_config(tmp_path)))
    assert prover_main(["expert-iteration", "--config", str(path), "--device", "tpu", "--no-progress"]) == 2
    assert "unknown device 'tpu'" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
