"""Environments and policies from short specs, for the CLI, evaluation and expert iteration.

    make_env("scripted:WORLD.json")   in-process scripted world (doubles.scripted.ScriptedEnv)
    make_env("double:WORLD.json")     the REPL client against the scripted REPL double process
    make_env("double:WORLD.json,workers=2,tactic_ms=50")   ... a pool of 2, each tactic taking 50 ms
    make_env("repl")                  the Lean REPL in a workspace (`lake env repl`)
    make_env("repl:workers=4")        ... over a pool of 4 REPL processes (also `workers=4` as an argument)
    make_env("lean-term")             term refinement by whole-file elaboration (real Lean, any machine)
    make_env("dojo[:timeout=600,max_sessions=1]")   LeanDojo (`pip install '.[dojo]'`)

    make_policy("scripted:WORLD.json", seed=, temperature=, sample=)
    make_policy("model:PATH_OR_HUB_ID", fmt=, device=, generation={...}, temperature=, seed=)
    make_policy("vllm:PATH_OR_HUB_ID", fmt=, generation={...}, temperature=, seed=)   (`pip install '.[vllm]'`, a GPU)
    make_policy("model:PATH_OR_HUB_ID", prompt="internlm2.5-step-prover")   a published prompt format
        (thoughts.prompts; its decoding settings under generation=, prover.prompted.PromptedPolicy);
        a checkpoint folder trained in a named format (prover_prompt.json) speaks it without prompt=
    make_policy("vocab", vocabulary=[...])

Options after a kind (`repl:workers=4`) are `KEY=VALUE` pairs; an unknown one is a ValueError naming
it.  Heavy modules (transformers, vllm, the Lean clients) are imported only when their spec is asked
for; `check_env_spec` checks a spec without building anything (configs call it before any work).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from core.config import parse_assignments
from core.types import Policy, ProofEnv

ENV_SPECS = ("scripted:WORLD.json", "double:WORLD.json", "repl[:workers=N]", "lean-term", "dojo")
POLICY_SPECS = ("scripted:WORLD.json", "model:PATH_OR_HUB_ID", "vllm:PATH_OR_HUB_ID", "vocab")
_POLICY_KW = {"seed", "temperature", "sample", "fmt", "device", "generation", "vocabulary", "prompt",
              "trust_remote_code"}
_OWN_FORMATS = ("tactic", "thought", "proof")  # the project's [GOALS] formats, spoken by ModelPolicy itself
# the options each env kind takes in its spec, with their types
_ENV_OPTIONS: dict[str, dict[str, type]] = {
    "repl": {"workers": int},
    "lean-term": {"workers": int},
    "double": {"workers": int, "tactic_ms": int},
    "dojo": {"timeout": int, "max_sessions": int},
}
_WORLD_KINDS = ("scripted", "double")


def _world_path(spec: str, what: str) -> Path:
    arg = spec.partition(":")[2].partition(",")[0] if spec.startswith("double:") else spec.partition(":")[2]
    if not arg:
        raise ValueError(f"{what} spec {spec!r}: give the world file, e.g. scripted:tests/data/worlds/x.json")
    path = Path(arg).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"{what} spec {spec!r}: scripted world not found: {path}")
    return path


def parse_env_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """(kind, options) of an env spec: `repl:workers=4` -> ("repl", {"workers": 4}); a world spec
    keeps its file (`double:W.json,workers=2` -> ("double", {"workers": 2})).  ValueError naming
    an unknown kind, an unknown option or a value of the wrong type."""
    if not isinstance(spec, str) or not spec:
        raise ValueError(f"env spec {spec!r}: use one of {', '.join(ENV_SPECS)}")
    kind, _, rest = spec.partition(":")
    if kind == "scripted":
        return kind, {}
    if kind == "double":
        rest = rest.partition(",")[2]
    if kind not in _ENV_OPTIONS:
        raise ValueError(f"unknown env spec {spec!r}; use one of {', '.join(ENV_SPECS)}")
    opts = parse_assignments(rest, f"env spec {spec!r}")
    known = _ENV_OPTIONS[kind]
    for key, value in opts.items():
        if key not in known:
            raise ValueError(f"env spec {spec!r}: unknown option {key!r}; {kind} takes "
                             f"{', '.join(known) or 'no options'}")
        typ = known[key]
        if isinstance(value, bool) or not isinstance(value, typ) or value < 1:
            raise ValueError(f"env spec {spec!r}: {key}={value!r} must be a positive integer")
    return kind, opts


def check_env_spec(spec: str, where: str = "env") -> None:
    """Check an env spec (its kind, options and world file) without starting anything."""
    try:
        kind, _ = parse_env_spec(spec)
        if kind in _WORLD_KINDS:
            _world_path(spec, "env")
    except (ValueError, FileNotFoundError) as e:
        raise ValueError(f"{where}: {e}") from None


def make_env(spec: str, *, lean: str | None = None, project: str | None = None, timeout: float = 60.0,
             memory_mb: int = 4096, workers: int = 1, dojo_factory: Any = None) -> ProofEnv:
    """The env a spec names.  `workers` is the number of Lean processes (a REPL pool for `repl` and
    `double`, parallel files for `lean-term`); a `workers=` option in the spec wins over it.
    `dojo_factory` replaces LeanDojo's `Dojo` (tests use a stand-in)."""
    kind, opts = parse_env_spec(spec)
    workers = opts.get("workers", workers)
    if kind == "scripted":
        from doubles.scripted import ScriptedEnv, ScriptedWorld

        return ScriptedEnv(ScriptedWorld.load(_world_path(spec, "env")))
    if kind == "double":
        from lean_env.repl_env import ReplEnv

        cmd = [sys.executable, "-m", "doubles.repl_double", "--world", str(_world_path(spec, "env"))]
        if "tactic_ms" in opts:  # the double sleeps this long per tactic, like Lean elaborating one
            cmd += ["--tactic-cost-ms", str(opts["tactic_ms"])]
        return ReplEnv(cmd, timeout=timeout, memory_mb=memory_mb, workers=workers)
    if kind == "repl":
        from lean_env.repl_env import ReplEnv
        from lean_env.toolchain import find_toolchain

        return ReplEnv.for_toolchain(find_toolchain(lean=lean, project=project), timeout=timeout,
                                     memory_mb=memory_mb, workers=workers)
    if kind == "lean-term":
        from lean_env.term_env import LeanTermEnv
        from lean_env.toolchain import find_toolchain

        return LeanTermEnv(find_toolchain(lean=lean, project=project), timeout=timeout, memory_mb=memory_mb,
                           workers=workers)
    assert kind == "dojo"
    from lean_env.dojo import DojoEnv, require_lean_dojo

    if dojo_factory is None:
        require_lean_dojo()
    return DojoEnv(dojo_factory, timeout=opts.get("timeout", 600), max_sessions=opts.get("max_sessions", 1))


