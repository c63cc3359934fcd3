"""Rendering a found proof as Lean text, thoughts as `--` comments (Lean-STaR style)."""

from __future__ import annotations

from collections.abc import Sequence


def render_tactic_proof(tactics: Sequence[str], thoughts: Sequence[str] = (), indent: str = "  ") -> str:
    """The proof text after `:= by`: one tactic a line, each thought as `--` comment lines above it."""
    lines: list[str] = []
    for i, tac in enumerate(tactics):
        thought = thoughts[i] if i < len(thoughts) else ""
        for tl in thought.strip().splitlines():
            if tl.strip():
                lines.append(f"{indent}-- {tl.strip()}")
        tac_lines = tac.strip("\n").splitlines() or [""]
        lines.append(indent + tac_lines[0])
        lines.extend(indent + tl for tl in tac_lines[1:])
    return "\n" + "\n".join(lines)
