"""What a result was computed from, and the one check that an output still belongs to its run.

Every output this project appends to is tied to what produced it:

* the **run identity**: the settings every row depends on (dataset, env and policy specs with a
  fingerprint of the files they name, strategy and its config, budget, seed, the Lean toolchain's
  identity, ...).  `bind_run` keeps it in an identity file beside the output (`run.json` of an
  eval directory, `X.run.json` beside a results file `X.jsonl`, expert iteration's `config.json`,
  a training run's `run.json`) and refuses a rerun whose identity differs, naming each field
  that changed.  A file whose run never wrote a result binds nothing: a failed start is replaced
  by the corrected command's identity.
* each row's **content**: `digest` of what that row judged (for a search, the theorem's header
  and statement: `theorem_hash`; for a verdict, the input line), stored in the row next to the
  run identity's digest.  A rerun compares them; a row whose input changed is *stale*.

`require_rows` refuses to append to a file that holds rows of another kind (a verifier's
verdicts in a results file, or the other way round); `set_aside` moves stale rows into a
`.stale.jsonl` file beside the output (nothing is deleted) when the caller asks to rerun them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Collection, Iterable, Mapping
from pathlib import Path
from typing import Any

from core.jsonl import append_jsonl, read_jsonl, read_jsonl_numbered, repair_jsonl, write_jsonl_atomic
from core.types import Theorem
from lean_env.verify_cache import file_identity

log = logging.getLogger(__name__)


class RunMismatch(ValueError):
    """An output belongs to a run with other settings."""


class StaleRows(ValueError):
    """An output holds rows whose input changed since they were written."""


def digest(value: Any) -> str:
    """A short sha256 of a JSON value (keys sorted)."""
    blob = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


def theorem_hash(theorem: Theorem) -> str:
    """What a search of `theorem` depends on in the theorem itself: its header and statement."""
    return digest([theorem.header, theorem.formal_statement])


def path_fingerprint(path: str | os.PathLike[str]) -> str:
    """A file's `file_identity`, or for a folder the digest of its files (names and identities,
    hidden ones skipped), or "missing"."""
    p = Path(path)
    if p.is_file():
        return file_identity(p)
    if not p.is_dir():
        return "missing"
    files = sorted(f for f in p.rglob("*") if f.is_file() and not any(part.startswith(".") for part in
                                                                      f.relative_to(p).parts))
    return digest([[str(f.relative_to(p)), file_identity(f)] for f in files])


def sibling(out: str | os.PathLike[str], kind: str, suffix: str = ".jsonl") -> Path:
    """`X.jsonl` -> `X.<kind><suffix>` (`o.jsonl` -> `o.stale.jsonl`, `o.run.json`)."""
    p = Path(out)
    return p.with_name(f"{p.stem if p.suffix == '.jsonl' else p.name}.{kind}{suffix}")


# --------------------------------------------------------------------------- run identity


def _strip(d: Mapping[str, Any], ignore: Collection[str], prefix: str = "") -> dict[str, Any]:
    out = {}
    for k, v in d.items():
        path = f"{prefix}{k}"
        if path in ignore:
            continue
        out[k] = _strip(v, ignore, path + ".") if isinstance(v, Mapping) else v
    return out


def differences(old: Mapping[str, Any], new: Mapping[str, Any], ignore: Collection[str] = ()) -> list[str]:
    """`field: was X, now Y` for each top-level field of `new` (minus `ignore`, dotted paths) that differs."""
    a, b = _strip(old, ignore), _strip(new, ignore)
    return [f"{k}: was {a.get(k)!r}, now {b[k]!r}" for k in b if a.get(k) != b[k]]


def bind_run(path: str | os.PathLike[str], record: Mapping[str, Any], *, ignore: Collection[str] = (),
             bound: bool = True, what: str = "run", hint: str = "use another output", write: bool = True) -> None:
    """Tie the output beside `path` to `record` (written there, atomically).

    If `path` holds another record whose fields (all but the dotted paths in `ignore`) differ, and
    the output already holds results (`bound`), RunMismatch names every difference; unbound, the
    old record is replaced.  A matching record is rewritten with the new values of `ignore`d fields.
    `write=False` only checks (a caller with more checks to make writes once they all passed).
    """
    p = Path(path)
    if p.is_file():
        try:
            old = json.loads(p.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise ValueError(f"{p}: not valid JSON ({e.msg}); it records what this {what} was") from None
        diff = differences(old if isinstance(old, dict) else {}, record, ignore)
        if diff and bound:
            raise RunMismatch(f"{p.parent} holds a different {what} ({'; '.join(diff)}); {hint}")
        if diff:
            log.info("%s: replacing the record of a %s that never wrote a result (%s)", p, what, "; ".join(diff))
    if not write:
        return
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp")
    tmp.write_text(json.dumps(dict(record), indent=1, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, p)


# --------------------------------------------------------------------------- rows


def require_rows(path: str | os.PathLike[str], fields: Iterable[str], what: str) -> list[dict[str, Any]]:
    """The rows of an output about to be appended to (a torn last line dropped first), after checking
    that every one is one of ours: a dict with all of `fields`.  ValueError naming the file and line
    otherwise, before anything is written."""
    p = Path(path)
    if p.is_dir():
        raise ValueError(f"{p} is a directory; expected a JSONL file of {what}")
    if not p.exists():
        return []
    fields = tuple(fields)
    rows = []
    for line, row in read_jsonl_numbered(p):
        missing = [f for f in fields if f not in row]
        if missing:
            raise ValueError(f"{p}:{line}: holds rows that are not {what} (no {', '.join(map(repr, missing))}); "
                             "refusing to append to it: give another output file")
        rows.append(row)
    repair_jsonl(p)
    return rows


def set_aside(path: str | os.PathLike[str], stale: Callable[[dict[str, Any]], bool],
              to: str | os.PathLike[str]) -> int:
    """Move the rows of `path` for which `stale(row)` holds to the end of `to`; the rest stay, in order.

    The moved rows are appended (and flushed) to `to` before `path` is rewritten atomically, so a
    run killed in between only leaves them in both files.  Returns how many moved.
    """
    p = Path(path)
    if not p.exists():
        return 0
    rows = list(read_jsonl(p))
    moved = [r for r in rows if stale(r)]
    if not moved:
        return 0
    for r in moved:
        append_jsonl(to, r)
    write_jsonl_atomic(p, [r for r in rows if not stale(r)])
    log.info("%s: moved %d stale row(s) to %s", p, len(moved), to)
    return len(moved)
