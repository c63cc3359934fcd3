"""The GPU and Mathlib backends are reachable from `prover eval`: the REPL pool (`--env
double:...,workers=N`, the REPL client over several scripted-REPL processes; `repl:workers=N` is the
same pool over real REPLs), LeanDojo (`--env dojo`, against a stand-in `lean_dojo` module with its
documented classes), and vLLM (`--policy vllm:MODEL`, against a stand-in `vllm` module), also in a
published prompt format.  The real REPL, LeanDojo and vLLM do not run on this machine."""

from __future__ import annotations

import json
import sys
import types
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from core.jsonl import read_jsonl
from doubles.scripted import ScriptedWorld
from prover.cli import main

WORLD = "tests/data/worlds/backoff.json"
REPO = Path(__file__).resolve().parent.parent


def _eval(out: Path, *args: str) -> tuple[int, list[dict], dict]:
    rc = main(["eval", "--budget", "expansions=8", "--out", str(out), "--no-progress", *args])
    rows = list(read_jsonl(out / "results.jsonl")) if (out / "results.jsonl").is_file() else []
    meta = json.loads((out / "run.json").read_text()) if (out / "run.json").is_file() else {}
    return rc, rows, meta


def _proofs(rows: list[dict]) -> dict[str, Any]:
    return {r["name"]: (r["status"], r.get("proof")) for r in rows}


def test_the_repl_pool_is_reachable_and_gives_the_in_process_rows(tmp_path: Path) -> None:
    common = ["--dataset", f"scripted:{WORLD}", "--policy", f"scripted:{WORLD}", "--strategy", "best-first"]
    rc, local, _ = _eval(tmp_path / "local", "--env", f"scripted:{WORLD}", *common)
    assert rc == 0
    rc, pooled, meta = _eval(tmp_path / "pool", "--env", f"double:{WORLD},workers=2", *common)
    assert rc == 0 and meta["env"] == f"double:{WORLD},workers=2"
    assert _proofs(pooled) == _proofs(local) and any(s == "proved" for s, _ in _proofs(local).values())


# --------------------------------------------------------------------------- LeanDojo stand-in

@dataclass(frozen=True)
class TacticState:
    pp: str
    id: int = field(default=0, compare=False)


@dataclass(frozen=True)
class ProofFinished:
    tactic_state_id: int = 0


@dataclass(frozen=True)
class LeanError:
    error: str


def fake_lean_dojo(world: ScriptedWorld, opened: list[str]) -> types.ModuleType:
    """`lean_dojo` as lean_env/dojo.py calls it: LeanGitRepo(url, commit), Theorem(repo, path, name),
    Dojo(theorem) -> context manager of (dojo, initial TacticState); states answer from a world."""
    mod = types.ModuleType("lean_dojo")
    mod.LeanGitRepo = lambda url, commit: (url, commit)  # type: ignore[attr-defined]
    mod.Theorem = lambda repo, file_path, full_name: (repo, file_path, full_name)  # type: ignore[attr-defined]

    class Session:
        def run_tac(self, state: TacticState, tactic: str) -> Any:
            res = world.step(tuple(state.pp.split("\n\n")), tactic)
            if isinstance(res, str):
                return LeanError(res)
            return ProofFinished() if not res else TacticState("\n\n".join(res))

    @contextmanager
    def dojo(theorem: tuple, timeout: int = 600) -> Any:
        (url, commit), file_path, full_name = theorem
        opened.append(f"{full_name}@{commit[:7]}")
        yield Session(), TacticState(world.find(full_name).goal)

    mod.Dojo = dojo  # type: ignore[attr-defined]
    return mod


def test_leandojo_is_reachable_from_prover_eval_with_a_stand_in(tmp_path: Path, monkeypatch) -> None:
    world = ScriptedWorld.load(REPO / WORLD)
    data = tmp_path / "minif2f-dojo.jsonl"
    data.write_text("".join(json.dumps({"full_name": t.name, "statement": t.statement, "url": "https://x/mew",
                                        "commit": "1ef4e4cac9dd", "file_path": "MiniF2F/Test.lean", "split": "test"},
                                       ensure_ascii=False) + "\n" for t in world.theorems), encoding="utf-8")
    opened: list[str] = []
    monkeypatch.setitem(sys.modules, "lean_dojo", fake_lean_dojo(world, opened))
    rc, rows, meta = _eval(tmp_path / "dojo", "--dataset", f"leandojo:{data}:test", "--env", "dojo:timeout=60",
                           "--policy", f"scripted:{WORLD}", "--strategy", "best-first")
    assert rc == 0 and meta["env"] == "dojo:timeout=60"
    status = {r["name"]: r["status"] for r in rows}
    assert status["and_swap"] == "proved" and status["imp_self'"] == "proved"
    assert "and_swap@1ef4e4c" in opened  # sessions opened from the row's repo, commit, file and name


# --------------------------------------------------------------------------- vLLM stand-in

class FakeLLM:
    """vllm.LLM's generate(prompts, params, use_tqdm) -> RequestOutputs; answers from a world's proposals
    (the state is read back out of the InternLM2-StepProver prompt)."""

    def __init__(self, model: str, seed: int = 0, **kw: Any) -> None:
        self.model, self.kw = model, kw
        self.world = ScriptedWorld.load(REPO / WORLD)

    def generate(self, prompts: list[str], params: Any, use_tqdm: bool = False) -> list[Any]:
        out = []
        for p in prompts:
            state = p.split("GOAL ", 1)[1].rsplit("\n<|im_end|>", 1)[0] if "GOAL " in p else ""
            props = self.world.proposals.get(state) or self.world.proposals.get(state.split("\n\n")[0], [])
            outs = [types.SimpleNamespace(text=f"PROOFSTEP {tac}", token_ids=[1, 2, 3], cumulative_logprob=lp,
                                          finish_reason="stop", stop_reason="<|im_end|>")
                    for tac, lp in props[: params.n]]
            out.append(types.SimpleNamespace(outputs=outs, prompt_token_ids=list(range(len(p.split())))))
        return out


class FakeParams:
    def __init__(self, **kw: Any) -> None:
        self.__dict__.update(kw)


def test_vllm_in_a_published_prompt_format_is_reachable_from_prover_eval(tmp_path: Path, monkeypatch) -> None:
    try:
        import vllm  # noqa: F401
        pytest.skip("vllm is installed: the stand-in is not needed")
    except ImportError:
        pass
    monkeypatch.setitem(sys.modules, "vllm", types.SimpleNamespace(LLM=FakeLLM, SamplingParams=FakeParams))
    monkeypatch.setattr("prover.vllm_policy.count_parameters", lambda model, trust_remote_code=False: 1000)
    rc, rows, meta = _eval(tmp_path / "vllm", "--dataset", f"scripted:{WORLD}", "--env", f"scripted:{WORLD}",
                           "--policy", "vllm:internlm/internlm2-step-prover", "--strategy", "best-first",
                           "--config", "n=4", "--generation", "num_beams=0,temperature=0.7", "--trust-remote-code")
    assert rc == 0
    assert meta["prompt"] == "internlm2-step-prover"  # the hub id names its format
    assert {r["name"]: r["status"] for r in rows}["and_swap"] == "proved"
    row = next(r for r in rows if r["name"] == "and_swap")  # vLLM's token counts reach the FLOPs figure
    assert row["policy_parameters"] == 1000 and row["flops"] == 2 * 1000 * (row["prompt_tokens"] + row["generated_tokens"])
    assert row["prompt_tokens"] > 0 and row["generated_tokens"] > 0
