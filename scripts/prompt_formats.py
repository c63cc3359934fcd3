"""Every named prompt format end to end, on this machine: a scripted world, a tiny model per
architecture trained in the formats (prover/tiny_formats.py), and one `prover eval --prompt NAME`
per format (plus DeepSeek's truncate-and-resume), each command printed with its summary.

    python scripts/prompt_formats.py --out runs/prompt_formats

Models and runs are kept under --out; a rerun reuses the models and resumes the runs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--theorems", type=int, default=6, help="theorems of the synthetic logic world")
    ap.add_argument("--steps", type=int, default=500, help="training steps of the causal model")
    args = ap.parse_args()

    import torch

    from core.logs import quiet_output
    from prover.tiny import synthetic_logic_world
    from prover.tiny_formats import format_rows, train_format_model
    from thoughts.prompts import CAUSAL, PROMPTS, SEQ2SEQ, STEP

    torch.set_num_threads(1)
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    world = synthetic_logic_world(args.theorems)
    wfile = out / "world.json"
    wfile.write_text(json.dumps({"theorems": [{"name": t.name, "statement": t.statement, "goal": t.goal}
                                              for t in world.theorems], "transitions": world.transitions},
                                ensure_ascii=False), encoding="utf-8")
    causal = [n for n, f in PROMPTS.items() if f.arch == CAUSAL]
    with quiet_output():
        models = {CAUSAL: train_format_model([p for n in causal for p in format_rows(world, n)],
                                             out / "tiny-causal", "tactic", steps=args.steps),
                  SEQ2SEQ: train_format_model(format_rows(world, "reprover"), out / "tiny-seq2seq", "reprover",
                                              steps=150)}
    runs = [(n, "best-first" if f.kind == STEP else "whole", "n=4" if f.kind == STEP else "samples=4")
            for n, f in PROMPTS.items()] + [("deepseek-prover-v1.5", "truncate-resume", "samples=2,resumes=2")]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for name, strategy, config in runs:
        fmt = PROMPTS[name]
        gen = "max_new_tokens=40,num_beams=4" if fmt.arch == SEQ2SEQ else "max_new_tokens=60,num_beams=0,temperature=1.0"
        cmd = ["prover", "eval", "--dataset", f"scripted:{wfile}", "--env", f"scripted:{wfile}",
               "--policy", f"model:{models[fmt.arch]}", "--prompt", name, "--strategy", strategy, "--config", config,
               "--budget", "expansions=8", "--generation", gen, "--out", str(out / "runs" / f"{name}-{strategy}"),
               "--no-progress"]
        print("$ " + " ".join(cmd), flush=True)
        proc = subprocess.run([str(Path(sys.executable).parent / "prover"), *cmd[1:]], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=1800)
        print(proc.stdout.splitlines()[0] if proc.stdout else proc.stderr[-2000:], flush=True)
        if proc.returncode != 0:
            print(proc.stderr[-2000:], file=sys.stderr)
            return proc.returncode
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
