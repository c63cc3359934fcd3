"""Expert iteration: the pieces, the loop on a scripted world with a real (micro) model, and a run
killed in round 1 that resumes to the same final data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import prover.expert_iteration as ei
from core.jsonl import read_jsonl
from prover.expert_iteration import EIConfig, examples_from_rows, job_seed, run_expert_iteration
from search.replay import replay_states

DATA = Path(__file__).resolve().parent / "data"
WORLD = DATA / "ei_world.json"


def small_config(run_dir: Path, **kw) -> EIConfig:
    """Six training and two valid theorems of a scripted world, a micro model, tiny budgets.  70 epochs:
    the micro model then learns the world's pattern for every run seed tried (0-3 solve 4, 4, 4, 3
    of the 4 pool theorems in round 0); with 50 whether round 0 proved anything was the luck of
    the draw."""
    cfg = dict(
        run_dir=str(run_dir), train=f"jsonl:{DATA / 'ei_train.jsonl'}", valid=f"jsonl:{DATA / 'ei_valid.jsonl'}",
        rounds=2, seed_count=2, env=f"scripted:{WORLD}", strategy="best-first", budget="expansions=4",
        search={"n": 3}, attempts=1, fmt="tactic", teacher=None, tiny_size="micro", device="cpu",
        generation={"max_new_tokens": 12, "temperature": 0.7, "batch_size": 8},
        train_config={"epochs": 70, "lr": 0.005, "batch_size": 6, "device": "cpu", "log_every": 100},
        search_solved=True, finetune_from="last",
    )
    cfg.update(kw)
    return EIConfig(**cfg)


JOB_SEED_0_1_T_0 = 1087908828          # zlib.crc32("0/1/t/0") & 0x7FFFFFFF
JOB_SEED_7_2_MATHD_3 = 586588578       # zlib.crc32("7/2/mathd_algebra_10/3") & 0x7FFFFFFF
TIMING = ("seconds", "model")  # fields that differ between equal runs (times, the run's own paths)


def comparable(run_dir: Path) -> dict:
    """Everything a run wrote that must not depend on being interrupted: search rows (sorted, times
    dropped), examples, metrics (times dropped), and the last model's weights."""
    out: dict = {}
    for f in sorted(run_dir.rglob("*.jsonl")):
        if "model" in f.parts[len(run_dir.parts):-1] or f.name == "train_log.jsonl":
            continue
        rows = [{k: v for k, v in r.items() if not any(t in k for t in TIMING) and k != "first_proof_at"}
                for r in read_jsonl(f)]
        out[str(f.relative_to(run_dir))] = sorted(rows, key=lambda r: json.dumps(r, sort_keys=True))
    last = sorted(run_dir.glob("round*/model/final/model.safetensors"))[-1]
    out["weights"] = last.read_bytes()
    return out


@pytest.mark.slow
def test_a_run_killed_in_round_1_resumes_to_the_same_final_data(tmp_path, monkeypatch, capsys):
    full = run_expert_iteration(small_config(tmp_path / "full"), progress=False)
    assert [m["round"] for m in full] == [0, 1, 2]
    assert all(m["train_total"] == 4 and m["valid_total"] == 2 for m in full)
    assert sum(m["examples_new"] for m in full) > 0  # the rounds found proofs, so resuming has data to redo
    assert (tmp_path / "full" / "metrics.png").stat().st_size > 0

    real = ei.search_many
    calls = {"n": 0}

    def dies_in_round_1(jobs, *a, **kw):  # the process "dies" after 3 theorems of round 1
        calls["n"] += 1  # each round searches twice (train, then valid): call 3 is round 1's train
        for i, row in enumerate(real(jobs, *a, **kw)):
            if i == 3 and calls["n"] == 3:  # the campaign appended rows 0..2; row 3 never arrives
                raise KeyboardInterrupt
            yield row

    monkeypatch.setattr(ei, "search_many", dies_in_round_1)
    with pytest.raises(KeyboardInterrupt):
        run_expert_iteration(small_config(tmp_path / "killed"), progress=False)
    assert len(list(read_jsonl(tmp_path / "killed" / "round1" / "train.jsonl"))) == 3
    assert not (tmp_path / "killed" / "round2").exists()
    monkeypatch.setattr(ei, "search_many", real)

    from prover.cli import main

    cfg_file = tmp_path / "ei.json"
    cfg_file.write_text(json.dumps(small_config(tmp_path / "killed").to_dict()))
    assert main(["expert-iteration", "--config", str(cfg_file), "--no-progress"]) == 0
    table = capsys.readouterr().out
    assert "valid" in table and len(table.strip().splitlines()) >= 4
    assert comparable(tmp_path / "killed") == comparable(tmp_path / "full")


