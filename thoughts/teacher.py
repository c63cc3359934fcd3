"""What every rationale teacher shares: the `Teacher` protocol, its error, the prompt a model
teacher is given and the cleaning of its answer into a safe thought."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol

from thoughts.format import DELIMITERS

MAX_THOUGHT_CHARS = 600

RATIONALE_INSTRUCTION = (
    "You are given a Lean 4 proof state and the next proof step that was actually taken. "
    "Write, in one or two sentences, the reasoning a mathematician would have before taking this step. "
    "Do not repeat the step verbatim."
)


class TeacherError(RuntimeError):
    """A teacher could not produce a rationale (endpoint down, bad reply, ...)."""


class Teacher(Protocol):
    name: str

    def explain_batch(self, items: Sequence[tuple[str, str]]) -> list[str]:
        """Rationales for (state text, tactic) pairs, same order; "" where none could be written."""
        ...


def clean_thought(text: str, max_chars: int = MAX_THOUGHT_CHARS) -> str:
    """A teacher's answer made safe as a thought: no delimiters, no code fences, bounded length."""
    for d in DELIMITERS:
        text = text.replace(d, " ")
    text = text.replace("```", " ").strip().strip('"').strip()
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    text = paragraphs[0] if paragraphs else ""
    text = "\n".join(line.strip() for line in text.splitlines() if line.strip())
    if len(text) > max_chars:
        cut = text[:max_chars]
        text = cut[: cut.rfind(" ")] if " " in cut else cut
    return text.strip()


def rationale_prompt(state: str, tactic: str) -> str:
    return f"{RATIONALE_INSTRUCTION}\n\nProof state:\n{state.strip()}\n\nNext step:\n{tactic.strip()}\n\nReasoning:"
