"""Quiet logs (core/logs.py): a progress bar's redraws become a few lines in a non-interactive log,
third-party progress bars are off, and a piped `prover eval` prints one bar line per stage state."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

from tqdm import tqdm

from core.logs import LineStream, quiet_output

REPO = Path(__file__).resolve().parent.parent
WORLD = "tests/data/worlds/backoff.json"


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_redraws_become_rare_lines_and_the_final_state_is_kept() -> None:
    out, clock = io.StringIO(), Clock()
    s = LineStream(out, interval=30, clock=clock)
    s.write("\rbar 1/10")
    s.write("\rbar 2/10")
    clock.t = 10
    s.write("\rbar 3/10")
    clock.t = 31
    s.write("\rbar 4/10")
    s.write("a log line\n")
    s.write("\rbar 9/10")
    s.write("\rbar 10/10\n")
    assert out.getvalue().splitlines() == ["bar 1/10", "bar 4/10", "a log line", "bar 10/10"]


def test_a_tqdm_bar_of_a_thousand_steps_writes_two_lines() -> None:
    out = io.StringIO()
    bar = tqdm(total=1000, desc="sft", file=LineStream(out, interval=3600), mininterval=0, miniters=1)
    for _ in range(1000):
        bar.update(1)
    bar.close()
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and "0/1000" in lines[0] and "1000/1000" in lines[1]


def test_quiet_output_turns_third_party_bars_off_and_puts_stderr_back() -> None:
    from transformers.utils import logging as hf_logging

    hf_logging.enable_progress_bar()
    before = sys.stderr
    with quiet_output():
        assert not hf_logging.is_progress_bar_enabled()
        assert isinstance(sys.stderr, LineStream) or sys.stderr.isatty()
    assert sys.stderr is before


def test_a_piped_eval_prints_its_stage_bar_as_lines(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "prover.cli", "eval", "--dataset", f"scripted:{WORLD}", "--env",
                           f"scripted:{WORLD}", "--policy", f"scripted:{WORLD}", "--strategy", "best-first",
                           "--budget", "expansions=8", "--attempts", "4", "--out", str(tmp_path / "r")],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "\r" not in proc.stderr
    bar = [ln for ln in proc.stderr.splitlines() if ln.startswith("eval ")]
    assert 1 <= len(bar) <= 3 and "12/12" in bar[-1], proc.stderr
