"""Prompt and target formats for the generator, and parsing its output back.

Two step formats (`FORMATS`):

* ``"tactic"`` (ReProver style): state -> tactic
* ``"thought"`` (Lean-STaR style): state -> thought -> tactic

One whole-proof format (DeepSeek-Prover style): theorem statement -> proof body.

Everything is plain text with bracketed delimiters, so any causal LM can learn it::

    [GOALS]                       [GOALS]
    <goals as Lean prints them>   <goals>
    [TACTIC]                      [THOUGHT]
    <tactic>                      <thought>
    [END]                         [TACTIC]
                                  <tactic>
                                  [END]

`build_prompt` gives everything up to and including the line after the last delimiter the
model must continue from; `format_target` gives the continuation it is trained on.  Parsing
never raises on model output: it returns `ParsedStep` or `Dropped(reason)`.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from dataclasses import dataclass

from core.types import GOAL_SEPARATOR

FORMATS = ("tactic", "thought")
PROOF_FORMAT = "proof"  # whole proofs: a model trained on (statement -> proof) rows

GOALS = "[GOALS]"
THOUGHT = "[THOUGHT]"
TACTIC = "[TACTIC]"
END = "[END]"
THEOREM = "[THEOREM]"
PROOF = "[PROOF]"
DELIMITERS = (GOALS, THOUGHT, TACTIC, END, THEOREM, PROOF)
STOP_STRINGS = (END,)


@dataclass(frozen=True)
class ParsedStep:
    """A usable model output: the thought (empty in the tactic format) and the tactic."""

    thought: str
    tactic: str


@dataclass(frozen=True)
class ParsedProof:
    """A usable whole-proof output: the proof body, dedented (one tactic a line, or a term)."""

    proof: str


@dataclass(frozen=True)
class Dropped:
    """A model output that could not be used, and why (for logs and drop counts)."""

    reason: str


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise ValueError(f"unknown step format {fmt!r}; expected one of {', '.join(FORMATS)}")
    return fmt


def build_prompt(state_text: str, fmt: str) -> str:
    """The text the model continues for one proof state."""
    check_format(fmt)
    nxt = THOUGHT if fmt == "thought" else TACTIC
    return f"{GOALS}\n{state_text.strip()}\n{nxt}\n"


def build_prompt_fitting(state_text: str, fmt: str, fits: Callable[[str], bool]) -> str:
    """`build_prompt`, shortened until `fits(prompt)`: goals after the first are dropped from the
    end, one at a time (a step fills the first goal, so it must stay whole; a generator that cut
    the prompt from the left would lose exactly that goal).  A prompt that does not fit even with
    the first goal alone is returned as such, for the caller's own truncation."""
    prompt = build_prompt(state_text, fmt)
    if fits(prompt):
        return prompt
    goals = state_text.strip().split(GOAL_SEPARATOR)
    while len(goals) > 1:
        goals.pop()
        prompt = build_prompt(GOAL_SEPARATOR.join(goals), fmt)
        if fits(prompt):
            break
    return prompt


def _delimiter_in(text: str) -> str | None:
    return next((d for d in DELIMITERS if d in text), None)


def format_target(thought: str, tactic: str, fmt: str) -> str:
    """The continuation the model is trained to produce after `build_prompt`.

    Raises ValueError when the tactic is empty or a field contains a delimiter (such a row
    could not be parsed back)."""
    check_format(fmt)
    tactic, thought = tactic.strip(), thought.strip()
    if not tactic:
        raise ValueError("empty tactic")
    for name, value in (("tactic", tactic), ("thought", thought)):
        bad = _delimiter_in(value)
        if bad:
            raise ValueError(f"{name} contains the delimiter {bad}: {value!r}")
    if fmt == "tactic":
        return f"{tactic}\n{END}"
    return f"{thought}\n{TACTIC}\n{tactic}\n{END}"


def _until_end(text: object, require_end: bool) -> str | Dropped:
    """A generated output cut at `[END]`, or why it cannot be used (not text; no marker while one is
    required)."""
    if not isinstance(text, str):
        return Dropped(f"output is not text ({type(text).__name__})")
    if END in text:
        return text[: text.index(END)]
    if require_end:
        return Dropped(f"no {END} marker (output cut off at the length limit?)")
    return text


def _unusable(value: str, name: str) -> Dropped | None:
    """Why the parsed field `name` (already stripped) cannot be used: empty, a delimiter inside, or
    undecodable bytes; None when it can."""
    if not value:
        return Dropped(f"empty {name}")
    bad = _delimiter_in(value)
    if bad:
        return Dropped(f"{name} contains the delimiter {bad}")
    if "\ufffd" in value:
        return Dropped(f"{name} contains undecodable bytes")
    return None


def parse_output(text: str, fmt: str, *, require_end: bool = True) -> ParsedStep | Dropped:
    """Turn a generated continuation back into (thought, tactic).

    `require_end=False` accepts an output without the `[END]` marker (generation stopped on
    the end-of-sequence token instead); otherwise a missing marker means the output was cut
    off by the length limit and is dropped.  Never raises on malformed text."""
    check_format(fmt)
    text = _until_end(text, require_end)
    if isinstance(text, Dropped):
        return text
    thought = ""
    if fmt == "thought":
        if TACTIC not in text:
            return Dropped(f"no {TACTIC} delimiter after the thought")
        thought, text = text.split(TACTIC, 1)
        thought = thought.strip()
        bad = _delimiter_in(thought)
        if bad:
            return Dropped(f"thought contains the delimiter {bad}")
    tactic = text.strip()
    return _unusable(tactic, "tactic") or ParsedStep(thought, tactic)


def build_proof_prompt(theorem_statement: str) -> str:
    """The text the model continues to write a whole proof of `theorem_statement`
    (the formal statement ending in `:= by` or `:=`)."""
    return f"{THEOREM}\n{theorem_statement.strip()}\n{PROOF}\n"


def format_proof_target(proof: str) -> str:
    """The continuation a whole-proof model is trained on: the dedented proof body and `[END]`."""
    body = textwrap.dedent(proof.strip("\n")).strip()
    if not body:
        raise ValueError("empty proof")
    bad = _delimiter_in(body)
    if bad:
        raise ValueError(f"proof contains the delimiter {bad}")
    return f"{body}\n{END}"


def parse_proof_output(text: str, *, require_end: bool = True) -> ParsedProof | Dropped:
    """The proof body (dedented: one tactic a line for `:= by`, a term for `:=`) or why not."""
    text = _until_end(text, require_end)
    if isinstance(text, Dropped):
        return text
    body = textwrap.dedent(text.strip("\n")).strip()
    return _unusable(body, "proof") or ParsedProof(body)


def example_text(row: dict, fmt: str) -> tuple[str, str]:
    """(prompt, target) of one training-example row {"state","thought","tactic",...}."""
    return build_prompt(row["state"], fmt), format_target(row.get("thought") or "", row["tactic"], fmt)
