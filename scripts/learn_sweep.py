"""The experiments of issue 15 ("make the learner learn"): every lever is a demo recipe under
configs/learn/, run through `prover demo`'s own pipeline, and every run appends one row to the
levers table.

    python scripts/learn_sweep.py prepare --out runs/learn/cache          # replay once: train, extra, valid
    python scripts/learn_sweep.py run configs/learn/sft_extra2k.json --out runs/learn [--split valid]
    python scripts/learn_sweep.py table --out runs/learn                   # docs table of every run

`prepare` replays the reference proofs of logic:train, logic:extra and logic:valid in the real Lean
once (rows in the order `eval.logic.examples.reference_examples` writes them); `run` copies the rows
a recipe asks for into its folder (the rows the demo's step 1 would compute, which it then reuses),
runs the demo's steps 2-4, and appends the figures to OUT/levers.jsonl: solved at every expansion
budget up to the recipe's, with the Lean calls spent, the training seconds and the validation loss.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

BUDGETS = (1, 2, 4, 8, 16, 32, 64, 128)


def prepare(out: Path, canonical_names: bool = False) -> None:
    from core.jsonl import write_jsonl_atomic
    from eval.logic import EXTRA, load_split
    from eval.logic.examples import reference_examples
    from prover.factory import make_env

    out.mkdir(parents=True, exist_ok=True)
    env = make_env("lean-term")
    try:
        for split in ("train", "valid", EXTRA):
            f = out / f"{split}{'_canon' if canonical_names else ''}.jsonl"
            if f.is_file():
                continue
            t0 = time.perf_counter()
            rows = reference_examples(env, load_split(split), canonical_names=canonical_names)
            write_jsonl_atomic(f, rows)
            print(f"{split}: {len(rows)} steps in {time.perf_counter() - t0:.1f}s -> {f}", flush=True)
    finally:
        env.close()


def stage(cfg: object, cache: Path, run_dir: Path) -> None:
    """The recipe's examples.jsonl and valid_examples.jsonl, from the cache."""
    from core.jsonl import read_jsonl, write_jsonl_atomic
    from prover.commands.demo import training_theorems

    run_dir.mkdir(parents=True, exist_ok=True)
    suffix = "_canon" if cfg.canonical_names else ""  # type: ignore[attr-defined]
    ex = run_dir / "examples.jsonl"
    if not ex.is_file():
        names = [t.name for t in training_theorems(cfg)]  # type: ignore[arg-type]
        by: dict[str, list[dict]] = {}
        for split in ("train", "extra"):
            for r in read_jsonl(cache / f"{split}{suffix}.jsonl"):
                by.setdefault(r["theorem"], []).append(r)
        write_jsonl_atomic(ex, [r for n in names for r in by.get(n, [])])
    va = run_dir / "valid_examples.jsonl"
    if not va.is_file():
        write_jsonl_atomic(va, list(read_jsonl(cache / f"valid{suffix}.jsonl")))


def summarise(label: str, cfg_path: Path, run_dir: Path, split: str, wall: float, results: Path | None = None,
              sft_dir: Path | None = None) -> dict:
    """One levers row: the eval's results (RUN/eval/results.jsonl, or `results`) and the SFT run's
    training log (RUN, or `sft_dir`)."""
    from core.jsonl import read_json, read_jsonl
    from eval.metrics import wilson_interval
    from eval.sweep import solve_curve

    rows = list(read_jsonl(results or run_dir / "eval" / "results.jsonl"))
    sft_dir = sft_dir or run_dir
    n = len(rows)
    by_expansions = solve_curve(rows, "expansions")
    solved = {b: by_expansions.solved_at(b) for b in BUDGETS}
    log = [json.loads(x) for x in (sft_dir / "policy" / "train_log.jsonl").read_text().splitlines()]
    train_rows = [x for x in log if "loss" in x]
    val = [x for x in log if "val_loss" in x]
    k = sum(1 for r in rows if r.get("status") == "proved")
    ci = wilson_interval(k, n)
    statuses: dict[str, int] = {}
    for r in rows:
        statuses[r["status"]] = statuses.get(r["status"], 0) + 1
    return {
        "label": label, "config": str(cfg_path), "split": split, "theorems": n, "solved": k,
        "ci95": [round(100 * ci.low, 1), round(100 * ci.high, 1)], "solved_at": solved,
        "statuses": statuses,
        "env_calls": sum(int(r.get("env_calls", 0)) for r in rows),
        "expansions": sum(int(r.get("expansions", 0)) for r in rows),
        "env_calls_solved": [int(c) for c in solve_curve(rows, "env_calls").costs],
        "train_seconds": train_rows[-1]["seconds"] if train_rows else None,
        "train_cpu_seconds": train_rows[-1].get("cpu_seconds") if train_rows else None,
        "train_loss": train_rows[-1]["loss"] if train_rows else None,
        "val_loss": val[-1]["val_loss"] if val else None,
        "examples": sum(1 for _ in read_jsonl(sft_dir / "examples.jsonl")),
        "parameters": max((int(r.get("policy_parameters", 0)) for r in rows), default=0),
        "wall_seconds": round(wall, 1),
        "read_at": time.strftime("%Y-%m-%d %H:%M"),
        **({"search_seconds": round(sum(float(r.get("wall_seconds", 0)) for r in rows), 1)}),
        "train_config": read_json(sft_dir / "policy" / "final" / "train_config.json", "train config"),
    }


