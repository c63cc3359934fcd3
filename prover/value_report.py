"""How good an evaluator is on labelled states: ROC-AUC (with a 95% interval from a bootstrap over
theorems, since the states of one theorem are not independent; and the mean AUC within one
theorem's states, the ranking a search uses), calibration (reliability curve,
expected calibration error, Brier score), and AUC by difficulty.  scikit-learn computes the AUC and
the calibration curve; matplotlib draws the reliability plot.

    report = evaluator_report(evaluator, rows)      # rows: prover.value_data rows
    write_evaluator_report(report, out_dir)          # report.json, report.md, reliability.png
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from core.types import GOAL_SEPARATOR, Evaluator, State

# difficulty bands of the summary (the easy-to-hard split of docs/evaluator.md uses <= 4 and >= 6)
BANDS: tuple[tuple[str, int, int | None], ...] = (("<=4", 0, 4), ("5", 5, 5), (">=6", 6, None))


def state_of(text: str) -> State:
    """The `State` whose text is `text` (goals split at the goal separator)."""
    return State(tuple(text.split(GOAL_SEPARATOR)))


def score_rows(evaluator: Evaluator, rows: Sequence[dict[str, Any]], chunk: int = 256,
               progress: bool = False) -> list[float]:
    """The evaluator's value of every row's state, `chunk` states per call."""
    from tqdm import tqdm

    out: list[float] = []
    bar = tqdm(total=len(rows), desc="scoring", unit="state", disable=not progress)
    for i in range(0, len(rows), chunk):
        part = rows[i:i + chunk]
        values = evaluator.score([state_of(r["state"]) for r in part])
        if len(values) != len(part):
            raise ValueError(f"evaluator returned {len(values)} values for {len(part)} states")
        out.extend(float(v) for v in values)
        bar.update(len(part))
    bar.close()
    return out


def auc(labels: Sequence[int], scores: Sequence[float]) -> float | None:
    """ROC-AUC, or None when only one class is present."""
    from sklearn.metrics import roc_auc_score

    if len(set(labels)) < 2:
        return None
    return float(roc_auc_score(labels, scores))


def bootstrap_auc(labels: Sequence[int], scores: Sequence[float], groups: Sequence[str], reps: int = 1000,
                  seed: int = 0, confidence: float = 0.95) -> tuple[float, float] | None:
    """A percentile interval for the AUC, resampling whole groups (theorems) with replacement;
    resamples with one class only are skipped.  None when fewer than 20 resamples were usable."""
    by_group: dict[str, list[int]] = {}
    for i, g in enumerate(groups):
        by_group.setdefault(g, []).append(i)
    names = sorted(by_group)
    rng = random.Random(seed)
    values: list[float] = []
    for _ in range(reps):
        idx = [i for g in (rng.choice(names) for _ in names) for i in by_group[g]]
        a = auc([labels[i] for i in idx], [scores[i] for i in idx])
        if a is not None:
            values.append(a)
    if len(values) < 20:
        return None
    values.sort()
    lo = values[int((1 - confidence) / 2 * (len(values) - 1))]
    hi = values[int((1 + confidence) / 2 * (len(values) - 1))]
    return lo, hi


def calibration(labels: Sequence[int], scores: Sequence[float], bins: int = 10) -> dict[str, Any]:
    """Reliability curve (equal-width bins, sklearn's calibration_curve), bin counts, expected
    calibration error (count-weighted |mean score - share positive|) and Brier score."""
    import numpy as np
    from sklearn.calibration import calibration_curve
    from sklearn.metrics import brier_score_loss

    y, p = np.asarray(labels), np.clip(np.asarray(scores, dtype=float), 0.0, 1.0)
    frac_pos, mean_pred = calibration_curve(y, p, n_bins=bins, strategy="uniform", pos_label=1)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.searchsorted(edges[1:-1], p)  # the bins calibration_curve uses
    counts = np.bincount(which, minlength=bins)
    nonempty = counts[counts > 0]
    ece = float(np.sum(nonempty / len(p) * np.abs(mean_pred - frac_pos))) if len(p) else 0.0
    return {"bins": bins, "mean_score": mean_pred.tolist(), "share_positive": frac_pos.tolist(),
            "counts": nonempty.tolist(), "ece": ece, "brier": float(brier_score_loss(y, p, pos_label=1))}


def within_group_auc(labels: Sequence[int], scores: Sequence[float], groups: Sequence[str]) -> tuple[float | None, int]:
    """The mean over groups (theorems) with both labels of the AUC among that group's own states,
    and the number of such groups: how well the evaluator ranks the states of one search tree,
    which is the comparison a search makes."""
    by_group: dict[str, list[int]] = {}
    for i, g in enumerate(groups):
        by_group.setdefault(g, []).append(i)
    aucs = [a for idx in by_group.values()
            if (a := auc([labels[i] for i in idx], [scores[i] for i in idx])) is not None]
    return (sum(aucs) / len(aucs) if aucs else None), len(aucs)


def _summary(labels: list[int], scores: list[float], groups: list[str], reps: int, seed: int) -> dict[str, Any]:
    ci = bootstrap_auc(labels, scores, groups, reps, seed) if reps else None
    within, n_within = within_group_auc(labels, scores, groups)
    return {"states": len(labels), "positives": sum(labels), "theorems": len(set(groups)),
            "auc": auc(labels, scores), "auc_95": list(ci) if ci else None,
            "auc_within_theorem": within, "theorems_with_both_labels": n_within}


def evaluator_report(evaluator: Evaluator, rows: Sequence[dict[str, Any]], bins: int = 10, reps: int = 1000,
                     seed: int = 0, progress: bool = False,
                     baselines: dict[str, Callable[[str], float]] | None = None) -> dict[str, Any]:
    """The figures of an evaluator on labelled rows (labels >= 0.5 count as positive): overall AUC
    with its bootstrap interval and the mean AUC within a theorem, calibration, AUC per difficulty
    and per band, and the AUC of each `baselines` feature (state text -> score) for comparison."""
    if not rows:
        raise ValueError("no rows to evaluate the evaluator on")
    scores = score_rows(evaluator, rows, progress=progress)
    labels = [int(float(r["label"]) >= 0.5) for r in rows]
    groups = [str(r["theorem"]) for r in rows]
    report: dict[str, Any] = {"overall": _summary(labels, scores, groups, reps, seed),
                              "calibration": calibration(labels, scores, bins)}
    diffs = sorted({r.get("difficulty") for r in rows if r.get("difficulty") is not None})

    def part(keep: Callable[[int], bool], with_ci: bool) -> dict[str, Any]:
        idx = [i for i, r in enumerate(rows) if r.get("difficulty") is not None and keep(r["difficulty"])]
        return _summary([labels[i] for i in idx], [scores[i] for i in idx], [groups[i] for i in idx],
                        reps if with_ci else 0, seed)

    report["by_difficulty"] = {str(d): part(lambda x, d=d: x == d, False) for d in diffs}
    report["by_band"] = {name: part(lambda x, lo=lo, hi=hi: x >= lo and (hi is None or x <= hi), True)
                         for name, lo, hi in BANDS} if diffs else {}
    report["baselines"] = {name: auc(labels, [f(r["state"]) for r in rows]) for name, f in (baselines or {}).items()}
    report["scores"] = {"mean_positive": _mean([s for s, y in zip(scores, labels, strict=True) if y]),
                        "mean_negative": _mean([s for s, y in zip(scores, labels, strict=True) if not y])}
    report["_scores"] = scores  # for the plot; not written to report.json
    report["_labels"] = labels
    return report


def _mean(xs: Sequence[float]) -> float | None:
    return sum(xs) / len(xs) if xs else None


def plot_reliability(report: dict[str, Any], path: Path, title: str = "") -> Path:
    """Reliability diagram (share positive against mean score per bin) beside the score histograms
    of positive and negative states."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cal = report["calibration"]
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(10, 4.2))
    ax.plot([0, 1], [0, 1], ls="--", color="#9e9e9e", lw=1, label="perfectly calibrated")
    ax.plot(cal["mean_score"], cal["share_positive"], marker="o", color="#1565c0", label="evaluator")
    for x, y, n in zip(cal["mean_score"], cal["share_positive"], cal["counts"], strict=True):
        ax.annotate(str(n), (x, y), textcoords="offset points", xytext=(4, -10), fontsize=7, color="#555555")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("mean predicted value (bin)")
    ax.set_ylabel("share of states proved")
    o = report["overall"]
    auc_txt = "n/a" if o["auc"] is None else f"{o['auc']:.3f}"
    ax.set_title(f"reliability (ECE {cal['ece']:.3f}, AUC {auc_txt})", fontsize=9)
    ax.legend(fontsize=8, loc="upper left")
    scores, labels = report["_scores"], report["_labels"]
    pos = [s for s, y in zip(scores, labels, strict=True) if y]
    neg = [s for s, y in zip(scores, labels, strict=True) if not y]
    bins = [i / cal["bins"] for i in range(cal["bins"] + 1)]
    bx.hist([neg, pos], bins=bins, label=[f"dead end ({len(neg)})", f"proved ({len(pos)})"],
            color=["#e57373", "#81c784"])
    bx.set_xlabel("predicted value")
    bx.set_ylabel("states")
    bx.set_title("scores by label", fontsize=9)
    bx.legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _fmt_auc(s: dict[str, Any]) -> str:
    if s["auc"] is None:
        return "n/a (one class)"
    ci = s.get("auc_95")
    return f"{s['auc']:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")


