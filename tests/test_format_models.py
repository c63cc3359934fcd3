"""Every named prompt format end to end: a tiny model per architecture (a small Llama for the causal
formats, a small T5 over ByT5's byte tokenizer for ReProver's seq2seq one), built from configs and
trained for seconds on a scripted world's proofs written in the formats, runs through `prover eval`
with `--prompt NAME`; run.json records the format and the dataset's content hash."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.jsonl import read_jsonl
from prover.cli import main
from prover.tiny import synthetic_logic_world
from prover.tiny_formats import format_rows, train_format_model
from thoughts.prompts import CAUSAL, PROMPTS, SEQ2SEQ, STEP

pytestmark = pytest.mark.slow
CAUSAL_NAMES = [n for n, f in PROMPTS.items() if f.arch == CAUSAL]


def _world_file(world, path: Path) -> Path:
    d = {"theorems": [{"name": t.name, "statement": t.statement, "goal": t.goal} for t in world.theorems],
         "transitions": world.transitions}
    path.write_text(json.dumps(d, ensure_ascii=False), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: one thread is fastest on a shared machine
    root = tmp_path_factory.mktemp("formats")
    world = synthetic_logic_world(6)
    pairs = [p for name in CAUSAL_NAMES for p in format_rows(world, name)]
    models = {
        "world": _world_file(world, root / "world.json"),
        CAUSAL: train_format_model(pairs, root / "causal", "tactic", steps=500),
        SEQ2SEQ: train_format_model(format_rows(world, "reprover"), root / "seq2seq", "reprover", steps=150),
    }
    yield models
    torch.set_num_threads(threads)


def _eval(tiny: dict[str, Path], out: Path, prompt: str, strategy: str, config: str, generation: str) -> dict:
    w = tiny["world"]
    model = tiny[PROMPTS[prompt].arch]
    rc = main(["eval", "--dataset", f"scripted:{w}", "--env", f"scripted:{w}", "--policy", f"model:{model}",
               "--prompt", prompt, "--strategy", strategy, "--config", config, "--budget", "expansions=8",
               "--generation", generation, "--out", str(out), "--no-progress"])
    assert rc == 0
    rows = list(read_jsonl(out / "results.jsonl"))
    meta = json.loads((out / "run.json").read_text(encoding="utf-8"))
    return {"rows": rows, "meta": meta, "solved": sum(r["status"] == "proved" for r in rows)}


@pytest.mark.parametrize("prompt", list(PROMPTS))
def test_each_format_runs_through_prover_eval_with_a_tiny_model(tiny, tmp_path, prompt, capsys) -> None:
    fmt = PROMPTS[prompt]
    step = fmt.kind == STEP
    gen = "max_new_tokens=40,num_beams=4" if fmt.arch == SEQ2SEQ else "max_new_tokens=40,num_beams=0,temperature=1.0"
    res = _eval(tiny, tmp_path / prompt, prompt, "best-first" if step else "whole", "n=4" if step else "samples=4", gen)
    out = capsys.readouterr().out
    assert len(res["rows"]) == 6 and res["solved"] >= 3, (prompt, res["solved"], out)
    meta = res["meta"]
    assert meta["prompt"] == prompt and meta["label"].endswith(f"/{prompt}")
    assert meta["dataset_hash"] == meta["dataset_id"]["content_hash"] and meta["dataset_id"]["theorems"] == 6
    assert f"solved {res['solved']}/6" in out
    proved = next(r for r in res["rows"] if r["status"] == "proved")
    assert proved["proof_text"].strip()


def test_deepseek_truncate_and_resume_through_prover_eval(tiny, tmp_path) -> None:
    res = _eval(tiny, tmp_path / "tr", "deepseek-prover-v1.5", "truncate-resume", "samples=2,resumes=2",
                "max_new_tokens=60,temperature=1.0")
    assert res["solved"] >= 3 and all(r["strategy"] == "truncate-resume" for r in res["rows"])
    assert res["meta"]["config"]["resumes"] == 2 and res["meta"]["config"]["state_comment"] is True


def test_a_rerun_on_other_statements_is_refused_and_report_refuses_to_compare(tiny, tmp_path, capsys) -> None:
    w = tiny["world"]
    data = tmp_path / "benchmark.json"  # the dataset file; the env keeps the full world
    data.write_text(w.read_text(encoding="utf-8"), encoding="utf-8")

    def run(out: str) -> int:
        return main(["eval", "--dataset", f"scripted:{data}", "--env", f"scripted:{w}",
                     "--policy", f"model:{tiny[CAUSAL]}", "--prompt", "bfs-prover", "--strategy", "best-first",
                     "--config", "n=4", "--budget", "expansions=8", "--generation", "max_new_tokens=40,temperature=1.0",
                     "--out", str(tmp_path / out), "--no-progress"])

    assert run("a") == 0
    d = json.loads(data.read_text(encoding="utf-8"))
    d["theorems"] = d["theorems"][:5]  # another version of the benchmark at the same path: one problem fewer
    data.write_text(json.dumps(d, ensure_ascii=False), encoding="utf-8")
    assert run("b") == 0
    a, b = (json.loads((tmp_path / x / "run.json").read_text())["dataset_id"] for x in ("a", "b"))
    assert a["spec"] == b["spec"] and a["content_hash"] != b["content_hash"] and (a["theorems"], b["theorems"]) == (6, 5)
    capsys.readouterr()
    assert main(["report", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "cmp")]) != 0
    err = capsys.readouterr().err
    assert "different datasets" in err and "--allow-different-datasets" in err
    assert main(["report", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "cmp"),
                 "--allow-different-datasets"]) == 0
    assert "different datasets" in capsys.readouterr().err
    assert run("a") != 0  # the same --out on other statements: its rows are stale, refused
    assert "no longer among the theorems" in capsys.readouterr().err