def _generation_config(spec: str, kw: dict[str, Any]) -> Any:
    from prover.policy import GenerationConfig

    gen = kw.get("generation") or {}
    if isinstance(gen, GenerationConfig):
        return gen
    gen = dict(gen)
    for key in ("temperature", "seed"):
        if kw.get(key) is not None:
            gen[key] = kw[key]
    return GenerationConfig.from_dict(gen, where=f"policy {spec!r}")


def make_policy(spec: str, **kw: Any) -> Policy:
    """A policy from `spec`; keyword arguments that do not apply to the chosen kind are ignored,
    unknown ones raise ValueError."""
    unknown = sorted(set(kw) - _POLICY_KW)
    if unknown:
        raise ValueError(f"make_policy: unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(_POLICY_KW))}")
    kind, _, arg = spec.partition(":")
    if kind == "scripted":
        from doubles.scripted_policy import ScriptedPolicy

        return ScriptedPolicy.from_file(_world_path(spec, "policy"), seed=kw.get("seed", 0),
                                        temperature=kw.get("temperature", 1.0), sample=kw.get("sample", False))
    if kind in ("model", "vllm"):
        if not arg:
            raise ValueError(f"policy spec {spec!r}: give a checkpoint folder or hub id, e.g. {kind}:runs/sft/final")
        prompt, fmt = kw.get("prompt"), kw.get("fmt")
        if prompt is None and fmt is None:
            from prover.prompted import default_prompt

            prompt = default_prompt(arg)  # a folder trained in a named format, or a published checkpoint
        if prompt is not None and fmt is not None and prompt != fmt:
            raise ValueError(f"policy {spec!r}: give a prompt format or an output format, not both "
                             f"(prompt={prompt!r}, fmt={fmt!r})")
        if prompt in _OWN_FORMATS:
            kw = {**kw, "fmt": prompt}
        elif prompt is not None:
            from prover.prompted import make_prompted_policy

            gen_kw = kw.get("generation") or {}
            if not isinstance(gen_kw, dict):
                raise ValueError(f"policy {spec!r}: with a prompt format, generation must be a dict of settings")
            gen_kw = {**gen_kw, **{k: kw[k] for k in ("temperature", "seed") if kw.get(k) is not None}}
            return make_prompted_policy(kind, arg, prompt, generation=gen_kw, device=kw.get("device") or "auto",
                                        trust_remote_code=bool(kw.get("trust_remote_code")))
        gen = _generation_config(spec, kw)
        if kind == "vllm":
            from prover.vllm_policy import VLLMPolicy

            return VLLMPolicy(arg, fmt=kw.get("fmt") or "thought", config=gen,
                              **({"trust_remote_code": True} if kw.get("trust_remote_code") else {}))
        from prover.policy import ModelPolicy

        return ModelPolicy.load(arg, fmt=kw.get("fmt"), config=gen, device=kw.get("device", "auto"))
    if spec == "vocab":
        from eval.logic.vocab_policy import VocabularyPolicy

        return VocabularyPolicy(kw.get("vocabulary"))
    raise ValueError(f"unknown policy spec {spec!r}; use one of {', '.join(POLICY_SPECS)}")