def run(cfg_path: Path, out: Path, split: str, cache: Path, label: str | None, threads: int = 1) -> int:
    from core.jsonl import append_jsonl
    from prover.cli import main as cli_main
    from prover.commands.demo import DemoConfig

    cfg = DemoConfig.load(cfg_path)
    label = label or cfg_path.stem
    run_dir = out / label
    stage(cfg, cache, run_dir)
    t0 = time.perf_counter()
    results = None
    if split == "valid":
        code = cli_main(["demo", "--config", str(cfg_path), "--out", str(run_dir), "--no-progress"])
        if code:
            return code
    else:  # the policy trained for valid, searched on the other split: DIR/test/eval
        import argparse as ap

        from prover.campaign import run_eval
        from prover.commands.demo import eval_spec

        model = run_dir / "policy" / "final"
        if not (model / "config.json").is_file():
            raise SystemExit(f"{model}: run the recipe on valid first")
        ns = ap.Namespace(out=run_dir / split, split=split, workers=1, limit=None, lean=None, no_progress=True)
        run_eval(eval_spec(cfg, model, ns))
        results = run_dir / split / "eval" / "results.jsonl"
    row = summarise(label, cfg_path, run_dir, split, time.perf_counter() - t0, results=results)
    row["train_threads"] = threads
    trees = (results or run_dir / "eval" / "results.jsonl").with_name("trees.jsonl")
    if trees.is_file():
        row["tree_shape"] = tree_shape(trees)
    append_jsonl(out / "levers.jsonl", row)
    print(json.dumps({k: row[k] for k in ("label", "split", "solved", "theorems", "ci95", "solved_at", "val_loss",
                                          "train_seconds", "env_calls")}))
    return 0


def dpo(sft_label: str, cfg_path: Path, out: Path, split: str, label: str | None) -> int:
    """DPO on top of the SFT run `sft_label` (a folder of OUT): search the recipe's pair theorems with
    the SFT policy (trees kept), make preference pairs, train with trl, evaluate like the SFT run."""
    from core.jsonl import append_jsonl, read_json, write_jsonl_atomic
    from prover.campaign import EvalSpec, run_eval
    from prover.commands.demo import DemoConfig
    from prover.dpo import DPOTrainConfig, pairs_from_tree_files, train_dpo

    spec = read_json(cfg_path, "dpo recipe")
    label = label or cfg_path.stem
    sft_dir = out / sft_label
    demo = DemoConfig.load(spec["sft_config"])
    policy = sft_dir / "policy" / "final"
    run_dir = out / label
    gen = {"num_beams": demo.n if demo.decoding == "beam" else 0, "max_new_tokens": demo.max_new_tokens[demo.fmt],
           **demo.generation}

    def evaluation(dataset: str, model: Path, where: Path, trees: bool, budget: str, limit: int | None = None) -> None:
        run_eval(EvalSpec(dataset=dataset, env="lean-term", policy=f"model:{model}", strategy="best-first",
                          out=where, budget=budget,
                          config={"n": demo.n, **demo.search}, generation=gen, fmt=demo.fmt, device="cpu",
                          limit=limit, label=label, progress=False, save_trees=trees))

    t0 = time.perf_counter()
    evaluation(spec["pair_dataset"], policy, run_dir / "pair_search", True, spec.get("pair_budget", demo.budget),
               spec.get("pair_limit"))
    pairs_file = run_dir / "pairs.jsonl"
    if not pairs_file.is_file():
        cfg = DPOTrainConfig.from_dict(spec["dpo"], where=f"{cfg_path} 'dpo'")
        write_jsonl_atomic(pairs_file, pairs_from_tree_files([run_dir / "pair_search" / "trees.jsonl"], demo.fmt,
                                                             cfg.max_pairs_per_state, cfg.seed))
    cfg = DPOTrainConfig.from_dict(spec["dpo"], where=f"{cfg_path} 'dpo'")
    c0 = time.perf_counter()
    final = train_dpo(pairs_file, policy, run_dir / "dpo", cfg, progress=False)
    dpo_seconds = time.perf_counter() - c0
    results = run_dir / ("eval" if split == "valid" else f"eval-{split}")
    evaluation(f"logic:{split}", final, results, demo.save_trees, demo.budget)  # the SFT run's budget
    row = summarise(label, cfg_path, run_dir, split, time.perf_counter() - t0, results=results / "results.jsonl",
                    sft_dir=sft_dir)
    log = read_json(final / "dpo_log.json", "dpo log")
    row.update({"dpo_pairs": log["pairs"], "dpo_steps": log["steps"], "dpo_loss": log["train_loss"],
                "dpo_seconds": round(dpo_seconds, 1), "sft": sft_label})
    append_jsonl(out / "levers.jsonl", row)
    print(json.dumps({k: row[k] for k in ("label", "split", "solved", "theorems", "ci95", "solved_at", "dpo_pairs",
                                          "dpo_loss", "env_calls")}))
    return 0


