"""Environments and policies from short specs, for the CLI, evaluation and expert iteration.

    make_env("scripted:WORLD.json")   in-process scripted world (lean_env.scripted.ScriptedEnv)
    make_env("double:WORLD.json")     the REPL client against the scripted REPL double process
    make_env("repl")                  the Lean REPL in a workspace (`lake env repl`)
    make_env("lean-term")             term refinement by whole-file elaboration (real Lean, any machine)

    make_policy("scripted:WORLD.json", seed=, temperature=, sample=)
    make_policy("model:PATH_OR_HUB_ID", fmt=, device=, generation={...}, temperature=, seed=)
    make_policy("vocab", vocabulary=[...])

Heavy modules (transformers, the Lean clients) are imported only when their spec is asked for.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from core.types import Policy, ProofEnv

ENV_SPECS = ("scripted:WORLD.json", "double:WORLD.json", "repl", "lean-term")
POLICY_SPECS = ("scripted:WORLD.json", "model:PATH_OR_HUB_ID", "vocab")
_POLICY_KW = {"seed", "temperature", "sample", "fmt", "device", "generation", "vocabulary"}


def _world_path(spec: str, what: str) -> Path:
    path = Path(spec.partition(":")[2]).expanduser()
    if not spec.partition(":")[2]:
        raise ValueError(f"{what} spec {spec!r}: give the world file, e.g. scripted:tests/data/worlds/x.json")
    if not path.is_file():
        raise FileNotFoundError(f"{what} spec {spec!r}: scripted world not found: {path}")
    return path


def make_env(spec: str, *, lean: str | None = None, project: str | None = None, timeout: float = 60.0,
             memory_mb: int = 4096, workers: int = 1) -> ProofEnv:
    kind = spec.partition(":")[0]
    if kind == "scripted":
        from lean_env.scripted import ScriptedEnv, ScriptedWorld

        return ScriptedEnv(ScriptedWorld.load(_world_path(spec, "env")))
    if kind == "double":
        from lean_env.repl_env import ReplEnv

        cmd = [sys.executable, "-m", "lean_env.double", "--world", str(_world_path(spec, "env"))]
        return ReplEnv(cmd, timeout=timeout, memory_mb=memory_mb)
    if spec == "repl":
        from lean_env.repl_env import ReplEnv
        from lean_env.toolchain import find_toolchain

        return ReplEnv.for_toolchain(find_toolchain(lean=lean, project=project), timeout=timeout,
                                     memory_mb=memory_mb)
    if spec == "lean-term":
        from lean_env.term_env import LeanTermEnv
        from lean_env.toolchain import find_toolchain

        return LeanTermEnv(find_toolchain(lean=lean, project=project), timeout=timeout, memory_mb=memory_mb,
                           workers=workers)
    raise ValueError(f"unknown env spec {spec!r}; use one of {', '.join(ENV_SPECS)}")


def make_policy(spec: str, **kw: Any) -> Policy:
    """A policy from `spec`; keyword arguments that do not apply to the chosen kind are ignored,
    unknown ones raise ValueError."""
    unknown = sorted(set(kw) - _POLICY_KW)
    if unknown:
        raise ValueError(f"make_policy: unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(_POLICY_KW))}")
    kind, _, arg = spec.partition(":")
    if kind == "scripted":
        from prover.scripted_policy import ScriptedPolicy

        return ScriptedPolicy.from_file(_world_path(spec, "policy"), seed=kw.get("seed", 0),
                                        temperature=kw.get("temperature", 1.0), sample=kw.get("sample", False))
    if kind == "model":
        if not arg:
            raise ValueError(f"policy spec {spec!r}: give a checkpoint folder or hub id, e.g. model:runs/sft/final")
        from prover.policy import GenerationConfig, ModelPolicy

        gen = kw.get("generation") or {}
        if not isinstance(gen, GenerationConfig):
            gen = dict(gen)
            for key in ("temperature", "seed"):
                if kw.get(key) is not None:
                    gen[key] = kw[key]
            gen = GenerationConfig.from_dict(gen, where=f"policy {spec!r}")
        return ModelPolicy.load(arg, fmt=kw.get("fmt"), config=gen, device=kw.get("device", "auto"))
    if spec == "vocab":
        from prover.vocab_policy import VocabularyPolicy

        return VocabularyPolicy(kw.get("vocabulary"))
    raise ValueError(f"unknown policy spec {spec!r}; use one of {', '.join(POLICY_SPECS)}")