# --------------------------------------------------------------------------- evaluators
#   make_evaluator("none")                 no evaluator (None)
#   make_evaluator("oracle:WORLD.json")    a scripted world's oracle (doubles.oracle.OracleEvaluator)
#   make_evaluator("evaluator:DIR")        a trained value model (prover.value_model.ModelEvaluator)

EVALUATOR_SPECS = ("none", "oracle:WORLD.json", "evaluator:DIR")


def check_evaluator_spec(spec: str | None, where: str = "evaluator") -> None:
    """Check an evaluator spec (kind, file or folder) without loading anything."""
    if spec is None or spec == "none":
        return
    kind, _, arg = spec.partition(":") if isinstance(spec, str) else ("", "", "")
    if kind not in ("oracle", "evaluator"):
        raise ValueError(f"{where}: unknown evaluator spec {spec!r}; use one of {', '.join(EVALUATOR_SPECS)}")
    if not arg:
        raise ValueError(f"{where}: evaluator spec {spec!r}: give the "
                         + ("world file" if kind == "oracle" else "evaluator folder"))
    path = Path(arg).expanduser()
    if kind == "oracle" and not path.is_file():
        raise FileNotFoundError(f"{where}: evaluator spec {spec!r}: scripted world not found: {path}")
    if kind == "evaluator" and not path.is_dir():
        raise FileNotFoundError(f"{where}: evaluator spec {spec!r}: evaluator folder not found: {path}")


def make_evaluator(spec: str | None, *, device: str = "auto", batch_size: int = 32) -> Any:
    """The evaluator a spec names (an `core.types.Evaluator`), or None for "none"/None.  `device` and
    `batch_size` (states per forward pass) apply to `evaluator:DIR`."""
    check_evaluator_spec(spec)
    if spec is None or spec == "none":
        return None
    kind, _, arg = spec.partition(":")
    if kind == "oracle":
        from doubles.oracle import OracleEvaluator
        from doubles.scripted import ScriptedWorld

        return OracleEvaluator(ScriptedWorld.load(Path(arg).expanduser()))
    from prover.value_model import ModelEvaluator

    return ModelEvaluator.load(Path(arg).expanduser(), device=device, batch_size=batch_size)
