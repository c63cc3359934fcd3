"""Fault injection on the whole `prover verify` and `prover eval` commands (real embedded Lean).

    python bench/fault_injection.py [--trials 100] [--kills 3] [--seed 0] [--only verify|eval]

Each trial starts a command on a small input, then up to `--kills` times in a row sends it SIGINT,
SIGTERM or SIGKILL at a random moment of its run (uniform over the time an uninterrupted run takes),
rerunning the same command each time, and finally lets it finish.  After every kill it checks:

* no `lean` of that run is alive 2 s after the command is gone (every Lean file of a trial lies
  under the trial's own $TMPDIR, so its processes are found by their command line);
* no scratch folder is left: the killed command's own folder is gone after SIGINT/SIGTERM (it
  cleans up); after SIGKILL it stays until the next `prover` command, which removes it at start
  (checked: none at all after the final run);
* the final rerun's rows are exactly those of an uninterrupted run (timings and cache marks
  dropped), each (name, attempt) / line once.

It prints the figures (kills by signal, kills that landed while the command ran, time from signal to
exit for SIGINT/SIGTERM, time until no Lean was alive, leftovers, mismatches) as one table.
`tests/test_fault_injection.py` runs a few dozen kills of the same harness in the normal suite.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "tests" / "data" / "verify" / "adversarial.jsonl"
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGKILL)


def lean_alive(marker: str) -> list[psutil.Process]:
    """Live processes whose command line mentions `marker` (a trial's private temp dir)."""
    found = []
    for p in psutil.process_iter(["cmdline", "status"]):
        try:
            if p.info["status"] != psutil.STATUS_ZOMBIE and any(marker in a for a in p.info["cmdline"] or []):
                found.append(p)
        except psutil.Error:
            continue
    return found


def scratch_entries(tmp: Path) -> list[Path]:
    root = tmp / f"lean-star-prover-{os.getuid()}"
    return sorted(root.iterdir()) if root.is_dir() else []


def _strip(v):
    if isinstance(v, dict):
        return {k: _strip(x) for k, x in v.items() if "seconds" not in k and k != "cached"}
    if isinstance(v, list):
        return [_strip(x) for x in v]
    return v


def rows_of(path: Path, key: tuple[str, ...]) -> dict:
    """The rows of a JSONL output by key (timings and cache marks dropped); duplicates are an error."""
    out: dict = {}
    if not path.exists():
        return out
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        k = tuple(row[f] for f in key)
        if k in out:
            raise AssertionError(f"{path}: row {k} written twice")
        out[k] = _strip(row)
    return out


@dataclass
class Command:
    """One command under test: how to run it into a folder and where its rows are."""

    name: str
    argv: list[str]
    rows: Path
    key: tuple[str, ...]


def verify_command(work: Path, lean: str) -> Command:
    src = work / "in.jsonl"
    if not src.exists():
        lines = DATA.read_text(encoding="utf-8").splitlines()[:14]
        rows = [{k: v for k, v in json.loads(line).items() if k not in ("expect", "cheat")} for line in lines]
        src.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    out = work / "verdicts.jsonl"
    return Command("verify", [sys.executable, "-m", "prover.cli", "verify", str(src), "--out", str(out), "--lean", lean,
                              "--workers", "2", "--batch-size", "3", "--timeout", "60", "--no-cache", "--no-progress"],
                   out, ("line",))


def eval_command(work: Path, lean: str) -> Command:
    out = work / "eval"
    return Command("eval", [sys.executable, "-m", "prover.cli", "eval", "--dataset", "logic:valid", "--limit", "3",
                            "--env", "lean-term", "--policy", "vocab", "--strategy", "best-first",
                            "--budget", "expansions=3", "--lean", lean, "--out", str(out), "--no-progress"],
                   out / "results.jsonl", ("name", "attempt"))


@dataclass
class Figures:
    runs: int = 0
    kills: Counter = field(default_factory=Counter)  # by signal name
    landed: int = 0  # kills sent while the command still ran
    exit_after_signal: list[float] = field(default_factory=list)  # SIGINT/SIGTERM: signal -> exit
    lean_gone_after: list[float] = field(default_factory=list)  # command exit -> no lean of the run alive
    lean_orphans: int = 0  # a lean still alive 2 s after its command was gone
    leftovers: int = 0  # scratch folders where none may be
    mismatches: int = 0  # final rows unlike the uninterrupted run's
    failures: list[str] = field(default_factory=list)


def _env(tmp: Path) -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(REPO), TMPDIR=str(tmp), OMP_NUM_THREADS="1")


