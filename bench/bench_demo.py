"""`prover demo` wall time before vs after the speed work, in one run: the same command twice, each
in a fresh output folder, once with the former settings (transformers' `generate`, a fresh `lean`
process per file) and once with configs/demo.json as it is (CTranslate2's beam search, two warm
Lean workers).

    python bench/bench_demo.py --out /tmp/demo_bench           # both runs (about 10 minutes on 2 cores)
    python bench/bench_demo.py --out /tmp/demo_bench --only after
    python bench/bench_demo.py --out /tmp/demo_bench --policy-from runs/demo/policy   # steps 1, 2, 4 only

"before" runs `prover demo --config C --no-progress` with C = configs/demo.json plus
`generation.engine = "hf"`, `lean_workers = 1` and the environment variable PROVER_LEAN_WARM=0
(one fresh `lean` process per file); "after" runs it with
configs/demo.json as it is.  Per run: the wall time of each step (from the moment each step's line
is printed), the solved count, the search's model and Lean seconds (summed over the result rows),
and the peak RSS of the demo process (training and search run in it; `wait4`).  Then the rows of
the two runs' results.jsonl are compared per theorem: the status must be the same (the bench fails
otherwise); how many rows also agree on (proof, expansions, env_calls) is printed.  The engines
"hf" and "fast" agree bit for bit, "ct2" only to 1e-4 in log-probabilities (docs/generator.md), so
a near-tie between two candidates can order them differently and change a row's counts.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STEPS = ("[1/4]", "[2/4]", "[3/4]", "[4/4]")
FIELDS = ("status", "proof", "expansions", "env_calls")


def run_demo(out: Path, config: Path, env: dict[str, str], extra: list[str]) -> dict:
    cmd = [sys.executable, "-m", "prover.cli", "demo", "--out", str(out), "--config", str(config), "--no-progress",
           *extra]
    t0 = time.perf_counter()
    marks: dict[str, float] = {}
    lines = []
    p = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert p.stdout is not None
    for line in p.stdout:
        lines.append(line.rstrip("\n"))
        for s in STEPS:
            if line.startswith(s) and s not in marks:
                marks[s] = time.perf_counter() - t0
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    rc = os.waitstatus_to_exitcode(status)
    rows = [json.loads(x) for x in (out / "eval" / "results.jsonl").read_text(encoding="utf-8").splitlines() if x]
    solved = next((x for x in lines if "solved" in x), "")
    return {
        "rc": rc, "wall_s": wall, "replay_s": marks.get("[1/4]", float("nan")),
        "train_s": marks.get("[3/4]", float("nan")) - marks.get("[2/4]", float("nan")),
        "search_s": wall - marks.get("[4/4]", float("nan")), "solved_line": solved.strip(),
        "solved": sum(r["status"] == "proved" for r in rows), "theorems": len(rows),
        "model_s": sum(r.get("model_seconds", 0.0) for r in rows), "lean_s": sum(r.get("lean_seconds", 0.0) for r in rows),
        "expansions": sum(r["expansions"] for r in rows), "peak_rss_mib": usage.ru_maxrss / 1024,
        "rows": {r["name"]: tuple(json.dumps(r.get(f)) for f in FIELDS) for r in rows}, "log": lines[-6:],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True, help="parent folder of the runs' output folders")
    ap.add_argument("--config", type=Path, default=ROOT / "configs" / "demo.json")
    ap.add_argument("--only", choices=("before", "after"), help="run one variant")
    ap.add_argument("--limit", type=int, help="only the first N theorems of the split (a quick check)")
    ap.add_argument("--policy-from", type=Path, help="a demo `policy` folder trained by this code with the same "
                    "recipe, copied into both runs, so that step 3 reuses it instead of training (not timed then)")
    ap.add_argument("--threads", type=int, help="OMP_NUM_THREADS for both runs (torch's CPU threads); on a shared "
                    "2-core machine 2 threads stall each other when another process holds a core")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()

    base = json.loads(args.config.read_text(encoding="utf-8"))
    before_cfg = dict(base, generation={**base.get("generation", {}), "engine": "hf"}, lean_workers=1)
    extra = ["--limit", str(args.limit)] if args.limit else []
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        cfg_path = Path(tmp) / "demo_before.json"
        cfg_path.write_text(json.dumps(before_cfg), encoding="utf-8")
        variants = {"before": (cfg_path, {"PROVER_LEAN_WARM": "0"}), "after": (args.config, {"PROVER_LEAN_WARM": "1"})}
        for name, (cfg, env_over) in variants.items():
            if args.only and name != args.only:
                continue
            out = args.out / name
            if out.exists():
                shutil.rmtree(out)
            if args.policy_from:
                shutil.copytree(args.policy_from, out / "policy")
            load = os.getloadavg()[0]
            env = {**os.environ, **env_over, "PYTHONPATH": str(ROOT)}
            if args.threads:
                env["OMP_NUM_THREADS"] = str(args.threads)
            results[name] = r = run_demo(out, cfg, env, extra)
            r["load_before"], r["load_after"] = load, os.getloadavg()[0]
            print(f"{name}: rc {r['rc']}, {r['solved_line']}", flush=True)
    print(f"torch threads: {args.threads or 'default'}; cores {os.cpu_count()}")
    print(f"{'run':>7} {'wall s':>7} {'replay s':>8} {'train s':>7} {'search s':>8} {'model s':>7} {'lean s':>7} "
          f"{'solved':>7} {'peak RSS MiB':>12} {'load avg':>9}")
    for name, r in results.items():
        print(f"{name:>7} {r['wall_s']:7.1f} {r['replay_s']:8.1f} {r['train_s']:7.1f} {r['search_s']:8.1f} "
              f"{r['model_s']:7.1f} {r['lean_s']:7.1f} {r['solved']:>3}/{r['theorems']:<3} {r['peak_rss_mib']:12.0f} "
              f"{r['load_before']:4.1f}-{r['load_after']:<4.1f}")
    code = 0 if all(r["rc"] == 0 for r in results.values()) else 1
    if len(results) == 2:
        b, a = results["before"], results["after"]
        differ = sorted(k for k in set(b["rows"]) | set(a["rows"]) if b["rows"].get(k) != a["rows"].get(k))
        at = FIELDS.index("status")
        status_differ = [k for k in differ if (b["rows"].get(k) or ("",) * len(FIELDS))[at]
                         != (a["rows"].get(k) or ("",) * len(FIELDS))[at]]
        print(f"ratio before/after: wall {b['wall_s'] / a['wall_s']:.2f}x, search {b['search_s'] / a['search_s']:.2f}x, "
              f"model {b['model_s'] / max(a['model_s'], 1e-9):.2f}x, lean {b['lean_s'] / max(a['lean_s'], 1e-9):.2f}x")
        print(f"rows ({', '.join(FIELDS)}) identical for {len(b['rows']) - len(differ)}/{len(b['rows'])} theorems"
              + (f"; differing: {', '.join(differ)}" if differ else ""))
        print(f"status identical for {len(b['rows']) - len(status_differ)}/{len(b['rows'])} theorems"
              + (f"; differing: {', '.join(status_differ)}" if status_differ else ""))
        code = code or (1 if status_differ else 0)
    if args.json:
        args.json.write_text(json.dumps({k: {x: y for x, y in v.items() if x != "rows"} for k, v in results.items()},
                                        indent=1), encoding="utf-8")
    return code


if __name__ == "__main__":
    sys.exit(main())
