"""Replaying known proofs through an env to learn the state before each step (what a model sees
there): the one replay of the project, used for reference proofs (training data, seed sets).

Search results need no replay: every proof step the engine finds keeps its state.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from core.types import Failed, Open, ProofEnv, Proved, State, Theorem

log = logging.getLogger(__name__)


def _starts(env: ProofEnv, theorems: Sequence[Theorem]) -> list[State]:
    many = getattr(env, "start_many", None)  # an env that elaborates many statements in one go
    return list(many(theorems)) if callable(many) else [env.start(t) for t in theorems]


def replay_states(env: ProofEnv, proofs: Sequence[tuple[Theorem, Sequence[str]]],
                  strict: bool = True) -> list[list[str] | None]:
    """The state text before each step of each proof.  Proofs advance in lockstep: step i of every
    live proof goes to the env in one `apply_batch` (one Lean file for the term env).  A proof that
    does not replay (a step fails, or it closes early or not at all) raises ValueError naming the
    theorem, or with `strict=False` gives None (logged)."""
    states = _starts(env, [t for t, _ in proofs])
    texts: list[list[str] | None] = [[] for _ in proofs]
    live = [i for i, (_, p) in enumerate(proofs) if p]
    for i, (t, p) in enumerate(proofs):
        if not p:
            _bad(texts, i, f"{t.name}: empty proof", strict)
    step = 0
    while live:
        outs = env.apply_batch([(states[i], proofs[i][1][step]) for i in live])
        nxt = []
        for i, out in zip(live, outs, strict=True):
            theorem, proof = proofs[i]
            texts[i].append(states[i].text)  # type: ignore[union-attr]
            last = step == len(proof) - 1
            if isinstance(out, Failed):
                _bad(texts, i, f"{theorem.name}: proof step {step + 1} `{proof[step]}` failed on replay: "
                               f"{out.message}", strict)
            elif isinstance(out, Proved) != last:
                _bad(texts, i, f"{theorem.name}: the proof closes at step {step + 1} of {len(proof)}"
                     if isinstance(out, Proved) else f"{theorem.name}: goals left after the last of "
                                                     f"{len(proof)} steps", strict)
            elif isinstance(out, Open):
                states[i] = out.state
                nxt.append(i)
        live, step = nxt, step + 1
    return texts


def _bad(texts: list[list[str] | None], i: int, msg: str, strict: bool) -> None:
    if strict:
        raise ValueError(msg)
    log.warning("%s; left out", msg)
    texts[i] = None
