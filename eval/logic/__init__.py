"""The logic benchmark: theorems over a project-written `prelude`, checked by the real Lean.

`load_split("train" | "valid" | "test")` gives `Theorem`s whose `formal_statement` ends in
`:=` (term proofs for `LeanTermEnv`) and whose `header` is the whole prelude.  Each
theorem's `extra` holds "split", "reference_proof" (the hole fillings, in order),
"difficulty" (their number) and "source".  `load_split("extra")` gives the extra training
theorems (`train_extra.jsonl`, written by `python -m eval.logic.generate --extra`): the same
families under another seed, none of whose statements is in the three splits;
`load_split("extra_varied")` the varied ones (`train_extra_varied.jsonl`: hypotheses named by
convention, `True` and `False` in formulas; none in the splits or in "extra").  See
docs/logic_benchmark.md.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from core.jsonl import load_theorems
from core.types import Theorem

HERE = Path(__file__).resolve().parent
PRELUDE_PATH = HERE / "prelude.lean"
SPLITS = ("train", "valid", "test")
EXTRA = "extra"  # extra training theorems, not a split of the benchmark
EXTRA_VARIED = "extra_varied"  # varied extra training theorems (eval.logic.generate --varied)
EXTRA_FILES = {EXTRA: "train_extra.jsonl", EXTRA_VARIED: "train_extra_varied.jsonl"}


def split_path(split: str) -> Path:
    if split in EXTRA_FILES:
        return HERE / EXTRA_FILES[split]
    if split not in SPLITS:
        raise ValueError(f"logic benchmark: unknown split {split!r} (choose from {', '.join((*SPLITS, *EXTRA_FILES))})")
    return HERE / f"{split}.jsonl"


def load_split(split: str) -> list[Theorem]:
    """The theorems of one split, in file order (the extra theorems get the prelude as header)."""
    theorems = load_theorems(split_path(split))
    if split in EXTRA_FILES:
        header = prelude_text()
        theorems = [dataclasses.replace(t, header=header) for t in theorems]
    return theorems


def prelude_text() -> str:
    return PRELUDE_PATH.read_text(encoding="utf-8")
