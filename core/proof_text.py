"""Proof texts: how the engine turns a list of steps into the text an env's `check` judges.

Two styles (`ProofEnv.proof_style`):

* "tactic": the text after `:= by`, one tactic a line, each thought as `--` comment lines above
  its tactic (Lean-STaR style);
* "term": the text after `:=`, the term that the steps build from one `?_` hole, each step
  filling the first hole left (the term-refinement env); a term has no place for comments.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

TACTIC_STYLE, TERM_STYLE = "tactic", "term"
HOLE = "?_"
_IDENT_CHAR = r"[\w'!?₀-₉]"
HOLE_RE = re.compile(rf"(?<!{_IDENT_CHAR})\?_(?!{_IDENT_CHAR})")
_ATOM_RE = re.compile(r"^[\w'!?.₀-₉]+$")


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


def tactic_blocks(proof: str) -> list[str]:
    """The tactics of a tactic proof text, the inverse of `render_tactic_proof`: a line at the
    block's base indentation starts a tactic, deeper lines continue it, `--` comment lines and
    blank lines are left out."""
    lines = [ln for ln in proof.splitlines() if ln.strip() and not ln.strip().startswith("--")]
    if not lines:
        return []
    base = min(len(ln) - len(ln.lstrip()) for ln in lines)
    out: list[str] = []
    for ln in lines:
        if len(ln) - len(ln.lstrip()) == base or not out:
            out.append(ln[base:].rstrip())
        else:
            out[-1] += "\n" + ln[base:].rstrip()
    return out


def count_holes(term: str) -> int:
    return len(HOLE_RE.findall(term))


def fill_first_hole(term: str, filling: str) -> str:
    """Replace the first `?_` of `term` by `filling` (parenthesised unless it is an atom)."""
    m = HOLE_RE.search(term)
    if m is None:
        raise ValueError(f"term has no open hole: {term!r}")
    f = filling.strip()
    if not _ATOM_RE.match(f):
        f = f"({f})"
    return term[: m.start()] + f + term[m.end():]


def build_term(fillings: Sequence[str]) -> str:
    """The term that `fillings` build from the single initial hole (ValueError if one finds no hole)."""
    term = HOLE
    for f in fillings:
        term = fill_first_hole(term, f)
    return term


def render_proof(style: str, tactics: Sequence[str], thoughts: Sequence[str] = ()) -> str:
    """The proof text of `tactics` in the env's `style` (thoughts become comments in tactic proofs)."""
    if style == TACTIC_STYLE:
        return render_tactic_proof(tactics, thoughts)
    if style == TERM_STYLE:
        return " " + build_term(tactics)
    raise ValueError(f"unknown proof style {style!r}; expected {TACTIC_STYLE!r} or {TERM_STYLE!r}")
