"""Retrospective rationales (Lean-STaR): given a proof state and the step that was taken in a
known proof, write the thought that leads to that step, to train the thought-then-tactic format.

Teachers (all implement `thoughts.teacher.Teacher`), one module each:

* `RuleTeacher`   (thoughts/rule_teacher.py) explains a step of the logic benchmark from the goal's
                  shape (no model needed; propositions are read by thoughts/props.py).
* `HFTeacher`     (thoughts/hf_teacher.py) any local transformers causal LM (path or hub id).
* `OpenAITeacher` (thoughts/openai_teacher.py) an OpenAI-compatible `/v1/chat/completions` endpoint.

This module is the entry point: `make_teacher(spec)` builds one, `check_teacher_spec(spec)` checks a
spec without building it, and `add_rationales(examples, out, teacher)` turns a training file into
one with thoughts, appending as it goes so an interrupted run resumes.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from tqdm import tqdm

from core.jsonl import append_jsonl, done_keys, read_jsonl
from thoughts.hf_teacher import HFTeacher
from thoughts.openai_teacher import OpenAITeacher
from thoughts.props import Expr, Goal, parse_goal, parse_prop
from thoughts.rule_teacher import RuleTeacher
from thoughts.teacher import MAX_THOUGHT_CHARS, Teacher, TeacherError, clean_thought, rationale_prompt

__all__ = ["MAX_THOUGHT_CHARS", "Expr", "Goal", "HFTeacher", "OpenAITeacher", "RuleTeacher", "Teacher",
           "TeacherError", "add_rationales", "check_teacher_spec", "clean_thought", "make_teacher", "parse_goal",
           "parse_prop", "rationale_prompt"]

log = logging.getLogger(__name__)

TEACHER_SPECS = ("rule", "hf:PATH_OR_HUB_ID", "openai:MODEL")


def check_teacher_spec(spec: str, where: str = "teacher") -> None:
    """ValueError naming `spec` unless it is one of TEACHER_SPECS (nothing is loaded or contacted)."""
    kind, sep, arg = spec.partition(":") if isinstance(spec, str) else ("", "", "")
    if spec == "rule" or (sep and kind in ("hf", "openai") and arg.strip()):
        return
    raise ValueError(f"{where}: unknown teacher {spec!r}; expected rule, hf:PATH or openai:MODEL")


def make_teacher(spec: str, **kw: Any) -> Teacher:
    """"rule" | "hf:PATH_OR_HUB_ID" | "openai:MODEL" (with base_url=...)."""
    check_teacher_spec(spec)
    if spec == "rule":
        return RuleTeacher()
    if spec.startswith("hf:"):
        return HFTeacher(spec[3:], **{k: v for k, v in kw.items() if k in ("max_new_tokens", "batch_size", "device")})
    if not kw.get("base_url"):
        raise ValueError("teacher openai:MODEL needs a base URL (--base-url http://HOST/v1)")
    keys = ("api_key", "api_key_env", "timeout", "retries", "max_tokens", "temperature", "concurrency")
    return OpenAITeacher(kw["base_url"], spec[7:], **{k: v for k, v in kw.items() if k in keys and v is not None})


def _key(row: dict[str, Any]) -> tuple[Any, ...]:
    return (row.get("theorem"), row.get("state"), row.get("tactic"))


def add_rationales(examples_path: str | Path, out_path: str | Path, teacher: Teacher, *,
                   batch_size: int = 16, overwrite: bool = False, progress: bool = True) -> int:
    """Write `out_path`: the rows of `examples_path` with a teacher's thought in "thought".

    Appends as it goes; rows already in `out_path` (same theorem, state, tactic) are skipped, so
    a rerun resumes.  Rows for which the teacher wrote nothing are left out (logged).  Existing
    thoughts are kept unless `overwrite`.  Returns the number of rows written by this call."""
    src = Path(examples_path)
    if not src.is_file():
        raise FileNotFoundError(f"examples file not found: {src}")
    rows = []
    for i, row in enumerate(read_jsonl(src), 1):
        if not isinstance(row.get("state"), str) or not isinstance(row.get("tactic"), str) or not row["tactic"].strip():
            raise ValueError(f"{src}: row {i} needs string fields 'state' and 'tactic'")
        rows.append(row)
    done = done_keys(out_path, "theorem", "state", "tactic")
    todo = [r for r in rows if _key(r) not in done]
    written = empty = 0
    bar = tqdm(total=len(todo), desc=f"rationales ({teacher.name})", disable=not progress, unit="step")
    for i in range(0, len(todo), batch_size):
        chunk = todo[i:i + batch_size]
        need = [r for r in chunk if overwrite or not (r.get("thought") or "").strip()]
        thoughts = teacher.explain_batch([(r["state"], r["tactic"]) for r in need])
        by_id = {id(r): t for r, t in zip(need, thoughts, strict=True)}
        for r in chunk:
            thought = by_id.get(id(r), r.get("thought") or "")
            if not thought.strip():
                empty += 1
                log.info("no rationale for %s / %r; row left out", r.get("theorem"), r["tactic"])
                continue
            src_tag = r.get("source") or ""
            append_jsonl(out_path, {**r, "thought": thought, "source": src_tag,
                                    "rationale_by": teacher.name if id(r) in by_id else r.get("rationale_by", "")})
            written += 1
        bar.update(len(chunk))
    bar.close()
    if empty:
        log.warning("%d row(s) got no rationale from %s and were left out", empty, teacher.name)
    return written