def tree_shape(trees_file: Path) -> dict:
    """Why searches end: per expanded node, how many candidates gave a new state, an already seen
    state, or failed (by kind); and how the searches ended (proved, budget, ran dry)."""
    from prover.value_data import read_trees

    kinds: dict[str, int] = {}
    expanded = new = seen = 0
    ends = {"proved": 0, "dry": 0, "budget": 0}
    per_node_new: list[int] = []
    for _, _, tree in read_trees(trees_file):
        nodes = tree["nodes"]
        by_id = {n["id"]: n for n in nodes}
        first_parent: dict[str, str] = {}
        for e in tree["edges"]:
            first_parent.setdefault(e["target"], e["source"])
        out_edges: dict[str, list[dict]] = {}
        for e in tree["edges"]:
            out_edges.setdefault(e["source"], []).append(e)
        for n in nodes:
            if not n.get("expanded"):
                continue
            expanded += 1
            k_new = len({e["target"] for e in out_edges.get(n["id"], []) if first_parent.get(e["target"]) == n["id"]
                         and not by_id[e["target"]].get("no_goals")})  # distinct states first reached here
            new += k_new
            seen += len(out_edges.get(n["id"], [])) - k_new
            per_node_new.append(k_new)
            for f in n.get("failures", []):
                kinds[f["kind"]] = kinds.get(f["kind"], 0) + 1
        root = nodes[0]
        if root["status"] == "proved":
            ends["proved"] += 1
        elif any(not n.get("expanded") and n["status"] == "open" for n in nodes):
            ends["budget"] += 1
        else:
            ends["dry"] += 1
    return {"searches": sum(ends.values()), "ends": ends, "expanded": expanded,
            "new_children_per_expansion": round(new / max(expanded, 1), 2),
            "seen_children_per_expansion": round(seen / max(expanded, 1), 2),
            "failures_per_expansion": {k: round(v / max(expanded, 1), 2) for k, v in sorted(kinds.items())},
            "expansions_with_no_new_child": round(sum(1 for k in per_node_new if k == 0) / max(expanded, 1), 3)}


