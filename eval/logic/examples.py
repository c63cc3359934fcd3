"""Training rows from the logic benchmark's reference proofs: each proof is replayed in the real
Lean (the term-refinement env) and the state before every hole filling becomes one row
{"state", "thought", "tactic", "theorem", "source"} (ARCHITECTURE.md's training format)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from lean_env.types import ProofEnv, Theorem

log = logging.getLogger(__name__)


def reference_examples(env: ProofEnv, theorems: Sequence[Theorem], progress: bool = True) -> list[dict[str, Any]]:
    """One row per reference-proof step; a proof that does not replay is left out with a warning."""
    from tqdm import tqdm

    from prover.distributed import proof_states

    rows: list[dict[str, Any]] = []
    for t in tqdm(theorems, desc="replay reference proofs", unit="thm", disable=not progress):
        proof = list(t.extra.get("reference_proof") or [])
        if not proof:
            log.warning("%s has no reference proof; skipped", t.name)
            continue
        try:
            states = proof_states(env, t, proof)
        except ValueError as e:
            log.warning("%s", e)
            continue
        rows += [{"state": s, "thought": "", "tactic": tac, "theorem": t.name, "source": "reference"}
                 for s, tac in zip(states, proof, strict=True)]
    return rows