def report_markdown(report: dict[str, Any], title: str = "evaluator report") -> str:
    o, cal = report["overall"], report["calibration"]
    lines = [f"# {title}", "",
             f"{o['states']} states ({o['positives']} proved, {o['states'] - o['positives']} dead ends) "
             f"from {o['theorems']} theorems.", "",
             f"- ROC-AUC: {_fmt_auc(o)} (95% interval: bootstrap over theorems)",
             f"- ROC-AUC within a theorem (mean over the {o['theorems_with_both_labels']} theorems with both labels): "
             f"{_num(o['auc_within_theorem'])}",
             f"- expected calibration error: {cal['ece']:.3f} ({cal['bins']} bins); Brier score: {cal['brier']:.3f}",
             f"- mean value: proved {_num(report['scores']['mean_positive'])}, "
             f"dead end {_num(report['scores']['mean_negative'])}"]
    for name, a in report.get("baselines", {}).items():
        lines.append(f"- baseline `{name}`: AUC {_num(a)}")
    if report.get("by_band"):
        lines += ["", "| difficulty | theorems | states | proved | AUC [95%] |", "| --- | ---: | ---: | ---: | --- |"]
        for name, s in report["by_band"].items():
            lines.append(f"| {name} | {s['theorems']} | {s['states']} | {s['positives']} | {_fmt_auc(s)} |")
        lines += ["", "| difficulty | theorems | states | proved | AUC |", "| ---: | ---: | ---: | ---: | --- |"]
        for d, s in report["by_difficulty"].items():
            lines.append(f"| {d} | {s['theorems']} | {s['states']} | {s['positives']} | {_fmt_auc(s)} |")
    lines += ["", "![reliability](reliability.png)", ""]
    return "\n".join(lines)


def _num(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def write_evaluator_report(report: dict[str, Any], out_dir: str | Path, title: str = "evaluator report",
                           meta: dict[str, Any] | None = None) -> dict[str, Path]:
    """report.json (the figures and `meta`), report.md and reliability.png in `out_dir`."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    public = {k: v for k, v in report.items() if not k.startswith("_")}
    paths = {"json": out / "report.json", "md": out / "report.md", "plot": out / "reliability.png"}
    tmp = paths["json"].with_name("report.json.tmp")
    tmp.write_text(json.dumps({"meta": meta or {}, **public}, indent=1) + "\n", encoding="utf-8")
    tmp.replace(paths["json"])
    paths["md"].write_text(report_markdown(report, title), encoding="utf-8")
    plot_reliability(report, paths["plot"], title)
    return paths