def table(out: Path) -> str:
    """The levers table (markdown) of every row of OUT/levers.jsonl, in the order they ran."""
    from core.jsonl import read_jsonl

    lines = ["| run | split | solved at 8 / 16 / 32 / 64 expansions | 95% interval (at the budget) | Lean calls "
             "(all searches) | val loss | train CPU s | train wall s | examples |",
             "| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for r in read_jsonl(out / "levers.jsonl"):
        at = r["solved_at"]
        cells = " / ".join(str(at.get(str(b), at.get(b, "-"))) for b in (8, 16, 32, 64))
        val = f"{r['val_loss']:.3f}" if r.get("val_loss") is not None else "-"
        lines.append(f"| {r['label']} | {r['split']} | {cells} (of {r['theorems']}) | [{r['ci95'][0]}, {r['ci95'][1]}]% "
                     f"| {r['env_calls']} | {val} | {r.get('train_cpu_seconds') or '-'} | {r.get('train_seconds') or '-'} "
                     f"| {r['examples']} |")
    return "\n".join(lines) + "\n"


def plot(runs: list[tuple[str, Path]], path: Path, title: str) -> None:
    """Solved against expansions and against Lean calls, one line per (label, results.jsonl)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from core.jsonl import read_jsonl
    from eval.sweep import solve_curve

    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    calls = tuple(2 ** k for k in range(3, 17))
    n = 0
    for label, results in runs:
        rows = list(read_jsonl(results))
        n = n or len(rows)  # the first run's theorems
        for ax, metric, grid, floor, marker in ((a, "expansions", BUDGETS, 1, "o"), (b, "env_calls", calls, 8, ".")):
            curve = solve_curve(rows, metric)
            spent = max((int(r.get(metric, 0)) for r in rows), default=0)
            xs = [x for x in grid if x <= max(spent, floor)]
            ax.plot(xs, [curve.solved_at(x) for x in xs], marker=marker, label=label)
    for ax, xl in ((a, "expansion budget per theorem"), (b, "Lean calls per theorem")):
        ax.set_xscale("log", base=2)
        ax.set(xlabel=xl, ylabel=f"solved (of {n})")
        ax.axhline(0.8 * n, color="grey", ls=":", lw=1)
        ax.grid(alpha=0.3)
    a.legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def kth_solve_calls(rows: list[dict], k: int) -> int | None:
    """The Lean calls a theorem needs for the run to solve k of them: the k-th smallest
    `first_proof_at.env_calls` over its proved theorems (None when it solves fewer than k)."""
    calls = sorted(int(r["first_proof_at"]["env_calls"]) for r in rows
                   if r.get("status") == "proved" and r.get("first_proof_at"))
    return calls[k - 1] if 0 < k <= len(calls) else None


def calls_table(runs: list[tuple[str, Path]], ks: list[int]) -> str:
    """Markdown: per solved count k, each run's k-th-solve Lean calls; with the first run as the
    reference, the others' ratio to it (how many times fewer)."""
    from core.jsonl import read_jsonl

    rows = {label: list(read_jsonl(path)) for label, path in runs}
    labels = list(rows)
    lines = ["| solved | " + " | ".join(labels) + " |", "| ---: |" + " ---: |" * len(labels)]
    for k in ks:
        ref = kth_solve_calls(rows[labels[0]], k)
        cells = []
        for i, label in enumerate(labels):
            c = kth_solve_calls(rows[label], k)
            ratio = f" ({ref / c:.1f}x fewer)" if i and c and ref else ""
            cells.append("-" if c is None else f"{c}{ratio}")
        lines.append(f"| {k} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def ei_summary(runs: list[Path], path: Path | None = None) -> str:
    """Expert iteration across seeds: per run and round, the solved count of its `valid` split (with
    the Wilson 95% interval) and of the training pool; a plot of the former when `path` is given."""
    from core.jsonl import read_jsonl
    from eval.metrics import wilson_interval

    lines = ["| run | round | searched | pool solved (cum.) | eval solved | 95% interval | examples | round s |",
             "| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: |"]
    curves = []
    for run in runs:
        ms = list(read_jsonl(run / "metrics.jsonl"))
        curves.append((run.name, ms))
        for m in ms:
            ci = wilson_interval(m["valid_solved"], m["valid_total"])
            lo, hi = ci.low, ci.high
            lines.append(f"| {run.name} | {m['round']} | {m['train_searched']} | {m['train_solved']} "
                         f"({m['train_solved_cum']}) | {m['valid_solved']}/{m['valid_total']} | "
                         f"[{100 * lo:.1f}, {100 * hi:.1f}]% | {m['examples_trained_on']} | {m['round_seconds']:.0f} |")
    if path is not None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 4))
        for name, ms in curves:
            xs = [m["round"] for m in ms]
            ys = [m["valid_solved"] / m["valid_total"] for m in ms]
            err = [(e.low, e.high) for e in (wilson_interval(m["valid_solved"], m["valid_total"]) for m in ms)]
            low = [y - lo for y, (lo, _) in zip(ys, err, strict=True)]
            high = [hi - y for y, (_, hi) in zip(ys, err, strict=True)]
            ax.errorbar(xs, ys, yerr=[low, high], marker="o", capsize=3, label=name)
        ax.set(xlabel="round", ylabel="share solved (95% Wilson interval)", ylim=(0, 1))
        ax.set_xticks(sorted({m["round"] for _, ms in curves for m in ms}))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("--out", type=Path, default=Path("runs/learn/cache"))
    p.add_argument("--canonical-names", action="store_true", help="generated proofs with canonical binder names")
    r = sub.add_parser("run")
    r.add_argument("config", type=Path)
    r.add_argument("--out", type=Path, default=Path("runs/learn"))
    r.add_argument("--cache", type=Path, default=None, help="default: OUT/cache")
    r.add_argument("--split", default="valid", choices=("valid", "test"))
    r.add_argument("--label", default=None)
    r.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                   help="torch CPU threads while training (default: one per core; the rows before the "
                        "afternoon of 2026-12-02 trained on 1)")
    d = sub.add_parser("dpo")
    d.add_argument("config", type=Path, help="a DPO recipe: sft_config, pair_dataset, pair_limit, dpo fields")
    d.add_argument("--sft", required=True, help="the SFT run's label (folder under OUT)")
    d.add_argument("--out", type=Path, default=Path("runs/learn"))
    d.add_argument("--split", default="valid", choices=("valid", "test"))
    d.add_argument("--label", default=None)
    tb = sub.add_parser("table")
    tb.add_argument("--out", type=Path, default=Path("runs/learn"))
    pl = sub.add_parser("plot")
    pl.add_argument("--run", nargs=2, action="append", metavar=("LABEL", "RESULTS"), required=True)
    pl.add_argument("--to", type=Path, required=True)
    pl.add_argument("--title", default="")
    a = sub.add_parser("add", help="a levers row for a `prover eval` run of an SFT run's policy (other decoding)")
    a.add_argument("label")
    a.add_argument("results", type=Path, help="the eval's results.jsonl")
    a.add_argument("--sft", required=True, help="the SFT run's label (folder under OUT)")
    a.add_argument("--out", type=Path, default=Path("runs/learn"))
    a.add_argument("--split", default="valid", choices=("valid", "test"))
    a.add_argument("--note", default="", help="what differs from the SFT run (recorded in the row)")
    e = sub.add_parser("ei", help="expert iteration across seeds: table (and --to plot)")
    e.add_argument("runs", type=Path, nargs="+", help="EI run directories")
    e.add_argument("--to", type=Path, default=None)
    c = sub.add_parser("calls", help="Lean calls per theorem to reach each solved count (first run: the reference)")
    c.add_argument("--run", nargs=2, action="append", metavar=("LABEL", "RESULTS"), required=True)
    c.add_argument("--ks", default="10,20,27,30,36,41,46,49")
    t = sub.add_parser("trees")
    t.add_argument("trees", type=Path, nargs="+")
    args = ap.parse_args()
    if args.cmd == "table":
        print(table(args.out), end="")
        return 0
    if args.cmd == "plot":
        plot([(label, Path(f)) for label, f in args.run], args.to, args.title)
        return 0
    if args.cmd == "add":
        from core.jsonl import append_jsonl

        row = summarise(args.label, args.results, args.out / args.sft, args.split, 0.0, results=args.results)
        row.update({"sft": args.sft, "note": args.note})
        append_jsonl(args.out / "levers.jsonl", row)
        print(json.dumps({k: row[k] for k in ("label", "split", "solved", "theorems", "ci95", "solved_at", "env_calls")}))
        return 0
    if args.cmd == "calls":
        print(calls_table([(label, Path(f)) for label, f in args.run], [int(k) for k in args.ks.split(",")]), end="")
        return 0
    if args.cmd == "ei":
        print(ei_summary(args.runs, args.to), end="")
        return 0
    if args.cmd == "trees":
        for f in args.trees:
            print(f, json.dumps(tree_shape(f)))
        return 0
    import torch

    threads = getattr(args, "threads", 1)  # prepare and dpo: one thread, as their rows were measured
    if threads < 1:
        raise SystemExit(f"--threads must be >= 1, got {threads}")
    torch.set_num_threads(threads)
    if args.cmd == "prepare":
        prepare(args.out, args.canonical_names)
        return 0
    if args.cmd == "dpo":
        return dpo(args.sft, args.config, args.out, args.split, args.label)
    return run(args.config, args.out, args.split, args.cache or args.out / "cache", args.label, threads)


if __name__ == "__main__":
    sys.exit(main())