def run_to_end(cmd: Command, tmp: Path, figures: Figures) -> None:
    figures.runs += 1
    done = subprocess.run(cmd.argv, cwd=REPO, env=_env(tmp), capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        figures.failures.append(f"{cmd.name}: uninterrupted run exited {done.returncode}: {done.stderr[-600:]}")


def kill_once(cmd: Command, tmp: Path, delay: float, sig: signal.Signals, figures: Figures) -> None:
    figures.runs += 1
    proc = subprocess.Popen(cmd.argv, cwd=REPO, env=_env(tmp), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    time.sleep(delay)
    landed = proc.poll() is None
    figures.kills[sig.name] += 1
    figures.landed += landed
    t0 = time.monotonic()
    if landed:
        proc.send_signal(sig)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        figures.failures.append(f"{cmd.name}: did not exit within 30 s of {sig.name}")
    exited = time.monotonic()
    if landed and sig != signal.SIGKILL:
        figures.exit_after_signal.append(exited - t0)
    deadline = exited + 2.0
    while lean_alive(str(tmp)) and time.monotonic() < deadline:
        time.sleep(0.02)
    alive = lean_alive(str(tmp))
    figures.lean_gone_after.append(time.monotonic() - exited)
    if alive:
        figures.lean_orphans += 1
        figures.failures.append(f"{cmd.name}: {len(alive)} lean process(es) alive 2 s after {sig.name}")
        for p in alive:
            p.kill()
    own = [d for d in scratch_entries(tmp) if d.name.startswith(f"{proc.pid}-")]
    if own and not (landed and sig == signal.SIGKILL):  # a SIGKILLed run's folder waits for the next run
        figures.leftovers += 1
        figures.failures.append(f"{cmd.name}: its scratch folder was left after {sig.name}: {own}")


def trial(make: callable, base: Path, lean: str, rng: random.Random, ref_rows: dict, ref_wall: float,
          kills: int, figures: Figures) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="t-", dir=base))
    work = tmp / "work"
    work.mkdir()
    cmd = make(work, lean)
    for _ in range(rng.randint(1, kills)):
        kill_once(cmd, tmp, rng.uniform(0.0, ref_wall), rng.choice(SIGNALS), figures)
    run_to_end(cmd, tmp, figures)
    got = rows_of(cmd.rows, cmd.key)
    if got != ref_rows:
        figures.mismatches += 1
        missing, extra = set(ref_rows) - set(got), set(got) - set(ref_rows)
        changed = [k for k in set(got) & set(ref_rows) if got[k] != ref_rows[k]]
        figures.failures.append(f"{cmd.name}: rows differ (missing {sorted(missing)}, extra {sorted(extra)}, "
                                f"changed {sorted(changed)[:3]})")
    if scratch_entries(tmp):
        figures.leftovers += 1
        figures.failures.append(f"{cmd.name}: scratch left after the final run: {scratch_entries(tmp)}")
    shutil.rmtree(tmp, ignore_errors=True)


def reference(make: callable, base: Path, lean: str) -> tuple[dict, float]:
    tmp = Path(tempfile.mkdtemp(prefix="ref-", dir=base))
    (tmp / "work").mkdir()
    cmd = make(tmp / "work", lean)
    t0 = time.monotonic()
    done = subprocess.run(cmd.argv, cwd=REPO, env=_env(tmp), capture_output=True, text=True, timeout=600)
    wall = time.monotonic() - t0
    if done.returncode != 0:
        raise RuntimeError(f"{cmd.name}: the reference run failed ({done.returncode}): {done.stderr[-1500:]}")
    rows = rows_of(cmd.rows, cmd.key)
    shutil.rmtree(tmp, ignore_errors=True)
    return rows, wall


def campaign(which: str, trials: int, kills: int, seed: int, lean: str, base: Path) -> tuple[Figures, float]:
    make = {"verify": verify_command, "eval": eval_command}[which]
    rows, wall = reference(make, base, lean)
    figures = Figures()
    rng = random.Random(seed)
    for _ in range(trials):
        trial(make, base, lean, rng, rows, wall, kills, figures)
    return figures, wall


def table(results: dict[str, tuple[Figures, float]]) -> str:
    def ms(xs: list[float]) -> str:
        return f"{1000 * statistics.median(xs):.0f} / {1000 * max(xs):.0f}" if xs else "-"

    lines = ["| command | runs | SIGINT | SIGTERM | SIGKILL | landed mid-run | signal to exit (ms, median / max) "
             "| exit to no Lean (ms, median / max) | Lean alive after 2 s | scratch left | rows differ |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for name, (f, wall) in results.items():
        lines.append(f"| {name} (uninterrupted {wall:.1f} s) | {f.runs} | {f.kills['SIGINT']} | {f.kills['SIGTERM']} | "
                     f"{f.kills['SIGKILL']} | {f.landed} | {ms(f.exit_after_signal)} | {ms(f.lean_gone_after)} | "
                     f"{f.lean_orphans} | {f.leftovers} | {f.mismatches} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=100, help="trials per command")
    ap.add_argument("--kills", type=int, default=3, help="most kills in a row per trial")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", choices=("verify", "eval"), default=None)
    args = ap.parse_args(argv)
    sys.path.insert(0, str(REPO))
    from lean_env.toolchain import embedded_lean

    lean = str(embedded_lean())
    base = Path(tempfile.mkdtemp(prefix="fault-injection-"))
    try:
        results = {which: campaign(which, args.trials, args.kills, args.seed, lean, base)
                   for which in ("verify", "eval") if args.only in (None, which)}
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print(table(results))
    failures = [x for f, _ in results.values() for x in f.failures]
    for x in failures[:20]:
        print("FAIL", x)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
