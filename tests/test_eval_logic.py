"""The budget sweep and the report on the real-Lean logic benchmark (embedded Lean, term env)."""

from __future__ import annotations

import json

from core.types import Candidate
from eval.campaign import Campaign, run_campaign
from eval.datasets import load_dataset
from eval.report import load_run, write_report
from eval.sweep import solve_curve
from lean_env.term_env import LeanTermEnv
from search.budget import Budget

NAMES = ("eq_trans_example", "logic_prop_024", "logic_prop_046", "logic_prop_056", "logic_prop_075")
VOCAB = ("Or.inl ?_", "Or.inr ?_", "h1", "h2", "h1.2", "Eq.trans h1 ?_", "h1.mp ?_")


class FixedVocabulary:
    """Every state gets the same fillings, in a fixed order of preference."""

    def propose(self, states, n):
        return [[Candidate(t, "", -0.1 * i, len(t.split())) for i, t in enumerate(VOCAB[:n])] for _ in states]


def _run(tmp_path, name, toolchain, budget):
    theorems = [t for t in load_dataset("logic:valid") if t.name in NAMES]
    out = tmp_path / name
    out.mkdir()
    (out / "run.json").write_text(json.dumps({"label": name, "theorems": len(theorems), "attempts": 1,
                                              "strategy": "best-first", "budget": budget}))
    rows = run_campaign(Campaign(theorems, lambda: LeanTermEnv(toolchain, timeout=60), FixedVocabulary, "best-first",
                                 {"n": len(VOCAB)}, Budget.parse(budget), out=out / "results.jsonl",
                                 progress=False)).rows
    assert len(rows) == len(NAMES)
    return out


def test_logic_sweep_real_lean(tmp_path, lean_toolchain):
    big = _run(tmp_path, "b6", lean_toolchain, "expansions=6")
    rows = {r["name"]: r for r in load_run(big).rows}
    assert rows["logic_prop_024"]["status"] == "proved"
    # `Or.inl ?_` is preferred and dead-ends; the proof through `Or.inr ?_` comes at expansion 3
    assert rows["logic_prop_024"]["proof"] == ["Or.inr ?_", "h1"]
    assert rows["logic_prop_024"]["first_proof_at"]["expansions"] == 3
    assert rows["logic_prop_075"]["status"] != "proved"  # needs `fun h1 => ?_`: not in the vocabulary
    curve = solve_curve(load_run(big).rows, "expansions")
    assert curve.solved_at(6) == 4
    small = _run(tmp_path, "b2", lean_toolchain, "expansions=2")
    assert sum(r["status"] == "proved" for r in load_run(small).rows) == curve.solved_at(2) < 4
    paths = write_report([load_run(big), load_run(small)], tmp_path / "cmp")
    rep = json.loads(paths["json"].read_text())["runs"]
    assert [r["solved"] for r in rep] == [4, curve.solved_at(2)]
    assert rep[0]["mean_cost_per_attempt"]["lean_seconds"] > 0
    assert "| budget (expansions) | b6 | b2 |" in paths["md"].read_text()
    assert paths["plot"].stat().st_size > 5000


def test_eval_command_killed_and_resumed_real_lean(tmp_path):
    """`prover eval` on the real Lean, killed (SIGKILL) after its first result, then rerun: the first
    rows are kept, nothing is done twice, and the report covers every theorem."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    repo = Path(__file__).resolve().parent.parent
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "prover.cli", "eval", "--dataset", "logic:valid", "--limit", "5",
           "--env", "lean-term", "--policy", "vocab", "--strategy", "best-first", "--budget", "expansions=3",
           "--out", str(out), "--no-progress"]
    env = dict(os.environ, PYTHONPATH=str(repo))
    proc = subprocess.Popen(cmd, cwd=repo, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    results = out / "results.jsonl"
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if results.is_file() and results.read_text().count("\n") >= 1:
                break
            time.sleep(0.02)
        assert proc.poll() is None, "the run finished before it could be killed"
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    before = results.read_text()
    assert 1 <= before.count("\n") < 5
    done = subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    after = results.read_text()
    assert after.startswith(before)
    names = [json.loads(line)["name"] for line in after.splitlines()]
    assert len(names) == 5 == len(set(names))
    rep = json.loads((out / "report.json").read_text())["runs"][0]
    assert rep["theorems"] == 5 and rep["complete"]