def test_verified_proofs_become_examples_with_their_states(tmp_path):
    run_dir = tmp_path / "run"
    metrics = run_expert_iteration(small_config(run_dir, rounds=0), progress=False)
    rows = list(read_jsonl(run_dir / "round0" / "train.jsonl"))
    proved = [r for r in rows if r["status"] == "proved"]
    assert metrics[0]["train_solved"] == len(proved) > 0  # the micro model learned the world's pattern
    ex = list(read_jsonl(run_dir / "round0" / "examples.jsonl"))
    seed = list(read_jsonl(run_dir / "seed" / "examples.jsonl"))
    assert len(seed) == 6 and {r["round"] for r in seed} == {-1}
    assert {r["theorem"] for r in ex} == {r["name"] for r in proved}
    for r in ex:  # each example's state is the state the world is in before that step
        assert r["round"] == 0 and r["source"] == "ei-round0"
    assert {(r["state"], r["tactic"]) for r in ex} <= {
        (g, t) for g, steps in json.loads(WORLD.read_text())["transitions"].items()
        for t, res in steps.items() if isinstance(res, list)}


def test_examples_are_deduplicated_and_ordered():
    rows = [
        {"name": "b", "attempt": 0, "status": "proved", "proof": ["t1", "t2"], "states": ["s1", "s2"], "thoughts": ["a", ""]},
        {"name": "a", "attempt": 1, "status": "proved", "proof": ["t1"], "states": ["s9"], "thoughts": []},
        {"name": "a", "attempt": 0, "status": "proved", "proof": ["t1"], "states": ["s9"], "thoughts": []},
        {"name": "c", "attempt": 0, "status": "failed", "proof": [], "thoughts": []},
    ]
    seen = {("b", "s2", "t2")}
    ex = examples_from_rows(rows, 3, seen)
    assert [(e["theorem"], e["state"], e["tactic"], e["thought"]) for e in ex] == [("a", "s9", "t1", ""),
                                                                                     ("b", "s1", "t1", "a")]
    assert {e["round"] for e in ex} == {3} and ("a", "s9", "t1") in seen
    with pytest.raises(ValueError, match="states"):
        examples_from_rows([{**rows[0], "states": ["s1"]}], 0, set())


def test_which_theorems_a_round_searches(tmp_path):
    class P:
        def __init__(self, name):
            self.name = name

    run = object.__new__(ei._Run)
    run.pool = [P(n) for n in "abcd"]
    hist = [{"solved": {"a", "b"}, "skipped": set()}, {"solved": {"a", "c"}, "skipped": set()}]
    names = lambda cfg: [t.name for t in (setattr(run, "cfg", cfg) or run.to_search(2, hist))]  # noqa: E731
    assert names(small_config(tmp_path, search_solved=False)) == ["d"]
    assert names(small_config(tmp_path, search_solved=True)) == ["a", "b", "c", "d"]
    assert names(small_config(tmp_path, search_solved=True, curriculum=True)) == ["b", "c", "d"]
    assert run.to_search(0, []) == run.pool


