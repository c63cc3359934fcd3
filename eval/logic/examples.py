"""Training rows from the logic benchmark's reference proofs: all proofs are replayed together in
the real Lean (the term-refinement env, one file per proof step across theorems) and the state
before every hole filling becomes one row {"state", "thought", "tactic", "theorem", "source"}.
With `canonical_names`, the generated theorems' proofs (families prop, fo, eq) first get predictable
binder names (`eval.logic.binders.canonical_binders`); hand-written proofs keep theirs."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from core.types import ProofEnv, Theorem
from eval.logic.binders import canonical_binders
from search.replay import replay_states

log = logging.getLogger(__name__)


GENERATED = ("prop", "fo", "eq", "prop_varied", "fo_varied")


def reference_proof(theorem: Theorem, canonical_names: bool = False) -> list[str]:
    """The theorem's reference proof, with canonical binder names when asked (generated theorems only)."""
    proof = list(theorem.extra["reference_proof"])
    if canonical_names and theorem.extra.get("source") in GENERATED:
        return canonical_binders(theorem.formal_statement, proof)
    return proof


def reference_examples(env: ProofEnv, theorems: Sequence[Theorem], canonical_names: bool = False) -> list[dict[str, Any]]:
    """One row per reference-proof step; a proof that does not replay is left out with a warning."""
    with_proof = [t for t in theorems if t.extra.get("reference_proof")]
    for t in theorems:
        if not t.extra.get("reference_proof"):
            log.warning("%s has no reference proof; skipped", t.name)
    proofs = [(t, reference_proof(t, canonical_names)) for t in with_proof]
    rows: list[dict[str, Any]] = []
    for (t, proof), states in zip(proofs, replay_states(env, proofs, strict=False), strict=True):
        if states is not None:
            rows += [{"state": s, "thought": "", "tactic": tac, "theorem": t.name, "source": "reference"}
                     for s, tac in zip(states, proof, strict=True)]
    return rows
