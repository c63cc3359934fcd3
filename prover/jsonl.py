"""Append-as-you-go JSONL files: every result is written (and flushed) the moment it is known,
so a killed run loses nothing and a rerun skips what is done."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

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
        yield row


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
