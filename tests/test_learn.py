"""Issue 15's levers: extra training theorems (none of valid/test), validation loss and learning-rate
schedules in SFT, length-grouped batches, DPO pairs from search trees trained with trl, and the
easy-only curriculum of expert iteration."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest
import torch

import prover.expert_iteration as ei
from eval.datasets import load_dataset
from eval.logic import EXTRA, EXTRA_VARIED, load_split, prelude_text
from eval.logic.generate import (
    build_extra,
    build_varied,
    canonical,
    conventional_name,
    split_statements,
    varied_names,
)
from prover.train import TrainConfig, lr_factor, schedule, train_sft


@pytest.fixture(autouse=True)
def _threads() -> None:
    torch.set_num_threads(1)


def _statement(t) -> str:
    return t.formal_statement.split(" ", 2)[2]


# --------------------------------------------------------------------------- extra theorems


def test_extra_theorems_share_no_statement_with_the_splits() -> None:
    extra = load_split(EXTRA)
    assert len(extra) > 3000
    held_out = {canonical(_statement(t)) for s in ("valid", "test") for t in load_split(s)}
    train = {canonical(_statement(t)) for t in load_split("train")}
    keys = [canonical(_statement(t)) for t in extra]
    assert not set(keys) & held_out and not set(keys) & train
    assert len(set(keys)) == len(keys) and len({t.name for t in extra}) == len(extra)
    assert all(t.header == prelude_text() and t.extra["difficulty"] == len(t.extra["reference_proof"]) for t in extra)
    assert {t.extra["source"] for t in extra} == {"prop", "fo", "eq"}
    both = load_dataset("logic:train+extra")
    assert len(both) == len(load_split("train")) + len(extra)
    with pytest.raises(ValueError, match="logic split must be one of"):
        load_dataset("logic:train+nope")


def test_build_extra_is_seeded_and_excludes_what_it_is_told() -> None:
    counts = {"prop": 12, "fo": 6}
    a = build_extra(seed=5, counts=counts, exclude=set(), max_tries=20_000)
    assert a == build_extra(seed=5, counts=counts, exclude=set(), max_tries=20_000)
    assert len(a) == 18 and all(e.name.startswith(("extra_prop_", "extra_fo_")) for e in a)
    without = build_extra(seed=5, counts=counts, exclude={canonical(a[0].statement)}, max_tries=20_000)
    assert canonical(a[0].statement) not in {canonical(e.statement) for e in without}
    default = build_extra(seed=5, counts=counts, max_tries=20_000)  # the default exclusion: the split files
    assert len(default) == 18 and not {canonical(e.statement) for e in default} & split_statements()
    assert len(split_statements()) == sum(len(load_split(s)) for s in ("train", "valid", "test"))


def test_some_extra_reference_proofs_are_checked_by_lean(lean_toolchain) -> None:
    """The proofs as generated and with canonical binder names: both replay in the real Lean."""
    from eval.logic.examples import reference_proof
    from lean_env.term_env import LeanTermEnv
    from search.replay import replay_states

    extra = load_split(EXTRA)[:24]
    renamed = [reference_proof(t, canonical_names=True) for t in extra]
    assert renamed != [t.extra["reference_proof"] for t in extra]
    with LeanTermEnv(lean_toolchain) as env:
        states = replay_states(env, [(t, t.extra["reference_proof"]) for t in extra])
        canon = replay_states(env, list(zip(extra, renamed, strict=True)))
    for s, c, t in zip(states, canon, extra, strict=True):
        assert s is not None and c is not None and len(s) == len(c) == t.extra["difficulty"]


def test_varied_theorems_are_new_and_written_the_way_people_write_them() -> None:
    varied = load_split(EXTRA_VARIED)
    assert len(varied) == 2400 and {t.extra["source"] for t in varied} == {"prop_varied", "fo_varied"}
    seen = {canonical(_statement(t)) for s in ("train", "valid", "test") for t in load_split(s)}
    seen |= {canonical(_statement(t)) for t in load_split(EXTRA)}
    keys = [canonical(_statement(t)) for t in varied]
    assert not set(keys) & seen and len(set(keys)) == len(keys)
    assert len(load_dataset("logic:extra+extra_varied")) == len(load_split(EXTRA)) + len(varied)
    assert all(t.header == prelude_text() and t.extra["difficulty"] == len(t.extra["reference_proof"]) for t in varied)
    names = Counter(n for t in varied for n in re.findall(r"\((\S+) : ", _statement(t)) if n.startswith("h"))
    numbered = sum(c for n, c in names.items() if re.fullmatch(r"h\d+", n))
    assert {"h", "h'", "hp", "hnp", "hpq", "ha"} <= set(names) and 0.1 < numbered / sum(names.values()) < 0.5
    for word in ("True", "False"):
        assert 0.05 < sum(word in _statement(t) for t in varied) / len(varied) < 0.6
    assert any("trivial" in t.extra["reference_proof"] for t in varied)


def test_varied_names_by_convention_plain_or_numbered() -> None:
    import random

    assert conventional_name(("not", ("atom", "p"))) == "hnp"
    assert conventional_name(("imp", ("atom", "p"), ("and", ("atom", "q"), ("atom", "r")))) == "hpq"
    assert conventional_name(("all", "x", ("pred", "P", "x"))) == "h"  # bound individuals do not count
    assert conventional_name(("pred", "P", "a")) == "ha" and conventional_name(("eq", "a", "b")) == "hab"
    fs = [("atom", "p"), ("atom", "p"), ("not", ("atom", "p"))]
    styles = {tuple(varied_names(random.Random(i), fs)) for i in range(40)}
    assert styles == {("hp", "hp'", "hnp"), ("h", "h'", "h''"), ("h1", "h2", "h3")}
    a = build_varied(seed=3, counts={"prop_varied": 10, "fo_varied": 5}, exclude=set(), max_tries=20_000)
    assert a == build_varied(seed=3, counts={"prop_varied": 10, "fo_varied": 5}, exclude=set(), max_tries=20_000)
    assert len(a) == 15 and all(e.name.startswith(("varied_prop_", "varied_fo_")) for e in a)
    without = build_varied(seed=3, counts={"prop_varied": 10}, exclude={canonical(a[0].statement)}, max_tries=20_000)
    assert canonical(a[0].statement) not in {canonical(e.statement) for e in without}


def test_some_varied_reference_proofs_are_checked_by_lean(lean_toolchain) -> None:
    """With canonical binder names, as the demo recipe trains on them: every one replays in the real Lean,
    named hypotheses, `h'` and `trivial` included."""
    from eval.logic.examples import reference_proof
    from lean_env.term_env import LeanTermEnv
    from search.replay import replay_states

    varied = load_split(EXTRA_VARIED)
    some = varied[:20] + [t for t in varied if "trivial" in t.extra["reference_proof"]][:3] + \
        [t for t in varied if "(h' : " in t.formal_statement][:3]
    proofs = [(t, reference_proof(t, canonical_names=True)) for t in some]
    assert any(p != t.extra["reference_proof"] for t, p in proofs)
    with LeanTermEnv(lean_toolchain) as env:
        states = replay_states(env, proofs)
    for s, t in zip(states, some, strict=True):
        assert s is not None and len(s) == t.extra["difficulty"], t.name


def test_canonical_binders_take_the_smallest_free_index_in_scope() -> None:
    from eval.logic.binders import canonical_binders

    stmt = "(p q r : Prop) (h1 : Or (Not p) r) (h2 : And p p) : And (Or (Or r r) (r → p)) ((p → q) → Or r q) :="
    proof = ["And.intro ?_ ?_", "Or.inl ?_", "Or.elim h1 (fun h7 => ?_) (fun h8 => ?_)", "False.elim (h7 ?_)", "h2.1",
             "Or.inl ?_", "h8", "fun h9 => ?_", "Or.inr ?_", "h9 ?_", "h2.1"]
    assert canonical_binders(stmt, proof) == [
        "And.intro ?_ ?_", "Or.inl ?_", "Or.elim h1 (fun h3 => ?_) (fun h3 => ?_)", "False.elim (h3 ?_)", "h2.1",
        "Or.inl ?_", "h3", "fun h3 => ?_", "Or.inr ?_", "h3 ?_", "h2.1"]
    fo = ["fun x5 => ?_", "Exists.elim (h1 x5) (fun x6 h7 => ?_)", "fun h8 => ?_", "h7"]
    assert canonical_binders("(α : Type) (P : α → Prop) (a : α) (h1 : ∀ x : α, P x) : _ :=", fo) == [
        "fun x1 => ?_", "Exists.elim (h1 x1) (fun x2 h2 => ?_)", "fun h3 => ?_", "h2"]
    assert canonical_binders(stmt, ["fun h5 => ?_"]) == ["fun h5 => ?_"]  # a hole left: unchanged
    assert canonical_binders(stmt, ["h1", "h2"]) == ["h1", "h2"]  # more fillings than holes: unchanged


# --------------------------------------------------------------------------- SFT


def test_learning_rate_schedules() -> None:
    lin = TrainConfig(warmup_steps=2)
    assert [round(lr_factor(s, 10, lin), 3) for s in (0, 1, 2, 6, 10)] == [0.5, 1.0, 1.0, 0.5, 0.0]
    cos = TrainConfig(warmup_steps=0, lr_schedule="cosine", min_lr_ratio=0.1)
    assert lr_factor(0, 10, cos) == pytest.approx(1.0) and lr_factor(10, 10, cos) == pytest.approx(0.1)
    assert lr_factor(5, 10, cos) == pytest.approx(0.55)
    with pytest.raises(ValueError, match="lr_schedule"):
        TrainConfig(lr_schedule="step")
    with pytest.raises(ValueError, match="min_lr_ratio"):
        TrainConfig(min_lr_ratio=2.0)


def test_length_grouped_batches_cover_every_example_once_per_epoch() -> None:
    lengths = [(i * 37) % 101 for i in range(500)]
    cfg = TrainConfig(epochs=2, batch_size=4, group_by_length=True, seed=3)
    plan = schedule(500, cfg, lengths)
    assert plan == schedule(500, cfg, lengths)
    epoch0 = [i for step in plan[:125] for mb in step for i in mb]
    assert sorted(epoch0) == list(range(500))
    spread = sum(max(lengths[i] for i in mb) - min(lengths[i] for i in mb) for step in plan for mb in step)
    plain = schedule(500, TrainConfig(epochs=2, batch_size=4, seed=3), lengths)
    spread_plain = sum(max(lengths[i] for i in mb) - min(lengths[i] for i in mb) for step in plain for mb in step)
    assert spread * 5 < spread_plain  # far less padding
    assert [mb for step in plan[:10] for mb in step] != sorted([mb for step in plan[:10] for mb in step],
                                                               key=lambda mb: lengths[mb[0]])  # still shuffled


def test_validation_loss_is_logged_and_falls(tmp_path: Path) -> None:
    from prover.tiny import examples_from_world, synthetic_logic_world

    rows = examples_from_world(synthetic_logic_world(12, seed=0))
    val = examples_from_world(synthetic_logic_world(6, seed=1))
    cfg = TrainConfig(epochs=40, lr=0.005, batch_size=6, tiny_size="micro", device="cpu", eval_every=20,
                      log_every=20, lr_schedule="cosine", group_by_length=True)
    final = train_sft(rows, tmp_path / "run", cfg, fmt="tactic", progress=False, val_examples=val)
    log = [json.loads(x) for x in (tmp_path / "run" / "train_log.jsonl").read_text().splitlines()]
    vals = [x["val_loss"] for x in log if "val_loss" in x]
    assert len(vals) >= 3 and vals[-1] < vals[0]
    assert json.loads((final / "val_loss.json").read_text())["val_loss"] == pytest.approx(vals[-1])


# --------------------------------------------------------------------------- DPO


def _tree() -> dict:
    """root -(t1)-> a -(t2)-> proof end; root failed `bad1` (tactic error), `same` (no progress),
    `slow` (timeout); a failed `bad2`."""
    fail = lambda tac, kind: {"tactic": tac, "thought": "", "logprob": -1.0, "kind": kind, "message": "x"}  # noqa: E731
    return {"nodes": [
        {"id": "n0", "goals": "⊢ p → p", "status": "proved", "failures": [
            fail("bad1", "tactic_error"), fail("same", "no_progress"), fail("slow", "timeout")]},
        {"id": "n1", "goals": "h : p\n⊢ p", "status": "proved", "failures": [fail("bad2", "tactic_error")]},
        {"id": "n2", "goals": "", "status": "proved", "no_goals": True, "failures": []},
        {"id": "n3", "goals": "⊢ q", "status": "failed", "failures": [fail("bad3", "tactic_error")]},
    ], "edges": [
        {"source": "n0", "target": "n1", "tactic": "fun h => ?_", "thought": ""},
        {"source": "n1", "target": "n2", "tactic": "h", "thought": ""},
        {"source": "n0", "target": "n3", "tactic": "wrong ?_", "thought": ""},
    ]}


def test_pairs_are_proof_path_tactics_against_rejected_siblings(tmp_path: Path) -> None:
    from prover.dpo import pairs_from_tree_files, preference_pairs, tree_pairs

    pairs = tree_pairs("t", _tree(), "tactic")
    got = [(p["state"], p["chosen"], p["rejected"]) for p in pairs]
    assert got == [("⊢ p → p", "fun h => ?_\n[END]", "bad1\n[END]"), ("⊢ p → p", "fun h => ?_\n[END]", "same\n[END]"),
                   ("h : p\n⊢ p", "h\n[END]", "bad2\n[END]")]
    assert pairs[0]["prompt"] == "[GOALS]\n⊢ p → p\n[TACTIC]\n"
    twice = preference_pairs([("t", _tree()), ("t", _tree())], "tactic", max_pairs_per_state=1)
    assert len(twice) == 2  # deduplicated, one per (state, chosen)
    f = tmp_path / "trees.jsonl"
    f.write_text(json.dumps({"name": "t", "attempt": 0, **_tree()}) + "\n")
    assert len(pairs_from_tree_files([f])) == 3


def test_dpo_with_trl_raises_the_chosen_over_the_rejected(tmp_path: Path) -> None:
    pytest.importorskip("trl")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from prover.dpo import DPOTrainConfig, train_dpo
    from prover.tiny import examples_from_world, synthetic_logic_world
    from thoughts.format import build_prompt, format_target

    rows = examples_from_world(synthetic_logic_world(12, seed=0))
    sft = train_sft(rows, tmp_path / "sft", TrainConfig(epochs=3, lr=0.005, batch_size=6, tiny_size="micro",
                                                         device="cpu"), fmt="tactic", progress=False)
    pairs = [{"prompt": build_prompt(r["state"], "tactic"), "chosen": format_target("", r["tactic"], "tactic"),
              "rejected": format_target("", "False.elim ?_", "tactic")} for r in rows if r["tactic"] != "False.elim ?_"]

    def margin(path: Path) -> float:
        tok = AutoTokenizer.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(path).eval()
        total = 0.0
        for p in pairs:
            lp = []
            for side in ("chosen", "rejected"):
                ids = tok(p["prompt"] + p[side], return_tensors="pt", add_special_tokens=False)["input_ids"]
                n = len(tok(p["prompt"], add_special_tokens=False)["input_ids"])
                with torch.no_grad():
                    logp = torch.log_softmax(model(ids).logits[0, :-1], -1)
                lp.append(float(logp[n - 1:].gather(1, ids[0, n:, None]).sum()))
            total += lp[0] - lp[1]
        return total / len(pairs)

    cfg = DPOTrainConfig(beta=0.1, lr=5e-3, epochs=4, batch_size=8, device="cpu", save_every=1000)
    final = train_dpo(pairs, sft, tmp_path / "dpo", cfg, progress=False)
    assert (final / "prover_format.json").is_file()
    assert margin(final) > margin(sft) + 1.0
    assert train_dpo(pairs, sft, tmp_path / "dpo", cfg, progress=False) == final  # done: returns at once
    with pytest.raises(ValueError, match="holds a different DPO run"):
        train_dpo(pairs[:3], sft, tmp_path / "dpo", cfg, progress=False)


# --------------------------------------------------------------------------- expert iteration


def _ei_config(run_dir: Path, train: Path, **kw) -> ei.EIConfig:
    data = Path(__file__).resolve().parent / "data"
    cfg = dict(run_dir=str(run_dir), train=f"jsonl:{train}", valid=f"jsonl:{data / 'ei_valid.jsonl'}", rounds=3,
               env=f"scripted:{data / 'ei_world.json'}", budget="expansions=4", search={"n": 3}, fmt="tactic",
               teacher=None, tiny_size="micro", device="cpu")
    cfg.update(kw)
    return ei.EIConfig(**cfg)


def test_easy_seed_set_and_a_difficulty_curriculum(tmp_path: Path) -> None:
    src = Path(__file__).resolve().parent / "data" / "ei_train.jsonl"
    rows = [json.loads(x) for x in src.read_text().splitlines() if x.strip()]
    for i, r in enumerate(rows):
        r["difficulty"] = 1 + i  # 1, 2, ..., 6
    train = tmp_path / "train.jsonl"
    train.write_text("".join(json.dumps(r) + "\n" for r in rows))
    run = ei._Run(_ei_config(tmp_path / "r", train, seed_max_difficulty=2, difficulty_step=2), progress=False)
    assert [t.extra["difficulty"] for t in run.seed_set] == [1, 2]  # every easy one, nothing else
    assert [t.extra["difficulty"] for t in run.pool] == [3, 4, 5, 6]
    names = {t.extra["difficulty"]: t.name for t in run.pool}
    assert [t.extra["difficulty"] for t in run.to_search(0, [])] == [3, 4]  # cap 2 + 2
    hist = [{"solved": {names[3]}, "skipped": {names[5], names[6]}}]
    assert [t.extra["difficulty"] for t in run.to_search(1, hist)] == [4, 5, 6]  # cap 6, the solved one left out
    with pytest.raises(ValueError, match="difficulty_step needs seed_max_difficulty"):
        _ei_config(tmp_path / "q", train, difficulty_step=2)


# --------------------------------------------------------------------------- the shipped recipes

LEARN = Path(__file__).resolve().parents[1] / "configs" / "learn"


@pytest.mark.parametrize("path", sorted(p for p in LEARN.glob("*.json") if not p.name.startswith("ei_")),
                         ids=lambda p: p.stem)
def test_shipped_lever_recipes_load(path: Path) -> None:
    """Every recipe under configs/learn/ (expert iteration's are loaded in test_expert_iteration.py)
    is a demo recipe or a DPO recipe whose SFT recipe and DPO fields are checked."""
    from core.jsonl import read_json
    from prover.commands.demo import DemoConfig
    from prover.dpo import DPOTrainConfig

    raw = read_json(path, "recipe")
    if "sft_config" in raw:
        root = LEARN.parents[1]
        assert set(raw) <= {"sft_config", "pair_dataset", "pair_limit", "pair_budget", "dpo"}
        DemoConfig.load(root / raw["sft_config"])
        DPOTrainConfig.from_dict(raw["dpo"], where=str(path))
        load_dataset(raw["pair_dataset"])
    else:
        DemoConfig.load(path)
