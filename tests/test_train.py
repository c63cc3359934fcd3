"""SFT: loss on the target only, config files, the thought-then-tactic path trained on rule-teacher
rationales, resumption after a crash giving the same weights, and the `prover train` command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from core.types import State
from prover.cli import main
from prover.policy import GenerationConfig, ModelPolicy
from prover.tiny import examples_from_world, make_tiny_model, synthetic_logic_world
from prover.train import TrainConfig, collate, encode, example_texts, load_examples, schedule, train_sft


@pytest.fixture(autouse=True)
def _threads() -> None:
    torch.set_num_threads(1)  # on a loaded 2-core machine one thread is faster than two


def _rows(n: int = 12, seed: int = 0) -> list[dict]:
    return examples_from_world(synthetic_logic_world(n, seed=seed))


def test_loss_mask_covers_the_target_only(tmp_path: Path) -> None:
    rows = _rows(6)
    pairs = example_texts(rows, "thought")
    tok_dir = make_tiny_model([p + t for p, t in pairs], tmp_path / "m", size="micro")
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tok_dir)
    enc = encode(pairs, tok, max_len=512)
    batch = collate(enc[:3], tok.pad_token_id)
    for i, (p, t) in enumerate(enc[:3]):
        labels = batch["labels"][i]
        assert (labels[: len(p)] == -100).all() and labels[len(p): len(p) + len(t)].tolist() == t
        assert (labels[len(p) + len(t):] == -100).all() and batch["attention_mask"][i].sum() == len(p) + len(t)
        assert t[-1] == tok.eos_token_id
        assert tok.decode(t[:-1]) == pairs[i][1]
    short = encode(pairs[:2], tok, max_len=len(enc[0][1]) + 3)  # prompts cut from the left
    assert len(short[0][0]) == 3 and short[0][0] == enc[0][0][-3:]


def test_schedule_is_a_function_of_the_seed() -> None:
    cfg = TrainConfig(epochs=2, batch_size=3, seed=1)
    a, b = schedule(10, cfg), schedule(10, cfg)
    assert a == b and len(a) == 8 and sorted(i for mb in a[:4] for i in mb[0]) == list(range(10))
    assert schedule(10, TrainConfig(epochs=2, batch_size=3, seed=2)) != a
    assert len(schedule(10, TrainConfig(epochs=2, batch_size=3, grad_accum=2, max_steps=3))) == 3


def test_config_and_data_errors(tmp_path: Path) -> None:
    cfg = TrainConfig.load(Path(__file__).resolve().parent.parent / "configs" / "train_tiny.json")
    assert cfg.tiny_size == "micro"
    bad = tmp_path / "bad.json"
    bad.write_text('{"epochs": 1, "learning_rate": 3}', encoding="utf-8")
    with pytest.raises(ValueError, match="unknown field.*learning_rate"):
        TrainConfig.load(bad)
    with pytest.raises(ValueError, match="batch_size"):
        TrainConfig(batch_size=0)
    with pytest.raises(FileNotFoundError):
        load_examples(tmp_path / "none.jsonl")
    with pytest.raises(ValueError, match="row 2"):
        load_examples([{"state": "⊢ p", "tactic": "h"}, {"state": "⊢ p"}])
    with pytest.raises(ValueError, match="example 1"):
        example_texts([{"state": "⊢ p", "tactic": "h", "thought": "see [TACTIC]"}], "thought")


def test_tactic_model_learns_the_steps(tmp_path: Path) -> None:
    rows = _rows(12)
    cfg = TrainConfig(epochs=40, lr=5e-3, batch_size=16, tiny_size="micro", warmup_steps=5, save_every=10**6)
    final = train_sft(rows, tmp_path / "run", cfg, fmt="tactic", progress=False)
    policy = ModelPolicy.load(final, config=GenerationConfig(temperature=0, max_new_tokens=16), device="cpu")
    assert policy.fmt == "tactic"
    out = policy.propose([State((r["state"],)) for r in rows], 1)
    right = sum(bool(c) and c[0].tactic == r["tactic"] and not c[0].thought for c, r in zip(out, rows, strict=True))
    chance = 1 / len({r["tactic"] for r in rows})
    assert right / len(rows) >= 0.6 > 10 * chance, right
    log = [json.loads(x) for x in (tmp_path / "run" / "train_log.jsonl").read_text().splitlines()]
    assert log[-1]["loss"] < log[0]["loss"] / 3


def test_whole_proof_model_writes_proofs(tmp_path: Path) -> None:
    from core.types import Theorem

    world = synthetic_logic_world(12, seed=0)
    steps = examples_from_world(world)
    rows = [{"name": t.name, "formal_statement": t.statement + " := by",
             "proof": "\n".join(r["tactic"] for r in steps if r["theorem"] == t.name)} for t in world.theorems]
    cfg = TrainConfig(epochs=40, lr=5e-3, batch_size=4, tiny_size="micro", warmup_steps=5, save_every=10**6)
    final = train_sft(rows, tmp_path / "run", cfg, fmt="proof", progress=False)
    policy = ModelPolicy.load(final, config=GenerationConfig(temperature=0, max_new_tokens=64), device="cpu")
    assert policy.fmt == "proof"
    out = policy.propose_proofs([Theorem(r["name"], "", r["formal_statement"]) for r in rows], 1)
    right = sum(bool(c) and c[0].tactic == r["proof"] for c, r in zip(out, rows, strict=True))
    assert right >= len(rows) // 2, right
    with pytest.raises(ValueError, match="propose_proofs"):
        policy.propose([State(("⊢ p",))], 1)
    with pytest.raises(ValueError, match="'formal_statement' and 'proof'"):
        train_sft(steps, tmp_path / "bad", cfg, fmt="proof", progress=False)


def test_resume_after_a_crash_gives_the_same_weights(tmp_path: Path) -> None:
    rows = _rows(6)
    init = make_tiny_model([p + t for p, t in example_texts(rows, "tactic")], tmp_path / "init", size="micro")
    cfg = TrainConfig(epochs=3, lr=3e-3, batch_size=4, save_every=3, keep_checkpoints=1)
    straight = train_sft(rows, tmp_path / "a", cfg, init=str(init), fmt="tactic", progress=False)

    class Crash(Exception):
        pass

    def crash_at_7(step: int, loss: float) -> None:
        if step == 7:
            raise Crash

    with pytest.raises(Crash):
        train_sft(rows, tmp_path / "b", cfg, init=str(init), fmt="tactic", progress=False, on_step=crash_at_7)
    ckpts = sorted(p.name for p in (tmp_path / "b" / "checkpoints").iterdir())
    assert ckpts == ["step-000006"]  # keep_checkpoints=1, the last one before the crash
    resumed = train_sft(rows, tmp_path / "b", cfg, init=str(init), fmt="tactic", progress=False)
    from transformers import AutoModelForCausalLM

    a = AutoModelForCausalLM.from_pretrained(straight).state_dict()
    b = AutoModelForCausalLM.from_pretrained(resumed).state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["model.embed_tokens.weight"],
                           AutoModelForCausalLM.from_pretrained(init).state_dict()["model.embed_tokens.weight"])
    assert train_sft(rows, tmp_path / "b", cfg, init=str(init), fmt="tactic", progress=False) == resumed  # done
    with pytest.raises(ValueError, match=r"holds a different training run \(config: was .*'epochs': 3"):
        train_sft(rows, tmp_path / "b", TrainConfig(epochs=4, batch_size=4), init=str(init), fmt="tactic")


def test_train_and_rationales_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "examples.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in _rows(4)), encoding="utf-8")
    thoughts = tmp_path / "thoughts.jsonl"
    assert main(["rationales", "--examples", str(data), "--out", str(thoughts), "--teacher", "rule", "--no-progress"]) == 0
    assert "row(s) with rationales" in capsys.readouterr().out
    config = Path(__file__).resolve().parent.parent / "configs" / "train_tiny.json"
    rc = main(["train", "--data", str(thoughts), "--out", str(tmp_path / "run"), "--config", str(config),
               "--max-steps", "3", "--device", "cpu", "--no-progress"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "model saved to" in out and (tmp_path / "run" / "final" / "prover_format.json").is_file()
    assert main(["train", "--data", str(tmp_path / "missing.jsonl"), "--out", str(tmp_path / "r2")]) == 2
    assert main(["rationales", "--examples", str(data), "--out", str(thoughts), "--teacher", "bogus"]) == 2
