"""JSON and JSONL files: append-as-you-go results (every row written and flushed the moment it is
known, so a killed run loses nothing and a rerun skips what is done), whole files written
atomically, and readers whose errors name the file and line."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.types import Theorem

log = logging.getLogger(__name__)


def append_jsonl(path: str | Path, row: dict[str, Any]) -> None:
    """Append one row and flush it to disk."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(row, ensure_ascii=False) + "\n"
    with p.open("a", encoding="utf-8") as fh:
        fh.write(line)
        fh.flush()
        os.fsync(fh.fileno())


def read_jsonl(path: str | Path) -> Iterator[dict[str, Any]]:
    """Rows of a results file.  A torn last line (a run killed mid-write) is skipped with a warning;
    a bad line anywhere else raises ValueError naming the file and line."""
    for _, row in read_jsonl_numbered(path):
        yield row


def read_jsonl_numbered(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """`read_jsonl` with each row's line number, for checks whose errors name the line."""
    p = Path(path)
    if not p.exists():
        return
    lines = p.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            if i == len(lines):
                log.warning("%s:%d: skipping a torn last line (interrupted write)", p, i)
                return
            raise ValueError(f"{p}:{i}: not valid JSON ({e.msg})") from None
        if not isinstance(row, dict):
            raise ValueError(f"{p}:{i}: expected a JSON object")
        yield i, row


def repair_jsonl(path: str | Path) -> None:
    """Drop a torn last line so that appends start on a fresh line."""
    p = Path(path)
    if not p.exists():
        return
    data = p.read_bytes()
    if data and not data.endswith(b"\n"):
        cut = data.rfind(b"\n") + 1
        p.write_bytes(data[:cut])
        log.warning("%s: dropped a torn last line", p)


def done_keys(path: str | Path, *fields: str) -> set[tuple[Any, ...]]:
    """The keys (tuples of `fields`) of rows already in a results file: what a rerun skips."""
    repair_jsonl(path)
    return {tuple(row.get(f) for f in fields) for row in read_jsonl(path)}


def write_jsonl_atomic(path: str | Path, rows: Iterable[dict[str, Any]]) -> None:
    """Write a whole JSONL file at once: to a temporary file, flushed, then renamed over `path`,
    so a reader never sees half of it."""
    p = Path(path)
    tmp = p.with_name(p.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, p)


def read_json(path: str | Path, what: str) -> Any:
    """The JSON value in the file `path`; a missing file raises FileNotFoundError naming `what`
    ("scripted world", "train config", ...), bad JSON a ValueError naming the file and line."""
    p = Path(path)
    if p.is_dir():
        raise ValueError(f"{what} {p} is a directory, expected a JSON file")
    if not p.is_file():
        raise FileNotFoundError(f"{what} not found: {p}")
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ValueError(f"{p}: not valid JSON ({e.msg} at line {e.lineno})") from None


def load_theorems(path: str | Path) -> list[Theorem]:
    """Read a JSONL file of theorems; a bad row raises ValueError naming file and line."""
    from core.types import Theorem

    p = Path(path)
    if p.is_dir():
        raise ValueError(f"theorem file {p} is a directory, expected a JSONL file")
    if not p.is_file():
        raise FileNotFoundError(f"theorem file not found: {p}")
    out: list[Theorem] = []
    with p.open(encoding="utf-8") as fh:
        for i, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{p}:{i}: not valid JSON ({e.msg})") from None
            out.append(Theorem.from_dict(row, where=f"{p}:{i}"))
    return out