def test_bad_configs_are_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown field"):
        EIConfig.from_dict({"roundz": 3})
    with pytest.raises(ValueError, match="strategy"):
        small_config(tmp_path, strategy="dfs")
    with pytest.raises(ValueError, match="finetune_from"):
        small_config(tmp_path, finetune_from="scratch")
    with pytest.raises(ValueError, match="budget"):
        small_config(tmp_path, budget="expansions=x")
    with pytest.raises(FileNotFoundError):
        EIConfig.load(tmp_path / "missing.json")
    ei._Run(small_config(tmp_path / "r"), progress=False)
    ei._Run(small_config(tmp_path / "r", seed=1), progress=False)  # nothing written yet: the new config binds
    ei._Run(small_config(tmp_path / "r"), progress=False).seed_examples()  # now the run has an output
    ei._Run(small_config(tmp_path / "r", rounds=5, workers=2), progress=False)  # runtime fields may change
    with pytest.raises(ValueError, match="holds a different expert-iteration run .seed: was 0, now 1"):
        ei._Run(small_config(tmp_path / "r", seed=1), progress=False)  # a run dir belongs to one config


@pytest.mark.parametrize("path", sorted((Path(__file__).resolve().parents[1] / "configs" / "learn").glob("ei_*.json")),
                         ids=lambda p: p.stem)
def test_shipped_expert_iteration_configs_load(path):
    cfg = EIConfig.load(path)
    assert cfg.rounds >= 1 and Path(cfg.run_dir) == Path("runs/learn") / path.stem  # each writes its own folder


def test_job_seeds_are_stable():
    """A resumed run must give each job the seed it had: the seed is a fixed function of (run seed,
    round, theorem, attempt), the same in every process and every release (these values are pinned)."""
    import subprocess
    import sys

    assert job_seed(0, 1, "t", 0) == JOB_SEED_0_1_T_0
    assert job_seed(7, 2, "mathd_algebra_10", 3) == JOB_SEED_7_2_MATHD_3
    code = "from prover.expert_iteration import job_seed; print(job_seed(7, 2, 'mathd_algebra_10', 3))"
    for hash_seed in ("0", "1234"):  # hash() of a str would differ between these processes
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                             env={"PYTHONHASHSEED": hash_seed, "PATH": "/usr/bin:/bin"},
                             cwd=Path(__file__).resolve().parent.parent)
        assert int(out.stdout) == JOB_SEED_7_2_MATHD_3
    seeds = {job_seed(0, r, n, a) for r in range(3) for n in "abc" for a in range(2)}
    assert len(seeds) == 18 and all(0 <= x < 2**31 for x in seeds)


def test_reference_proofs_replay_through_real_lean(lean_toolchain):
    from eval.logic import load_split
    from lean_env.term_env import LeanTermEnv

    ths = [t for t in load_split("train") if 2 <= t.extra["difficulty"] <= 4][:3]
    with LeanTermEnv(lean_toolchain) as env:
        states = replay_states(env, [(t, t.extra["reference_proof"]) for t in ths])
        assert [len(s) for s in states] == [len(t.extra["reference_proof"]) for t in ths]
        assert all(s[0] == env.start(t).text and "⊢" in s[-1] for s, t in zip(states, ths, strict=True))
        with pytest.raises(ValueError, match=ths[0].name):
            replay_states(env, [(ths[0], ["h1.2.2.2"])])


def test_the_teacher_writes_thoughts_for_a_rounds_examples(tmp_path):
    run = ei._Run(small_config(tmp_path / "r", fmt="thought", teacher="rule", thoughts="teacher"), progress=False)
    rows = [{"name": "chain0", "attempt": 0, "status": "proved", "proof": ["apply p_of_q", "exact s_all"],
             "states": ["x0 : Nat\n⊢ P0 x0", "x0 : Nat\n⊢ S0 x0"], "thoughts": ["the model's own", ""]}]
    final = run.round_examples(0, rows, set())
    ex = list(read_jsonl(final))
    assert final.name == "examples_final.jsonl" and len(ex) == 2
    assert all(r["thought"].strip() and r["rationale_by"] == "rule" for r in ex)
    assert ex[0]["thought"] != "the model's own"  # thoughts="teacher" rewrites the model's thoughts
    keep = ei._Run(small_config(tmp_path / "k", fmt="thought", teacher="rule"), progress=False)
    ex = list(read_jsonl(keep.round_examples(0, rows, set())))
    assert ex[0]["thought"] == "the model's own" and ex[1]["thought"].strip()  # only the empty one is written
